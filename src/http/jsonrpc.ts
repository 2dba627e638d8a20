import type { FastifyInstance } from 'fastify';
import { bearerToken } from '../auth/api-key.js';
import { RPC_ERRORS } from '../jsonrpc/index.js';
import type { AppDeps } from './deps.js';
import { localMimOf } from './mim-origin.js';
import { looksLikeJwt } from '../auth/jwt.js';

/** Largest JSON-RPC request body: the methods take a token and a few short strings. */
export const MAX_JSONRPC_BODY_BYTES = 64 * 1024;

/**
 * `POST /jsonrpc/v1` (management.md §5). Every JSON-RPC outcome, errors included, is HTTP 200 with
 * the JSON-RPC answer: access is decided per call (getMe needs no key, a batch may mix calls), so a
 * wrong key is the call's error object (-32001), not the request's status. A body of
 * notifications only gets 204. Bodies past 64 KiB are refused by HTTP (413).
 */
async function jwtClientOf(deps: AppDeps, bearer: string): Promise<{ jwtClient?: string }> {
  if (deps.jwt === undefined || !looksLikeJwt(bearer)) return {};
  try {
    return { jwtClient: (await deps.jwt.verify(bearer)).clientId };
  } catch {
    return {};
  }
}

export async function jsonRpcRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  // The body is read as text whatever its content type: a JSON syntax error must become -32700,
  // not the framework's 400, and JSON-RPC clients are not consistent about content types.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    '*',
    { parseAs: 'string', bodyLimit: MAX_JSONRPC_BODY_BYTES },
    (_req, body, done) => {
      done(null, body);
    },
  );

  app.post('/jsonrpc/v1', async (request, reply) => {
    const bearer = bearerToken(request.headers.authorization);
    const mimId = localMimOf(request, deps.mimOrigin);
    const answer = await deps.jsonrpc.handle(typeof request.body === 'string' ? request.body : '', {
      bearer,
      fromLocalMim: mimId !== undefined,
      ...(mimId === undefined ? {} : { localMimClient: deps.mims.byId(mimId)?.clientId ?? '' }),
      // management.md §5: an MCM bearer may stand in for the account key; a JWT with edge:mcm is
      // one, scoped to its client_id.
      ...(bearer === undefined ? {} : await jwtClientOf(deps, bearer)),
    });
    const refused = (Array.isArray(answer) ? answer : answer === undefined ? [] : [answer]).filter(
      (a) => 'error' in a && a.error.code === RPC_ERRORS.UNAUTHORIZED,
    ).length;
    // Wrong-key attempts are worth an operator's eye; the key presented is never logged.
    if (refused > 0) request.log.info({ refused }, 'JSON-RPC calls refused: missing or wrong key');
    if (answer === undefined) return reply.code(204).send();
    return reply.code(200).type('application/json; charset=utf-8').send(JSON.stringify(answer));
  });
}
