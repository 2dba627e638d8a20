import type { FastifyRequest } from 'fastify';

/**
 * Whether a request comes from a mim running on this node (its sandbox calling back over loopback).
 * Such callers may mint edge HMAC codes without a key (management.md §5).
 *
 * Always false for now: a loopback address alone proves nothing (any local process has one), so
 * this waits for the sandbox to mark its calls with a per-node secret header.
 */
export function isFromLocalMim(_request: FastifyRequest): boolean {
  return false;
}
