/**
 * The `context` object (runtime.md §3): one per request, plain and extensible. Each capability
 * is built by its own module under capabilities/, the seam where host-backed versions plug in.
 */
import type { GuestEvent, GuestStartPayload } from '../abi.js';
import { createEdge } from './capabilities/edge.js';
import { createHttp, type HttpCalls } from './capabilities/http.js';
import { createStorage } from './capabilities/storage.js';
import type { HostCaller } from './host.js';
import { createDispatchWebSocketEvent } from './capabilities/websocket.js';

export interface GuestContext {
  env: Record<string, string>;
  info: Record<string, string>;
  storage: Record<string, unknown>;
  http: Record<string, unknown>;
  edge: Record<string, unknown>;
  dispatchWebSocketEvent: (options?: unknown) => void;
  [member: string]: unknown;
}

export function createContext(
  payload: GuestStartPayload,
  defer: (callback: () => void) => void,
  call: HostCaller,
  httpCalls: HttpCalls,
  /** The request's outbox (events to the host). */
  send: (...event: GuestEvent) => void,
): GuestContext {
  const info = payload.info;
  return {
    env: payload.env,
    info: {
      serviceType: info.serviceType,
      apiRoot: info.apiRoot,
      httpPort: info.httpPort,
      nodeId: info.nodeId,
      // Both spellings are read by published mims.
      node_id: info.nodeId,
      accountId: info.accountId,
    },
    storage: createStorage(call),
    http: createHttp(httpCalls),
    edge: createEdge(defer),
    dispatchWebSocketEvent: createDispatchWebSocketEvent(
      payload.env,
      (type, message) => send('socket', type, message),
      (level, message) => send('log', level, message),
    ),
  };
}
