import type { FastifyRequest } from 'fastify';
import { ORIGIN_HEADER, type MimOrigin } from '../auth/mim-origin.js';

function isLoopbackPeer(address: string | undefined): boolean {
  if (address === undefined) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/**
 * The id of the mim running on this node that made this request (its sandbox calling back over
 * loopback), or undefined. Such callers may mint edge HMAC codes without a key (management.md §5).
 * A loopback address alone proves nothing (any local process has one): the request must carry the
 * node's mark (src/auth/mim-origin.ts), which only the sandbox adds and no mim can read.
 */
export function localMimOf(request: FastifyRequest, origin: MimOrigin): string | undefined {
  if (!isLoopbackPeer(request.socket.remoteAddress)) return undefined;
  return origin.verify(request.headers[ORIGIN_HEADER]);
}
