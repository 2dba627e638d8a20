/**
 * The contract between the host's request runner (src/sandbox/host) and the guest runtime
 * (src/sandbox/guest). Types only: both compilation units import it, neither imports the other.
 *
 * One request = one context. The runtime script's completion value is the guest `entry` function:
 *   entry('start', emit, payload) once, after the mim bundle was evaluated in the context;
 *   entry('tick') each time the next timer or immediate is due.
 * Every call returns the delay in ms until the guest has work again: 0 when immediates are queued,
 * -1 when nothing is scheduled or the request is over.
 *
 * The guest reports everything else through `emit` (an ivm.Callback invoked without waiting, so
 * events reach the host in order and before the entry call that produced them settles).
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
 */
export type GuestEvent =
  | ['respond', number, GuestHeaders, GuestChunk | undefined]
  | ['head', number, GuestHeaders]
  | ['chunks', GuestChunk[]]
  | ['end']
  | ['log', GuestLogLevel, string]
  | ['error', string]
  | ['invalid', string]
  | ['wake', number];

export type GuestEmit = (...event: GuestEvent) => void;

/** Longest console message passed on, in characters; longer ones are cut. */
export const GUEST_LOG_MAX_CHARS = 8 * 1024;
/** Console lines one request may send; later ones are counted and dropped. */
export const GUEST_LOG_MAX_LINES = 1000;
