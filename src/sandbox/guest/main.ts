/**
 * The guest runtime: evaluated first in every request's fresh context, before the mim bundle.
 * It defines the globals of runtime.md §2 and hands the host one `entry` function as the
 * script's completion value (scripts/build-guest.mjs wraps the bundle so). Nothing internal is
 * reachable from globals: the emit callback, queues and state live in this module's closure.
 */
import { defineLazyBuffer } from './lazy-buffer.js';
import type { GuestEmit, GuestHostCall, GuestStartPayload, HttpDelivery } from '../abi.js';
import { HttpCalls } from './capabilities/http.js';
import { createConsole } from './console.js';
import { createContext } from './context.js';
import { createDuktape } from './duktape.js';
import { createHostCaller } from './host.js';
import { Outbox } from './outbox.js';
import { createRequest } from './request.js';
import { createResponse, type ResponseControl } from './response.js';
import { TextDecoder, TextEncoder } from './text.js';
import { TimerQueues } from './timers.js';

type Handler = (context: unknown, req: unknown, res: unknown) => unknown;

const outbox = new Outbox();
/** The request is over (ended, failed, or no handler): no more callbacks run. */
let finished = false;
let deadline = Infinity;
let response: ResponseControl | undefined;
/** The earliest wake-up asked of the host since the last entry call (asked once, not per timer). */
let wakeAskedFor = Infinity;

/**
 * Inside an entry call the host learns the next delay from the return value; work scheduled from
 * a microtask (after the call returned) must wake the host itself.
 */
function requestWake(delayMs: number): void {
  if (outbox.inEntry || finished) return;
  const at = Date.now() + delayMs;
  if (at >= wakeAskedFor) return;
  wakeAskedFor = at;
  outbox.send('wake', delayMs);
}

const timers = new TimerQueues(requestWake);
const httpCalls = new HttpCalls((callId, options) => outbox.send('http', callId, options));
const timerGlobals = timers.globals();

const g = globalThis as unknown as Record<string, unknown>;
g['mimikModule'] = { exports: undefined };
g['Duktape'] = createDuktape();
g['TextEncoder'] = TextEncoder;
g['TextDecoder'] = TextDecoder;
g['setTimeout'] = timerGlobals.setTimeout;
g['clearTimeout'] = timerGlobals.clearTimeout;
g['setInterval'] = timerGlobals.setInterval;
g['clearInterval'] = timerGlobals.clearInterval;
g['setImmediate'] = timerGlobals.setImmediate;
g['clearImmediate'] = timerGlobals.clearImmediate;
g['global'] = globalThis;
g['console'] = createConsole((level, message) => outbox.send('log', level, message));
defineLazyBuffer(g);
// WASM mims are not supported, and a WebAssembly.Memory lives outside the isolate's heap limit
// (3 × 1 GiB went through a 128 MiB isolate). A plain global: nothing else leads back to it.
delete g['WebAssembly'];

function describe(err: unknown): string {
  try {
    if (err instanceof Error) return `${err.name}: ${err.message}`;
    if (err !== null && typeof err === 'object') {
      const message = (err as { message?: unknown }).message;
      if (typeof message === 'string') return message;
    }
    return String(err);
  } catch {
    return 'an exception that cannot be described';
  }
}

function handlerOf(module: unknown): Handler | undefined {
  if (module === null || typeof module !== 'object') return undefined;
  const exported = (module as { exports?: unknown }).exports;
  return typeof exported === 'function' ? (exported as Handler) : undefined;
}

function start(emit: GuestEmit, payload: GuestStartPayload, host: GuestHostCall): void {
  outbox.attach(emit);
  const call = createHostCaller(host);
  deadline = payload.deadline;
  const handler = handlerOf(g['mimikModule']);
  if (handler === undefined) {
    finished = true;
    outbox.send('invalid', 'the bundle set no function in mimikModule.exports');
    return;
  }
  response = createResponse(
    outbox,
    () => {
      finished = true;
    },
    () => requestWake(0),
    call,
  );
  const context = createContext(
    payload,
    (callback) => {
      timerGlobals.setImmediate(callback);
    },
    call,
    httpCalls,
    (...event) => outbox.send(...event),
  );
  handler(context, createRequest(payload.request, call), response.res);
}

/** The host's only way in. Returns ms until the next due callback: 0 = immediates, -1 = none. */
export function entry(
  op: string,
  emitOrDeliveries?: GuestEmit | HttpDelivery[],
  payload?: GuestStartPayload,
  host?: GuestHostCall,
): number {
  if (finished) return -1;
  outbox.inEntry = true;
  wakeAskedFor = Infinity;
  response?.newTurn();
  try {
    if (
      op === 'start' &&
      typeof emitOrDeliveries === 'function' &&
      payload !== undefined &&
      host !== undefined
    ) {
      start(emitOrDeliveries, payload, host);
    } else if (op === 'tick' && Date.now() < deadline) {
      // Results of outbound requests first (Node's poll phase), then immediates and timers.
      if (Array.isArray(emitOrDeliveries)) httpCalls.deliver(emitOrDeliveries, () => finished);
      timers.tick(() => finished);
    }
  } catch (err) {
    // An uncaught exception ends the request (500); after res.end the host only logs it.
    finished = true;
    outbox.send('error', describe(err));
  } finally {
    outbox.inEntry = false;
    response?.flush();
  }
  return finished ? -1 : timers.nextDelay();
}
