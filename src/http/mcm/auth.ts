import type { FastifyInstance, FastifyRequest } from 'fastify';
import { bearerToken, secretsEqual } from '../../auth/api-key.js';
import { clientIdFromHeader } from '../../auth/client-id.js';
import { looksLikeJwt, type JwtVerifier } from '../../auth/jwt.js';
import { MimoeError } from '../../errors/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The client id every MCM operation is scoped to (set by the auth hook). */
    clientId: string;
  }
}

/**
 * Authentication for the MCM scope (management.md §2): first the MCM API key (constant-time);
 * failing that, a JWT verified by the node's configured keys, whose `client_id` claim is the client
 * id (`x-client-id` is then ignored). Anything else is 403. Refusals are logged at info by the error
 * handler with their reason; the token itself never reaches a log line.
 */
export function registerMcmAuth(app: FastifyInstance, mcmApiKey: string, jwt?: JwtVerifier): void {
  const required =
    jwt === undefined
      ? 'a valid MCM API key (Authorization: Bearer <MCM_API_KEY>) is required'
      : 'a valid MCM API key or JWT with scope edge:mcm (Authorization: Bearer <token>) is required';
  app.decorateRequest('clientId', '');
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const token = bearerToken(request.headers.authorization);
    if (token === undefined) throw new MimoeError('ERR_UNAUTHORIZED', required);
    if (secretsEqual(token, mcmApiKey)) {
      request.clientId = clientIdFromHeader(request.headers['x-client-id']);
      return;
    }
    // Only a bearer shaped like a JWT is worth verifying; a mistyped API key gets the plain answer.
    if (jwt === undefined || !looksLikeJwt(token)) throw new MimoeError('ERR_UNAUTHORIZED', required);
    const identity = await jwt.verify(token);
    request.clientId = identity.clientId;
  });
}
