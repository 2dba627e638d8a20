/**
 * Prepares the fresh context one request runs in: create it, run the guest runtime, run the mim
 * bundle. A prepared context serves exactly one request; the mim host may prepare the next one
 * ahead of demand (see mim-host.ts), which takes ~1 ms off each request.
 */
import ivm from 'isolated-vm';
import type { GuestStartPayload, HttpDelivery } from '../abi.js';

/** The parts of a mim's isolate a request runs on. */
export interface MimInstance {
  readonly isolate: ivm.Isolate;
  readonly runtime: ivm.Script;
  readonly bundle: ivm.Script;
}

/** The guest's `entry` (see ../abi.ts), as the host calls it. */
export type GuestEntry = (
  op: 'start' | 'tick',
  /** `start`: the emit callback; `tick`: the outbound HTTP deliveries (a copy) or undefined. */
  emitOrDeliveries?: ivm.Callback | ivm.Copy<HttpDelivery[]>,
  payload?: ivm.Copy<GuestStartPayload>,
  host?: ivm.Callback,
) => number;

export interface PreparedContext {
  readonly context: ivm.Context;
  readonly entry: ivm.Reference<GuestEntry>;
}

/** Why an isolate call failed: over the memory limit, out of time, or the code threw. */
export type IsolateFailure = 'memory' | 'timeout' | 'threw';

export type Preparation =
  | { readonly ok: true; readonly prepared: PreparedContext }
  | { readonly ok: false; readonly failure: IsolateFailure; readonly message: string };

const TIMED_OUT = 'Script execution timed out.';

/** Isolates the node stopped itself because a request outlived its deadline (see killIsolate). */
const killed = new WeakSet<ivm.Isolate>();

/**
 * Stops everything running in `isolate` now. isolated-vm's `timeout` does not count the time an
 * isolate spends waiting in synchronous host calls (the DataStore), so a loop of storage calls
 * could outlive its deadline many times over; the runner kills such an isolate instead.
 */
export function killIsolate(isolate: ivm.Isolate): void {
  killed.add(isolate);
  if (!isolate.isDisposed) isolate.dispose();
}

export function classifyIsolateError(err: unknown, isolate: ivm.Isolate): IsolateFailure {
  if (killed.has(isolate)) return 'timeout';
  // isolated-vm disposes an isolate that went over its memory limit; nothing else disposes one
  // while requests may still use it (killIsolate aside).
  if (isolate.isDisposed) return 'memory';
  if (err instanceof Error && err.message === TIMED_OUT) return 'timeout';
  return 'threw';
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Never rejects. `timeoutMs` bounds each step (a bundle that loops at load time is stopped). */
export async function prepareContext(instance: MimInstance, timeoutMs: number): Promise<Preparation> {
  let context: ivm.Context | undefined;
  let entry: ivm.Reference<GuestEntry> | undefined;
  try {
    context = await instance.isolate.createContext();
    entry = (await instance.runtime.run(context, {
      reference: true,
      timeout: timeoutMs,
    })) as ivm.Reference<GuestEntry>;
    await instance.bundle.run(context, { timeout: timeoutMs });
    return { ok: true, prepared: { context, entry } };
  } catch (err) {
    releaseHandle(entry);
    releaseHandle(context);
    return { ok: false, failure: classifyIsolateError(err, instance.isolate), message: errorText(err) };
  }
}

export function releasePrepared(prepared: PreparedContext): void {
  releaseHandle(prepared.entry);
  releaseHandle(prepared.context);
}

function releaseHandle(handle: { release(): void } | undefined): void {
  try {
    handle?.release();
  } catch {
    // Already released, or its isolate is gone: nothing left to free.
  }
}
