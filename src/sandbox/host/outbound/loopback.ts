/**
 * Calls from a mim to its own node (the MCM API, JSON-RPC, other mims) carry the node's mark, an
 * `x-mimoe-origin` header naming the mim and proving it (see src/auth/mim-origin.ts), so the node
 * can trust what only its own mims may do (management.md §5: getEdgeHmacCode over loopback).
 * Only calls to a loopback address on the node's port get it.
 */
import { ORIGIN_HEADER } from '../../../auth/mim-origin.js';

function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  if (host === 'localhost' || host === '[::1]' || host === '::1') return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export function loopbackMark(
  nodePort: number,
  origin: string,
): (url: URL) => Record<string, string> | undefined {
  const mark = { [ORIGIN_HEADER]: origin };
  return (url) => {
    if (origin === '' || url.protocol !== 'http:') return undefined;
    const port = url.port === '' ? 80 : Number(url.port);
    return port === nodePort && isLoopbackHost(url.hostname) ? mark : undefined;
  };
}
