/**
 * Calls from a mim to its own node (the MCM API, JSON-RPC, other mims) carry the node's mark, an
 * `x-mimoe-origin` header naming the mim and proving it (see src/auth/mim-origin.ts), so the node
 * can trust what only its own mims may do (management.md §5: getEdgeHmacCode over loopback).
 * Only calls to an address the node itself listens on, on its port, get it: another local
 * process listening on 127.0.0.2 (or ::1, where `localhost` may lead) at the same port must never
 * receive it. Hence literal addresses only, no names.
 */
import { ORIGIN_HEADER } from '../../../auth/mim-origin.js';

export function loopbackMark(
  hosts: readonly string[],
  nodePort: number,
  origin: string,
): (url: URL) => Record<string, string> | undefined {
  const mark = { [ORIGIN_HEADER]: origin };
  const own = new Set(hosts);
  return (url) => {
    if (origin === '' || url.protocol !== 'http:') return undefined;
    const port = url.port === '' ? 80 : Number(url.port);
    return port === nodePort && own.has(url.hostname) ? mark : undefined;
  };
}
