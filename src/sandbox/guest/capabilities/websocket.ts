/**
 * `context.dispatchWebSocketEvent(options)` (runtime.md §3): one event `{ type, message }` to every
 * WebSocket client connected to this mim (on its mount path or alias).
 *
 * - A mim deployed without `MCM.WEBSOCKET_SUPPORT` / `WEBSOCKET_SUPPORT` "true": a no-op whatever
 *   the arguments, never an exception (the contract).
 * - No argument (or null): a flush. Events leave at once, nothing is ever queued, so it does nothing.
 * - Otherwise `options.type` must be a string and `options.message` a string, absent, or a value
 *   JSON.stringify can write (it is sent as that JSON text); anything else is a TypeError, since
 *   a mim that opted in wants to hear about a call that cannot work.
 * - Past SOCKET_EVENTS_PER_REQUEST events, or for a frame certainly over SOCKET_EVENT_MAX_BYTES,
 *   the event is dropped with one warning in the mim's log (the host checks both again exactly).
 */
import { SOCKET_EVENT_MAX_BYTES, SOCKET_EVENTS_PER_REQUEST, socketEventsEnabled } from '../../abi.js';
import type { LogSink } from '../console.js';
import { describe } from '../host.js';

const NAME = 'dispatchWebSocketEvent';

export type SocketSink = (type: string, message: string | null) => void;

function messageText(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  // JSON.stringify gives undefined for functions and symbols, and throws on cycles and BigInts.
  let text: unknown;
  try {
    text = JSON.stringify(value);
  } catch {
    text = undefined;
  }
  if (typeof text !== 'string')
    throw new TypeError(`${NAME}: message must be a string or JSON-serialisable, got ${describe(value)}`);
  return text;
}

export function createDispatchWebSocketEvent(
  env: Readonly<Record<string, string>>,
  send: SocketSink,
  log: LogSink,
): (options?: unknown) => void {
  const enabled = socketEventsEnabled(env);
  let sent = 0;
  let dropped = 0;
  let oversized = 0;
  return function dispatchWebSocketEvent(options?: unknown): void {
    if (!enabled || options === undefined || options === null) return;
    if (typeof options !== 'object')
      throw new TypeError(`${NAME}: options must be an object { type, message }, got ${describe(options)}`);
    const type = (options as { type?: unknown }).type;
    if (typeof type !== 'string')
      throw new TypeError(`${NAME}: type must be a string, got ${describe(type)}`);
    const message = messageText((options as { message?: unknown }).message);
    if (sent >= SOCKET_EVENTS_PER_REQUEST) {
      if (++dropped === 1)
        log(
          'warn',
          `WebSocket event limit reached (${SOCKET_EVENTS_PER_REQUEST} per request); further events dropped`,
        );
      return;
    }
    // UTF-8 takes at least one byte per UTF-16 unit: more units than the limit is certainly too big.
    if (type.length + (message === null ? 0 : message.length) > SOCKET_EVENT_MAX_BYTES) {
      if (++oversized === 1)
        log('warn', `WebSocket event dropped: larger than ${SOCKET_EVENT_MAX_BYTES} bytes`);
      return;
    }
    sent++;
    send(type, message);
  };
}
