/**
 * Runs one request in its own fresh context (prepared by context-prep.ts: runtime then bundle
 * evaluated): entry('start') → while not ended: wait until the guest's next timer → entry('tick').
 * Every call into the isolate carries `timeout` = what is left of the request's deadline, so a
 * busy loop is terminated by V8, not merely waited out. The context is released at the end, with
 * any timers it still holds.
 */
import ivm from 'isolated-vm';
import type { ErrorCode } from '../../errors/index.js';
import {
  GUEST_LOG_MAX_CHARS,
  SOCKET_EVENT_MAX_BYTES,
  SOCKET_EVENTS_PER_REQUEST,
  socketEventsEnabled,
  type GuestLogLevel,
  type GuestStartPayload,
} from '../abi.js';
import type { ResponseHeaders } from '../protocol.js';
import type { MimSpec } from '../types.js';
import {
  classifyIsolateError,
  errorText,
  killIsolate,
  releasePrepared,
  type GuestEntry,
  type IsolateFailure,
  type Preparation,
  type PreparedContext,
} from './context-prep.js';
import { toBytes, toHeaders, toLogLevel, toStatus, toText } from './guest-events.js';
import { createHostCall } from './host-calls.js';
import type { MimStore } from './mim-store.js';
import type { OutputFlow } from './output-flow.js';
import type { OutboundAgents } from './outbound/agents.js';
import { OutboundCalls } from './outbound/calls.js';
import { loopbackMark } from './outbound/loopback.js';

export interface RunnerRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  readonly timeoutMs: number;
}

/** Where a runner's results go (the sandbox turns them into IPC messages). */
export interface RunnerOutput {
  respond(status: number, headers: ResponseHeaders, body: Buffer | undefined): void;
  head(status: number, headers: ResponseHeaders): void;
  chunk(data: Buffer): void;
  end(): void;
  /**
   * The body is the file at `path` in the mim's file area (res.writeMimeFile), streamed from disk;
   * with a status the head goes first, without one it was already sent. Settles when it is sent.
   */
  file(status: number | undefined, headers: ResponseHeaders | undefined, path: string): Promise<void>;
  fail(code: ErrorCode, message: string): void;
  /** A line of the mim's own log (console output, its uncaught exceptions). */
  log(level: GuestLogLevel, message: string): void;
  /** `context.dispatchWebSocketEvent`: one event for the mim's WebSocket clients (already checked). */
  socketEvent(type: string, message: string | undefined): void;
}

/**
 * How long after its deadline a request still inside an entry call gets before its isolate is
 * killed. A plain busy loop is stopped by isolated-vm's timeout at the deadline itself; only time
 * spent in host calls (which that timeout does not count) can get this far.
 */
const KILL_GRACE_MS = 200;

export class RequestRunner {
  private done = false;
  /** The deadline passed: host calls are refused from then on. */
  private timedOut = false;
  /** An entry call is running in the isolate. */
  private inCall = false;
  private headSent = false;
  private deadline = 0;
  /** Earliest wake-up asked for by `wake` events while no wait was armed. */
  private wakeAt = Infinity;
  private waiter:
    { at: number; resolve: () => void; timer: NodeJS.Timeout | NodeJS.Immediate | undefined } | undefined;
  /** The request's `context.http.request` calls (set for the duration of run()). */
  private calls: OutboundCalls | undefined;
  /** A res.writeMimeFile body being streamed: the request is over for the guest, not yet for us. */
  private streaming: Promise<void> | undefined;
  /** WebSocket events passed on, and whether a drop was logged already (once per request). */
  private socketEvents = 0;
  private socketDropLogged = false;

  constructor(
    private readonly spec: MimSpec,
    private readonly request: RunnerRequest,
    private readonly out: RunnerOutput,
    private readonly store: MimStore,
    /** The supervisor's pause/resume/cancel of this request: no timer turn runs while paused. */
    private readonly flow: OutputFlow,
    /** The mim's outbound connection pools. */
    private readonly agents: OutboundAgents,
  ) {}

  /**
   * Settles when the request is over and its context released; never rejects.
   * @param preparation the request's fresh context (maybe still being prepared)
   */
  async run(isolate: ivm.Isolate, preparation: Promise<Preparation>): Promise<void> {
    this.deadline = Date.now() + this.request.timeoutMs;
    let killTimer: NodeJS.Timeout | undefined;
    const deadlineTimer = setTimeout(() => {
      this.timedOut = true;
      this.finish('ERR_MIM_TIMEOUT', `the mim did not end its response within ${this.spec.timeoutMs} ms`);
      if (!this.inCall) return;
      killTimer = setTimeout(() => {
        if (!this.inCall || isolate.isDisposed) return;
        this.out.log(
          'error',
          'the mim kept running past its execution time (in storage calls); its isolate was stopped',
        );
        killIsolate(isolate);
      }, KILL_GRACE_MS);
    }, this.request.timeoutMs);
    const offFlow = this.flow.onChange(() => {
      // Cancelled: the supervisor has answered for the request already; just stop it.
      if (this.flow.isCancelled) this.finish();
      else if (!this.flow.isPaused) this.arm();
      else this.hold();
    });
    let prepared: PreparedContext | undefined;
    const spec = this.spec;
    const calls = new OutboundCalls(
      {
        agents: this.agents,
        limits: spec.outbound,
        files: () => this.store.files,
        markFor: loopbackMark(spec.outbound.originHosts, Number(spec.info.httpPort), spec.outbound.origin),
      },
      () => this.onWake(0),
    );
    this.calls = calls;
    try {
      const prep = await preparation;
      if (prep.ok) prepared = prep.prepared;
      if (this.done) return;
      if (!prep.ok) return this.onFailure(prep.failure, prep.message, 'load');
      const { entry } = prep.prepared;
      const emit = new ivm.Callback((...event: unknown[]) => this.onEvent(event), { ignored: true });
      const payload = new ivm.ExternalCopy(this.payload()).copyInto({ release: true });
      // Synchronous: the isolate's thread waits while this process answers (KvStore is synchronous).
      const host = new ivm.Callback(
        createHostCall(this.store, this.request, () => this.timedOut || this.flow.isCancelled),
      );
      let next = await this.call(entry, ['start', emit, payload, host]);
      while (!this.done) {
        await this.waitFor(next);
        if (this.done) break;
        const deliveries = calls.take();
        next = await this.call(entry, [
          'tick',
          deliveries === undefined ? undefined : new ivm.ExternalCopy(deliveries).copyInto({ release: true }),
        ]);
      }
    } catch (err) {
      this.onFailure(classifyIsolateError(err, isolate), errorText(err), 'run');
    } finally {
      clearTimeout(deadlineTimer);
      clearTimeout(killTimer);
      calls.close();
      offFlow();
      this.done = true;
      this.disarm();
      if (prepared !== undefined) releasePrepared(prepared);
    }
    await this.streaming;
  }

  private remaining(): number {
    return Math.max(1, this.deadline - Date.now());
  }

  private async call(entry: ivm.Reference<GuestEntry>, args: Parameters<GuestEntry>): Promise<number> {
    this.inCall = true;
    try {
      const next: unknown = await entry.apply(undefined, args, {
        timeout: this.remaining(),
        result: { copy: true },
      });
      return typeof next === 'number' ? next : -1;
    } finally {
      this.inCall = false;
    }
  }

  private payload(): GuestStartPayload {
    const { spec, request } = this;
    return {
      request: {
        method: request.method,
        url: request.url,
        headers: { ...request.headers },
        body: Buffer.from(request.body.buffer, request.body.byteOffset, request.body.byteLength).toString(
          'utf8',
        ),
      },
      env: { ...spec.env },
      info: { ...spec.info },
      deadline: this.deadline,
    };
  }

  /** Waits until the guest's next callback is due (`next` ms, -1 = none), a wake event, or the end. */
  private waitFor(next: number): Promise<void> {
    const at = Math.min(next < 0 ? Infinity : Date.now() + next, this.wakeAt);
    this.wakeAt = Infinity;
    return new Promise((resolve) => {
      this.waiter = { at, resolve, timer: undefined };
      this.arm();
    });
  }

  private arm(): void {
    const waiter = this.waiter;
    // Paused by the supervisor (the client is behind): the next turn waits for `resume`.
    if (waiter === undefined || waiter.at === Infinity || waiter.timer !== undefined || this.flow.isPaused)
      return;
    const wake = (): void => {
      this.waiter = undefined;
      waiter.resolve();
    };
    const delay = waiter.at - Date.now();
    waiter.timer = delay <= 0 ? setImmediate(wake) : setTimeout(wake, delay);
  }

  /** Takes back the armed wake-up (the supervisor paused the request's output). */
  private hold(): void {
    const waiter = this.waiter;
    if (waiter === undefined) return;
    clearTimer(waiter.timer);
    waiter.timer = undefined;
  }

  private disarm(): void {
    const waiter = this.waiter;
    if (waiter === undefined) return;
    this.waiter = undefined;
    clearTimer(waiter.timer);
    waiter.resolve();
  }

  private onWake(delayMs: number): void {
    const at = Date.now() + Math.max(0, delayMs);
    const waiter = this.waiter;
    if (waiter === undefined) {
      this.wakeAt = Math.min(this.wakeAt, at);
    } else if (at < waiter.at) {
      clearTimer(waiter.timer);
      waiter.timer = undefined;
      waiter.at = at;
      this.arm();
    }
  }

  /** Ends the request: with an error when `code` is given (cut short if the head is out). */
  private finish(code?: ErrorCode, message?: string): void {
    if (this.done) return;
    this.done = true;
    if (code !== undefined) this.out.fail(code, message ?? code);
    this.disarm();
  }

  private onEvent(event: unknown[]): void {
    const [kind, a, b, c] = event;
    switch (kind) {
      case 'log': {
        const level = toLogLevel(a);
        if (level !== undefined) this.out.log(level, toText(b, GUEST_LOG_MAX_CHARS * 2));
        return;
      }
      case 'error':
        this.out.log('error', `uncaught exception: ${toText(a, GUEST_LOG_MAX_CHARS)}`);
        this.finish('ERR_MIM_EXCEPTION', 'the mim threw an uncaught exception');
        return;
      case 'invalid':
        this.out.log('error', `invalid bundle: ${toText(a, GUEST_LOG_MAX_CHARS)}`);
        this.finish('ERR_MIM_INVALID_BUNDLE', 'the mim bundle set no function in mimikModule.exports');
        return;
      case 'wake':
        if (!this.done && typeof a === 'number') this.onWake(a);
        return;
      case 'http':
        if (!this.done) this.calls?.start(a, b);
        return;
      case 'socket':
        // Also after res.end: "answer, then tell the clients" is a natural order for a mim.
        this.onSocketEvent(a, b);
        return;
    }
    if (this.done) return;
    switch (kind) {
      case 'respond': {
        const status = toStatus(a);
        if (status === undefined)
          return this.finish('ERR_MIM_EXCEPTION', 'the mim set an invalid status code');
        this.done = true;
        this.out.respond(status, toHeaders(b), toBytes(c));
        this.disarm();
        return;
      }
      case 'head': {
        const status = toStatus(a);
        if (status === undefined)
          return this.finish('ERR_MIM_EXCEPTION', 'the mim set an invalid status code');
        this.headSent = true;
        this.out.head(status, toHeaders(b));
        return;
      }
      case 'chunks': {
        if (!this.headSent || !Array.isArray(a)) return;
        // The guest batches the writes of one entry call: they leave as one chunk.
        const pieces = a.map(toBytes).filter((bytes): bytes is Buffer => bytes !== undefined);
        if (pieces.length > 0)
          this.out.chunk(pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces));
        return;
      }
      case 'end':
        if (!this.headSent) return;
        this.done = true;
        this.out.end();
        this.disarm();
        return;
      case 'file': {
        if (typeof c !== 'string') return this.finish('ERR_MIM_EXCEPTION', 'the mim sent an invalid file');
        let status: number | undefined;
        if (!this.headSent) {
          status = toStatus(a);
          if (status === undefined)
            return this.finish('ERR_MIM_EXCEPTION', 'the mim set an invalid status code');
        }
        this.done = true;
        this.disarm();
        this.streaming = this.out.file(status, status === undefined ? undefined : toHeaders(b), c);
        return;
      }
    }
  }

  /**
   * The guest applies the same rules; this is the check that holds even if the mim tampered with
   * the runtime's objects: support, types, frame size, events per request.
   */
  private onSocketEvent(type: unknown, message: unknown): void {
    if (!socketEventsEnabled(this.spec.env) || typeof type !== 'string') return;
    if (message !== null && typeof message !== 'string') return;
    const text = message ?? undefined;
    const bytes = Buffer.byteLength(JSON.stringify(text === undefined ? { type } : { type, message: text }));
    let reason: string | undefined;
    if (this.socketEvents >= SOCKET_EVENTS_PER_REQUEST)
      reason = `WebSocket event limit reached (${SOCKET_EVENTS_PER_REQUEST} per request); further events dropped`;
    else if (bytes > SOCKET_EVENT_MAX_BYTES)
      reason = `WebSocket event dropped: larger than ${SOCKET_EVENT_MAX_BYTES} bytes`;
    if (reason !== undefined) {
      if (!this.socketDropLogged) this.out.log('warn', reason);
      this.socketDropLogged = true;
      return;
    }
    this.socketEvents++;
    this.out.socketEvent(type, text);
  }

  private onFailure(failure: IsolateFailure, message: string, stage: 'load' | 'run'): void {
    if (failure === 'memory') {
      this.out.log(
        'error',
        `the mim exceeded its memory limit (${this.spec.memoryMb} MiB); its isolate is restarted`,
      );
      this.finish('ERR_MIM_MEMORY', `the mim exceeded its memory limit of ${this.spec.memoryMb} MiB`);
    } else if (failure === 'timeout') {
      this.finish('ERR_MIM_TIMEOUT', `the mim did not end its response within ${this.spec.timeoutMs} ms`);
    } else if (stage === 'load') {
      this.out.log('error', `invalid bundle: ${toText(message, GUEST_LOG_MAX_CHARS)}`);
      this.finish('ERR_MIM_INVALID_BUNDLE', 'the mim bundle failed to evaluate');
    } else {
      // Once started, the isolate rejects an entry call only for an unhandled promise rejection
      // (the guest catches everything else itself).
      this.out.log('error', `unhandled promise rejection: ${toText(message, GUEST_LOG_MAX_CHARS)}`);
      this.finish('ERR_MIM_EXCEPTION', 'the mim threw an uncaught exception');
    }
  }
}

function clearTimer(timer: NodeJS.Timeout | NodeJS.Immediate | undefined): void {
  if (timer === undefined) return;
  if ('refresh' in timer) clearTimeout(timer);
  else clearImmediate(timer);
}
