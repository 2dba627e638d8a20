/**
 * The contract between the host's request runner (src/sandbox/host) and the guest runtime
 * (src/sandbox/guest). Types only: both compilation units import it, neither imports the other.
 *
 * One request = one context. The runtime script's completion value is the guest `entry` function:
 *   entry('start', emit, payload, host) once, after the mim bundle was evaluated in the context;
 *   entry('tick') each time the next timer or immediate is due.
 * Every call returns the delay in ms until the guest has work again: 0 when immediates are queued,
 * -1 when nothing is scheduled or the request is over.
 *
 * The guest reports everything else through `emit` (an ivm.Callback invoked without waiting, so
 * events reach the host in order and before the entry call that produced them settles).
 *
 * `host` is the guest's synchronous way to the sandbox process (the DataStore, the file area, the
 * request's multipart body): a sync ivm.Callback, so the isolate's thread waits while the sandbox
 * process's main thread answers. It never throws into the guest: every answer is a HostReply, and
 * the guest turns a failure into the TypeError or Error the mim sees. The host never calls back
 * into the isolate from inside it; data goes back, and the guest calls the mim's callbacks.
 */

export type GuestLogLevel = 'debug' | 'info' | 'warn' | 'error';

export type GuestHeaders = Record<string, string | string[]>;

/** A body piece as it leaves the guest: strings are UTF-8 encoded by the host. */
export type GuestChunk = string | Uint8Array;

export interface GuestRequestPayload {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

export interface GuestInfoPayload {
  readonly serviceType: string;
  readonly apiRoot: string;
  readonly httpPort: string;
  readonly nodeId: string;
  readonly accountId: string;
}

export interface GuestStartPayload {
  readonly request: GuestRequestPayload;
  readonly env: Record<string, string>;
  readonly info: GuestInfoPayload;
  /** `Date.now()` after which the guest stops running callbacks (the host enforces it anyway). */
  readonly deadline: number;
}

/**
 * Events, as the positional arguments of `emit(kind, ...)`:
 * - `respond(status, headers, body)`: the whole response at once (`res.end` without earlier writes)
 * - `head(status, headers)`: the first `res.write`
 * - `chunks(pieces)`: body pieces written since the last event
 * - `end()`: the end of a streamed response
 * - `log(level, message)`: console output (already capped in length)
 * - `error(message)`: an uncaught exception in the handler or a callback; the request is over
 * - `invalid(message)`: the bundle set no handler function
 * - `wake(delayMs)`: a timer or immediate was scheduled outside an entry call (from a microtask)
 * - `file(status | null, headers | null, path)`: `res.writeMimeFile`: the body is that file of the
 *   mim's file area (already checked through `fileSize`); status and headers are null when the head
 *   was already sent by `res.write`. The request is over for the guest.
 * - `http(callId, options)`: `context.http.request` (options as plain data, callbacks kept by the
 *   guest under callId); the host answers with HttpDelivery items passed to the next `tick`.
 * - `socket(type, message | null)`: `context.dispatchWebSocketEvent` (the guest has checked the
 *   mim's WebSocket support, the arguments and the per-request limits; the host checks again)
 */
export type GuestEvent =
  | ['respond', number, GuestHeaders, GuestChunk | undefined]
  | ['head', number, GuestHeaders]
  | ['chunks', GuestChunk[]]
  | ['end']
  | ['log', GuestLogLevel, string]
  | ['error', string]
  | ['invalid', string]
  | ['wake', number]
  | ['file', number | null, GuestHeaders | null, string]
  | ['http', number, unknown]
  | ['socket', string, string | null];

export type GuestEmit = (...event: GuestEvent) => void;

/**
 * An outbound request's result as the guest's callbacks receive it (runtime.md §3), handed over
 * by `entry('tick', deliveries)`: `[callId, 'success' | 'error', argument, last]`. `last` is true
 * for the call's final delivery (its callbacks are forgotten then). Deliveries run before the
 * tick's immediates and timers, like Node's I/O callbacks.
 */
export type HttpDelivery = [callId: number, callback: 'success' | 'error', argument: object, last: boolean];

/**
 * Synchronous calls from the guest to its sandbox process, as `host(op, ...args)`:
 * - `getItem(key)`, `setItem(key, value)`, `removeItem(key)`, `setItemWithTag(key, value, tag)`,
 *   `removeItemsByTag(tag)`: the DataStore methods of the same names (value already a string)
 * - `lastSeq()` → the insertion number of the newest item (0 when empty): where an iteration stops
 * - `page(tag | null, after, last)` → `[rows, complete]`: items with after < seq <= last in
 *   insertion order, `rows` = `[seq, key, value][]` (bounded in count and bytes); `complete` is
 *   true when no item of the range is left after them
 * - `jsonPage(offset, limit, options)` → `[items, totalCount]` (getJsonItemsPaginated)
 * - `saveFile(name, base64)` → bytes written; `deleteFile(path)` → whether a file was removed
 * - `fileSize(path)` → the size of a regular file of the file area (an error if there is none)
 * - `formParts()` → `[name, filename | null][]` of the request's multipart body
 * - `formValue(index)` → the part's value as string chunks; `formStore(index, path)` → bytes written
 */
export type HostOp =
  | 'getItem'
  | 'setItem'
  | 'removeItem'
  | 'setItemWithTag'
  | 'removeItemsByTag'
  | 'lastSeq'
  | 'page'
  | 'jsonPage'
  | 'saveFile'
  | 'deleteFile'
  | 'fileSize'
  | 'formParts'
  | 'formValue'
  | 'formStore';

/**
 * `[0, value]`, or `[1, errorName, message, code]`: the guest throws a TypeError (bad arguments, a
 * refused path) or an Error carrying the node's error code (`ERR_FILE_NOT_FOUND`...) when known.
 */
export type HostReply = [0, unknown] | [1, 'TypeError' | 'Error', string, string | null];

export type GuestHostCall = (op: HostOp, ...args: unknown[]) => HostReply;

/** A page row as `page` returns it. */
export type HostRow = [seq: number, key: string, value: string];

/** Rows per `page` call, and the value bytes past which a page is cut short (at least one row). */
export const HOST_PAGE_ROWS = 128;
export const HOST_PAGE_BYTES = 4 * 1024 * 1024;

/** Longest console message passed on, in characters; longer ones are cut. */
export const GUEST_LOG_MAX_CHARS = 8 * 1024;
/** Console lines one request may send; later ones are counted and dropped. */
export const GUEST_LOG_MAX_LINES = 1000;

/** Largest WebSocket event frame (`{"type":...,"message":...}` as UTF-8); larger ones are dropped. */
export const SOCKET_EVENT_MAX_BYTES = 64 * 1024;
/** WebSocket events one request may dispatch; later ones are counted and dropped. */
export const SOCKET_EVENTS_PER_REQUEST = 100;

/**
 * Whether a mim may dispatch WebSocket events: its env has `MCM.WEBSOCKET_SUPPORT` or
 * `WEBSOCKET_SUPPORT` set to "true" (the same rule as src/mims/env.ts websocketSupported).
 */
export function socketEventsEnabled(env: Readonly<Record<string, string>>): boolean {
  return env['MCM.WEBSOCKET_SUPPORT'] === 'true' || env['WEBSOCKET_SUPPORT'] === 'true';
}
