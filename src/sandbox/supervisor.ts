/**
 * The supervisor: runs in the node's main process (and never loads isolated-vm). It spreads mims
 * over a fixed set of sandbox processes, routes requests to them, and contains their crashes:
 * V8 aborts a whole process on some inputs whatever an isolate's memory limit, so a dead sandbox
 * costs only the requests it was serving, is restarted with its mims, and a mim that keeps
 * crashing it is stopped instead of restarted in a loop.
 *
 * Load: each mim runs at most `mimConcurrency` requests at once (each holds a fresh context in the
 * mim's isolate, so an unbounded burst would exceed its heap limit); more wait in a FIFO queue of
 * `mimQueueLength`, their deadlines running, and past it the answer is ERR_MIM_BUSY.
 * Output: a chunk the client is not taking (ResponseSink.write false) pauses the request in its
 * sandbox until the sink drains; a client that goes away cancels it.
 */
import { DEFAULTS } from '../config/defaults.js';
import { MimoeError, type ErrorCode } from '../errors/index.js';
import type { Logger } from '../log/logger.js';
import { CrashWindow } from './crash-window.js';
import type { FromSandbox, ToSandbox } from './protocol.js';
import { SandboxProcess } from './sandbox-process.js';
import type { MimLogLine, MimRequest, MimSocketEvent, MimSpec, ResponseSink } from './types.js';

export interface SupervisorOptions {
  /** How many sandbox processes to run. */
  processes: number;
  /** A mim with requests in flight in this many sandbox crashes within crashWindowMs is stopped. */
  crashLimit: number;
  crashWindowMs: number;
  logger: Logger;
  /** A mim's console output and its uncaught exceptions (the node log tags them with the mim). */
  onMimLog?: (line: MimLogLine) => void;
  onMimStopped?: (mimId: string, reason: string) => void;
  /** How long close() lets in-flight requests finish. */
  shutdownGraceMs?: number;
  /** Requests of one mim running at once (default DEFAULTS.mimConcurrency). */
  mimConcurrency?: number;
  /** Requests of one mim waiting for a turn (default DEFAULTS.mimQueueLength). */
  mimQueueLength?: number;
  /** A deployed mim dispatched a WebSocket event (already checked and capped by its sandbox). */
  onSocketEvent?: (event: MimSocketEvent) => void;
  /** A mim is being undeployed (its WebSocket clients are closed). */
  onMimRemoved?: (mimId: string) => void;
}

export interface SupervisorStats {
  /** Sandbox processes up and serving. */
  processes: number;
  /** Sandbox process restarts since start. */
  restarts: number;
  /** Requests dispatched and not yet answered. */
  inFlight: number;
  /** Of those, requests waiting in a mim's queue for a turn. */
  queued: number;
  [name: string]: number;
}

/** How long past a mim's own deadline the supervisor waits for its sandbox to answer at all. */
const BACKSTOP_MS = 800;
/** Restart delay after a crash; doubled for a process that crashes soon after starting. */
const RESTART_DELAY_MS = 50;
const RESTART_DELAY_MAX_MS = 5_000;
/** A process that lived this long before crashing is restarted without the back-off. */
const STABLE_AFTER_MS = 10_000;

interface Slot {
  readonly index: number;
  process: SandboxProcess | undefined;
  up: boolean;
  /** Mims assigned here (not stopped). */
  readonly mims: Set<string>;
  /** Requests waiting for the process to be (re)started. */
  queue: Pending[];
  startedAt: number;
  restartDelay: number;
  restartTimer: NodeJS.Timeout | undefined;
  /** When this process last sent anything: a backstop only kills a silent one. */
  lastHeard: number;
}

interface MimEntry {
  spec: MimSpec;
  slot: Slot | undefined;
  stopped: boolean;
  crashes: CrashWindow;
  /** Pauses of its traffic in progress (pauseStore); while above 0 new requests are held. */
  paused: number;
  /** Requests that arrived during a pause, sent when it ends. */
  held: Pending[];
  /** Requests admitted (sent, held or waiting for a restart) and not yet over. */
  running: number;
  /** Requests waiting for a turn, oldest first. */
  waiting: Pending[];
  /** pump() is running (it may be re-entered through complete()). */
  pumping: boolean;
}

interface Pending {
  readonly id: number;
  readonly mimId: string;
  readonly request: MimRequest;
  readonly sink: ResponseSink;
  readonly slot: Slot;
  readonly createdAt: number;
  readonly timeoutMs: number;
  timer: NodeJS.Timeout | undefined;
  sent: boolean;
  /** The mim whose turn this request holds (counted in its `running`). */
  admittedBy: MimEntry | undefined;
  /** The mim whose queue this request waits in. */
  queuedIn: MimEntry | undefined;
  /** The sandbox was told to pause this request's output. */
  outputPaused: boolean;
}

/** A sandbox's acknowledgement awaited (`unloaded`, `store-closed`); its exit counts as one. */
interface Ack {
  readonly slot: Slot;
  readonly resolve: () => void;
}

interface DrainWaiter {
  readonly mimId: string;
  readonly resolve: () => void;
}

export class Supervisor {
  private readonly slots: Slot[] = [];
  private readonly mims = new Map<string, MimEntry>();
  private readonly pending = new Map<number, Pending>();
  private readonly unloading = new Map<number, Ack>();
  private drainWaiters: DrainWaiter[] = [];
  private nextId = 1;
  private restarts = 0;
  private started: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private onIdle: (() => void) | undefined;
  private readonly concurrency: number;
  private readonly queueLength: number;

  constructor(private readonly opts: SupervisorOptions) {
    this.concurrency = opts.mimConcurrency ?? DEFAULTS.mimConcurrency;
    this.queueLength = opts.mimQueueLength ?? DEFAULTS.mimQueueLength;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) {
      throw new MimoeError('ERR_INTERNAL', `mim concurrency must be at least 1, got ${this.concurrency}`);
    }
    if (!Number.isInteger(opts.processes) || opts.processes < 1) {
      throw new MimoeError(
        'ERR_INTERNAL',
        `the supervisor needs at least one sandbox process, got ${opts.processes}`,
      );
    }
  }

  /** Forks the sandbox processes and waits until each is ready. */
  start(): Promise<void> {
    this.started ??= this.startAll();
    return this.started;
  }

  /** Assigns the mim to the least-loaded sandbox and loads it there; a redeploy replaces it in place. */
  deploy(spec: MimSpec): void {
    if (this.closing !== undefined) throw new MimoeError('ERR_SHUTTING_DOWN', 'the node is shutting down');
    let entry = this.mims.get(spec.mimId);
    if (entry === undefined) {
      entry = {
        spec,
        slot: undefined,
        stopped: false,
        crashes: new CrashWindow(this.opts.crashLimit, this.opts.crashWindowMs),
        paused: 0,
        held: [],
        running: 0,
        waiting: [],
        pumping: false,
      };
      this.mims.set(spec.mimId, entry);
    }
    entry.spec = spec;
    if (entry.stopped) {
      // Deploying a stopped mim again gives it a clean record.
      entry.stopped = false;
      entry.crashes = new CrashWindow(this.opts.crashLimit, this.opts.crashWindowMs);
    }
    entry.slot ??= this.leastLoaded();
    entry.slot.mims.add(spec.mimId);
    if (entry.slot.up) entry.slot.process?.send({ t: 'load', spec });
  }

  /** Removes the mim; resolves once its code no longer runs (in-flight requests finished). */
  async undeploy(mimId: string): Promise<void> {
    const entry = this.mims.get(mimId);
    if (entry === undefined) return;
    this.mims.delete(mimId);
    this.notify(() => this.opts.onMimRemoved?.(mimId));
    const dropped = [...entry.held, ...entry.waiting];
    entry.held = [];
    entry.waiting = [];
    for (const pending of dropped) this.complete(pending, 'ERR_MIM_NOT_FOUND', `mim ${mimId} was removed`);
    const slot = entry.slot;
    if (slot === undefined) return;
    slot.mims.delete(mimId);
    if (!slot.up || slot.process === undefined) return;
    const seq = this.nextId++;
    const process = slot.process;
    await new Promise<void>((resolve) => {
      this.unloading.set(seq, { slot, resolve });
      process.send({ t: 'unload', mimId, seq });
    });
  }

  dispatch(mimId: string, req: MimRequest, sink: ResponseSink): void {
    if (this.closing !== undefined) return safeFail(sink, 'ERR_SHUTTING_DOWN', 'the node is shutting down');
    const entry = this.mims.get(mimId);
    if (entry?.stopped === true)
      return safeFail(
        sink,
        'ERR_MIM_STOPPED',
        `mim ${mimId} was stopped after crashing its sandbox repeatedly`,
      );
    if (entry?.slot === undefined) return safeFail(sink, 'ERR_MIM_NOT_FOUND', `mim ${mimId} is not deployed`);
    const pending: Pending = {
      id: this.nextId++,
      mimId,
      request: req,
      sink,
      slot: entry.slot,
      createdAt: Date.now(),
      timeoutMs: entry.spec.timeoutMs,
      timer: undefined,
      sent: false,
      admittedBy: undefined,
      queuedIn: undefined,
      outputPaused: false,
    };
    if (entry.running >= this.concurrency && entry.waiting.length >= this.queueLength) {
      return safeFail(
        sink,
        'ERR_MIM_BUSY',
        `mim ${mimId} has ${entry.waiting.length} requests waiting already; retry later`,
        this.opts.logger,
      );
    }
    // The deadline runs from here: time spent queued counts against the mim's execution time.
    pending.timer = setTimeout(() => this.backstop(pending), pending.timeoutMs + BACKSTOP_MS);
    this.pending.set(pending.id, pending);
    sink.onAbort?.(() => this.abandon(pending));
    if (!this.pending.has(pending.id)) return;
    if (entry.running < this.concurrency) this.admit(entry, pending);
    else {
      pending.queuedIn = entry;
      entry.waiting.push(pending);
    }
  }

  /** Gives the request one of its mim's turns and sends it on its way. */
  private admit(entry: MimEntry, pending: Pending): void {
    entry.running++;
    pending.admittedBy = entry;
    if (entry.paused > 0) entry.held.push(pending);
    else if (pending.slot.up) this.send(pending);
    else pending.slot.queue.push(pending);
  }

  /** Admits waiting requests while the mim has turns free (oldest first). */
  private pump(entry: MimEntry): void {
    if (entry.pumping) return;
    entry.pumping = true;
    try {
      while (entry.running < this.concurrency && entry.waiting.length > 0) {
        const next = entry.waiting.shift() as Pending;
        next.queuedIn = undefined;
        if (this.pending.has(next.id)) this.admit(entry, next);
      }
    } finally {
      entry.pumping = false;
    }
  }

  /** The client went away or the sink cut the response: stop the request wherever it is. */
  private abandon(pending: Pending): void {
    if (!this.pending.has(pending.id)) return;
    if (pending.sent) pending.slot.process?.send({ t: 'cancel', id: pending.id });
    this.complete(pending);
  }

  /** The client is behind: pause the request's output in its sandbox until the sink drains. */
  private holdOutput(pending: Pending): void {
    const { sink } = pending;
    if (pending.outputPaused || sink.onDrain === undefined || !pending.sent) return;
    pending.outputPaused = true;
    const process = pending.slot.process;
    process?.send({ t: 'pause', id: pending.id });
    sink.onDrain(() => {
      if (!pending.outputPaused) return;
      pending.outputPaused = false;
      // A restarted process does not know the id; it ignores the message.
      if (this.pending.has(pending.id) && pending.slot.process === process)
        process?.send({ t: 'resume', id: pending.id });
    });
  }

  /**
   * Pauses a mim's traffic and has its sandbox process close the mim's DataStore handle, so the
   * node can replace or remove the store's files (restore). New requests for the mim are held
   * (their deadlines keep running), the ones in flight finish (each bounded by its deadline), then
   * close-store is sent and acknowledged. Resolves to the function that resumes the traffic: held
   * requests go out then, and the store is reopened by the first one that uses it. Pauses nest.
   */
  async pauseStore(mimId: string): Promise<() => void> {
    const entry = this.mims.get(mimId);
    if (entry === undefined) return () => undefined;
    entry.paused++;
    let resumed = false;
    const resume = (): void => {
      if (resumed) return;
      resumed = true;
      entry.paused--;
      if (entry.paused === 0) this.releaseHeld(entry);
    };
    try {
      await this.drained(mimId);
      const slot = entry.slot;
      const process = slot?.process;
      if (slot !== undefined && slot.up && process !== undefined) {
        const seq = this.nextId++;
        await new Promise<void>((resolve) => {
          this.unloading.set(seq, { slot, resolve });
          process.send({ t: 'close-store', mimId, seq });
        });
      }
    } catch (err) {
      resume();
      throw err;
    }
    return resume;
  }

  isStopped(mimId: string): boolean {
    return this.mims.get(mimId)?.stopped === true;
  }

  /** Index of the sandbox process a mim is assigned to (diagnostics and tests). */
  processOf(mimId: string): number | undefined {
    return this.mims.get(mimId)?.slot?.index;
  }

  stats(): SupervisorStats {
    return {
      processes: this.slots.filter((s) => s.up).length,
      restarts: this.restarts,
      inFlight: this.pending.size,
      queued: [...this.mims.values()].reduce((n, entry) => n + entry.waiting.length, 0),
    };
  }

  /** Stops taking requests, lets in-flight ones finish (up to the grace), then stops the sandboxes. */
  close(): Promise<void> {
    this.closing ??= this.closeAll();
    return this.closing;
  }

  private async startAll(): Promise<void> {
    for (let index = 0; index < this.opts.processes; index++) {
      this.slots.push({
        index,
        process: undefined,
        up: false,
        mims: new Set(),
        queue: [],
        startedAt: 0,
        restartDelay: RESTART_DELAY_MS,
        restartTimer: undefined,
        lastHeard: 0,
      });
    }
    try {
      await Promise.all(this.slots.map((slot) => this.spawn(slot)));
    } catch (err) {
      await this.close();
      throw err;
    }
    this.opts.logger.info({ processes: this.slots.length }, 'sandbox processes ready');
  }

  /** Starts the slot's process; once ready, loads its mims and sends the requests that waited. */
  private async spawn(slot: Slot): Promise<void> {
    const process = new SandboxProcess({
      message: (message) => this.onMessage(slot, message),
      exit: (code, signal) => this.onExit(slot, process, code, signal),
    });
    slot.process = process;
    slot.startedAt = Date.now();
    await process.ready;
    if (slot.process !== process || this.closing !== undefined) return;
    slot.up = true;
    slot.lastHeard = Date.now();
    for (const mimId of slot.mims) {
      const entry = this.mims.get(mimId);
      if (entry !== undefined && !entry.stopped) process.send({ t: 'load', spec: entry.spec });
    }
    const queue = slot.queue;
    slot.queue = [];
    for (const pending of queue) this.send(pending);
  }

  /** Resolves once no request of the mim is in a sandbox process. */
  private drained(mimId: string): Promise<void> {
    if (!this.hasInFlight(mimId)) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push({ mimId, resolve }));
  }

  private hasInFlight(mimId: string): boolean {
    for (const pending of this.pending.values()) if (pending.mimId === mimId && pending.sent) return true;
    return false;
  }

  private releaseHeld(entry: MimEntry): void {
    const held = entry.held;
    entry.held = [];
    for (const pending of held) {
      if (pending.slot.up) this.send(pending);
      else pending.slot.queue.push(pending);
    }
  }

  private send(pending: Pending): void {
    if (!this.pending.has(pending.id)) return;
    const entry = this.mims.get(pending.mimId);
    if (entry !== undefined && entry.paused > 0) {
      entry.held.push(pending);
      return;
    }
    if (entry?.stopped === true) {
      return this.complete(
        pending,
        'ERR_MIM_STOPPED',
        `mim ${pending.mimId} was stopped after crashing its sandbox repeatedly`,
      );
    }
    if (entry === undefined || entry.slot !== pending.slot) {
      return this.complete(pending, 'ERR_MIM_NOT_FOUND', `mim ${pending.mimId} is not deployed`);
    }
    // Time spent waiting for a restart counts against the mim's deadline.
    const timeoutMs = pending.timeoutMs - (Date.now() - pending.createdAt);
    if (timeoutMs <= 0)
      return this.complete(
        pending,
        'ERR_MIM_TIMEOUT',
        `mim ${pending.mimId} could not be reached within its execution time`,
      );
    const { request } = pending;
    pending.sent = true;
    pending.slot.process?.send({
      t: 'request',
      id: pending.id,
      mimId: pending.mimId,
      method: request.method,
      url: request.url,
      headers: request.headers,
      body: request.body,
      timeoutMs,
    } satisfies ToSandbox);
  }

  private onMessage(slot: Slot, message: FromSandbox): void {
    slot.lastHeard = Date.now();
    switch (message.t) {
      case 'log':
        return this.mimLog({ mimId: message.mimId, level: message.level, message: message.message });
      case 'diag':
        this.opts.logger[message.level](
          { sandbox: slot.index, ...(message.mimId === undefined ? {} : { mim: message.mimId }) },
          message.message,
        );
        return;
      case 'unloaded':
      case 'store-closed': {
        const waiter = this.unloading.get(message.seq);
        this.unloading.delete(message.seq);
        waiter?.resolve();
        return;
      }
      case 'ready':
        return;
      case 'socket-event': {
        // A request of an undeployed (or moved) mim may still be finishing: its events go nowhere.
        if (this.mims.get(message.mimId)?.slot !== slot) return;
        const event = { mimId: message.mimId, type: message.type, message: message.message ?? undefined };
        return this.notify(() => this.opts.onSocketEvent?.(event));
      }
    }
    const pending = this.pending.get(message.id);
    if (pending === undefined || pending.slot !== slot) return;
    const { sink } = pending;
    switch (message.t) {
      case 'respond':
        guard(this.opts.logger, () => {
          sink.head(message.status, message.headers);
          if (message.body !== null && message.body.byteLength > 0) sink.write(asBuffer(message.body));
          sink.end();
        });
        return this.complete(pending);
      case 'head':
        return guard(this.opts.logger, () => sink.head(message.status, message.headers));
      case 'chunk':
        return guard(this.opts.logger, () => {
          if (!sink.write(asBuffer(message.data))) this.holdOutput(pending);
        });
      case 'end':
        guard(this.opts.logger, () => sink.end());
        return this.complete(pending);
      case 'fail':
        return this.complete(pending, message.code, message.message);
    }
  }

  /** Forgets a request; with a code, answers it with that error first. */
  private complete(pending: Pending, code?: ErrorCode, message?: string): void {
    if (!this.pending.delete(pending.id)) return;
    clearTimeout(pending.timer);
    if (code !== undefined) safeFail(pending.sink, code, message ?? code, this.opts.logger);
    const queue = pending.queuedIn;
    if (queue !== undefined) {
      pending.queuedIn = undefined;
      const at = queue.waiting.indexOf(pending);
      if (at !== -1) queue.waiting.splice(at, 1);
    }
    const owner = pending.admittedBy;
    if (owner !== undefined) {
      pending.admittedBy = undefined;
      owner.running--;
      this.pump(owner);
    }
    if (pending.sent && this.drainWaiters.length > 0) this.wakeDrainWaiters(pending.mimId);
    if (this.pending.size === 0) this.onIdle?.();
  }

  private wakeDrainWaiters(mimId: string): void {
    if (!this.drainWaiters.some((w) => w.mimId === mimId) || this.hasInFlight(mimId)) return;
    const ready = this.drainWaiters.filter((w) => w.mimId === mimId);
    this.drainWaiters = this.drainWaiters.filter((w) => w.mimId !== mimId);
    for (const waiter of ready) waiter.resolve();
  }

  /** The sandbox never answered (it is wedged, or the answer is very late). */
  private backstop(pending: Pending): void {
    // Let IPC messages that arrived meanwhile be read first: timers run before I/O callbacks.
    setImmediate(() => {
      if (!this.pending.has(pending.id)) return;
      const slot = pending.slot;
      this.opts.logger.warn(
        { sandbox: slot.index, mim: pending.mimId, requestId: pending.request.requestId },
        'sandbox did not answer in time',
      );
      this.complete(
        pending,
        'ERR_MIM_TIMEOUT',
        `mim ${pending.mimId} did not answer within its execution time`,
      );
      if (pending.sent && slot.up && Date.now() - slot.lastHeard >= BACKSTOP_MS) {
        // A sandbox silent past a deadline is stuck: kill it rather than wait on it.
        this.opts.logger.error({ sandbox: slot.index }, 'sandbox process unresponsive; killing it');
        // New requests wait for the restart instead of going to the dying process.
        slot.up = false;
        slot.process?.kill();
      }
    });
  }

  private onExit(
    slot: Slot,
    process: SandboxProcess,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): void {
    if (slot.process !== process) return;
    slot.up = false;
    slot.process = undefined;
    for (const [seq, waiter] of this.unloading) {
      if (waiter.slot !== slot) continue;
      this.unloading.delete(seq);
      waiter.resolve();
    }
    const victims = [...this.pending.values()].filter((p) => p.slot === slot && p.sent);
    for (const pending of victims) {
      this.complete(pending, 'ERR_SANDBOX_CRASHED', 'the sandbox process serving the request crashed');
    }
    if (this.closing !== undefined) return;

    const crashedMims = new Set(victims.map((p) => p.mimId));
    this.opts.logger.warn(
      { sandbox: slot.index, code, signal, failedRequests: victims.length, mims: [...crashedMims] },
      'sandbox process exited; restarting it',
    );
    for (const mimId of crashedMims) {
      const entry = this.mims.get(mimId);
      if (entry === undefined || entry.stopped || entry.slot !== slot) continue;
      if (entry.crashes.record()) this.stopMim(entry);
    }
    this.scheduleRestart(slot);
  }

  private stopMim(entry: MimEntry): void {
    const { mimId } = entry.spec;
    entry.stopped = true;
    entry.slot?.mims.delete(mimId);
    entry.slot = undefined;
    const reason = `it crashed its sandbox process ${this.opts.crashLimit} times within ${this.opts.crashWindowMs} ms`;
    this.opts.logger.error({ mim: mimId }, `mim stopped: ${reason}`);
    try {
      this.opts.onMimStopped?.(mimId, reason);
    } catch (err) {
      this.opts.logger.error({ err }, 'onMimStopped handler failed');
    }
  }

  private scheduleRestart(slot: Slot): void {
    const livedMs = Date.now() - slot.startedAt;
    slot.restartDelay =
      livedMs >= STABLE_AFTER_MS ? RESTART_DELAY_MS : Math.min(slot.restartDelay * 2, RESTART_DELAY_MAX_MS);
    const delay = livedMs >= STABLE_AFTER_MS ? 0 : slot.restartDelay;
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (this.closing !== undefined) return;
      this.restarts++;
      this.spawn(slot).catch(() => {
        // It died before it was ready: onExit schedules the next attempt.
      });
    }, delay);
  }

  private leastLoaded(): Slot {
    let best: Slot | undefined;
    for (const slot of this.slots) {
      if (best === undefined || slot.mims.size < best.mims.size) best = slot;
    }
    if (best === undefined) throw new MimoeError('ERR_INTERNAL', 'the supervisor was not started');
    return best;
  }

  /** Calls a listener of the node's; one that throws must not take the supervisor down. */
  private notify(call: () => void): void {
    try {
      call();
    } catch (err) {
      this.opts.logger.error({ err }, 'supervisor listener failed');
    }
  }

  private mimLog(line: MimLogLine): void {
    if (this.opts.onMimLog !== undefined) {
      try {
        this.opts.onMimLog(line);
      } catch (err) {
        this.opts.logger.error({ err }, 'onMimLog handler failed');
      }
      return;
    }
    this.opts.logger[line.level]({ mim: line.mimId }, line.message);
  }

  private async closeAll(): Promise<void> {
    for (const entry of this.mims.values()) {
      const waiting = entry.waiting;
      entry.waiting = [];
      for (const pending of waiting) this.complete(pending, 'ERR_SHUTTING_DOWN', 'the node is shutting down');
    }
    for (const slot of this.slots) {
      clearTimeout(slot.restartTimer);
      const queue = slot.queue;
      slot.queue = [];
      for (const pending of queue) this.complete(pending, 'ERR_SHUTTING_DOWN', 'the node is shutting down');
    }
    if (this.pending.size > 0) {
      const grace = this.opts.shutdownGraceMs ?? DEFAULTS.shutdownGraceMs;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, grace);
        this.onIdle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.onIdle = undefined;
    }
    for (const pending of [...this.pending.values()])
      this.complete(pending, 'ERR_SHUTTING_DOWN', 'the node is shutting down');
    for (const waiter of this.unloading.values()) waiter.resolve();
    this.unloading.clear();
    for (const waiter of this.drainWaiters) waiter.resolve();
    this.drainWaiters = [];
    await Promise.all(
      this.slots.map((slot) => (slot.process === undefined ? Promise.resolve() : slot.process.stop())),
    );
    for (const slot of this.slots) slot.up = false;
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function safeFail(sink: ResponseSink, code: ErrorCode, message: string, logger?: Logger): void {
  try {
    sink.fail(new MimoeError(code, message));
  } catch (err) {
    logger?.error({ err }, 'response sink failed');
  }
}

/** A sink that throws (the HTTP layer's bug) must not take the supervisor down. */
function guard(logger: Logger, action: () => void): void {
  try {
    action();
  } catch (err) {
    logger.error({ err }, 'response sink failed');
  }
}
