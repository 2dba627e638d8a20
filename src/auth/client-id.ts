import { MimoeError } from '../errors/index.js';

export const DEFAULT_CLIENT_ID = 'api';

/**
 * First path segments the node serves itself: a client id may not take them, since a client's
 * mims are mounted at `/{clientId}{basePath}`.
 */
const RESERVED = new Set(['mcm', 'jsonrpc', 'healthz', 'metrics', 'ws']);

const CLIENT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Resolves the client id of an API-key request from its `x-client-id` header. */
export function clientIdFromHeader(header: string | string[] | undefined): string {
  if (header === undefined) return DEFAULT_CLIENT_ID;
  if (Array.isArray(header)) throw new MimoeError('ERR_CLIENT_ID_INVALID', 'x-client-id must be sent once');
  return validateClientId(header);
}

export function validateClientId(value: string): string {
  if (!CLIENT_ID.test(value) || value.includes('..')) {
    throw new MimoeError(
      'ERR_CLIENT_ID_INVALID',
      'client id must be 1-128 characters of letters, digits, ".", "_" or "-", starting with a letter or digit',
    );
  }
  if (RESERVED.has(value.toLowerCase())) {
    throw new MimoeError('ERR_CLIENT_ID_INVALID', `client id "${value}" is reserved by the node`);
  }
  return value;
}
