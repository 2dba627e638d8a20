import type { FastifyInstance, FastifyRequest } from 'fastify';
import { bearerToken, secretsEqual } from '../../auth/api-key.js';
import { clientIdFromHeader } from '../../auth/client-id.js';
import { MimoeError } from '../../errors/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The client id every MCM operation is scoped to (set by the auth hook). */
    clientId: string;
  }
}

/**
 * API-key authentication for the MCM scope (management.md §2): the bearer must equal
 * MCM_API_KEY (constant-time). JWT verification comes next; until then anything else is 403.
 */
export function registerMcmAuth(app: FastifyInstance, mcmApiKey: string): void {
  app.decorateRequest('clientId', '');
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const token = bearerToken(request.headers.authorization);
    if (token === undefined || !secretsEqual(token, mcmApiKey)) {
      throw new MimoeError(
        'ERR_UNAUTHORIZED',
        'a valid MCM API key (Authorization: Bearer <MCM_API_KEY>) is required',
      );
    }
    request.clientId = clientIdFromHeader(request.headers['x-client-id']);
  });
}
