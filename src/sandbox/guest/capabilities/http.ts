/** `context.http` (runtime.md §3): outbound HTTP is not wired to the sandbox yet. */
import { notAvailable } from './unavailable.js';

export function createHttp(): Record<string, unknown> {
  return {
    request(): never {
      throw notAvailable('context.http.request');
    },
  };
}
