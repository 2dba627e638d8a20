/**
 * The `req` object (runtime.md §4). Plain and extensible: routers rewrite `url`, `params`,
 * `baseUrl`, `originalUrl` and `_parsedUrl`; helpers add `req.context`.
 */
import type { GuestRequestPayload } from '../abi.js';
import { notAvailable } from './capabilities/unavailable.js';

export interface GuestRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  authorization: string | undefined;
  body: string;
  handleFormRequest: (options?: unknown) => void;
  [member: string]: unknown;
}

export function createRequest(payload: GuestRequestPayload): GuestRequest {
  return {
    url: payload.url,
    method: payload.method,
    headers: payload.headers,
    authorization: payload.headers['authorization'],
    body: payload.body,
    // Works detached from req (the contract asks for it): it uses nothing of `this`.
    handleFormRequest(): void {
      throw notAvailable('req.handleFormRequest');
    },
  };
}
