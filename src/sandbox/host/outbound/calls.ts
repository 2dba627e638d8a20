/**
 * The outbound calls of one request: started as the guest asks, at most MAX_ACTIVE at a time
 * (the rest wait here, in order, bounded by MAX_WAITING), their results queued for the guest's
 * next turn, and all of them aborted when the request ends: no callback outlives its context.
 * The queue of results is bounded in bytes; a streamed download waits (`room`) while it is full.
 */
import { isMimoeError } from '../../../errors/index.js';
import type { HttpDelivery } from '../../abi.js';
import { OutboundError, parseOutboundOptions, type OutboundRequest } from './options.js';
import { describeFailure, performCall, type CallScope } from './perform.js';

/** Calls of one request running at once: a mim fanning out to a dead address holds this many sockets. */
export const MAX_ACTIVE = 16;
/** Calls of one request waiting for a slot; past it, a call fails at once. */
export const MAX_WAITING = 4096;
/** Result bytes queued for the guest past which streamed downloads wait for it. */
const INBOX_HIGH_BYTES = 1024 * 1024;

export type CallEnv = Omit<CallScope, 'signal' | 'deliver' | 'room'>;

interface Waiting {
  readonly id: number;
  readonly request: OutboundRequest;
}

export class OutboundCalls {
  private readonly controllers = new Set<AbortController>();
  private readonly waiting: Waiting[] = [];
  private inbox: HttpDelivery[] = [];
  private inboxBytes = 0;
  private roomWaiters: (() => void)[] = [];
  private closed = false;

  /** @param onResult told when results are queued (the runner then plans a turn). */
  constructor(
    private readonly env: CallEnv,
    private readonly onResult: () => void,
  ) {}

  /** A `context.http.request` call from the guest (options not yet checked). */
  start(id: unknown, options: unknown): void {
    if (this.closed || typeof id !== 'number') return;
    let request: OutboundRequest;
    try {
      request = parseOutboundOptions(options);
    } catch (err) {
      this.deliver(id, 'error', { message: err instanceof Error ? err.message : String(err) }, true);
      return;
    }
    if (this.controllers.size < MAX_ACTIVE) {
      this.run(id, request);
    } else if (this.waiting.length < MAX_WAITING) {
      this.waiting.push({ id, request });
    } else {
      this.deliver(
        id,
        'error',
        { message: `too many outbound requests waiting (at most ${MAX_WAITING} per request)` },
        true,
      );
    }
  }

  /** The results queued since the last turn; taking them makes room for streams. */
  take(): HttpDelivery[] | undefined {
    if (this.inbox.length === 0) return undefined;
    const items = this.inbox;
    this.inbox = [];
    this.inboxBytes = 0;
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const wake of waiters) wake();
    return items;
  }

  /** The request is over: every call is aborted and nothing more is delivered. */
  close(): void {
    this.closed = true;
    this.waiting.length = 0;
    this.inbox = [];
    for (const controller of this.controllers) controller.abort();
    this.controllers.clear();

    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const wake of waiters) wake();
  }

  private run(id: number, request: OutboundRequest): void {
    const controller = new AbortController();
    this.controllers.add(controller);
    const scope: CallScope = {
      ...this.env,
      signal: controller.signal,
      deliver: (callback, argument, last) => {
        if (!controller.signal.aborted) this.deliver(id, callback, argument, last);
      },
      room: () => this.room(controller.signal),
    };
    performCall(request, scope)
      .catch((err: unknown) => {
        if (controller.signal.aborted) return;
        const answer = err instanceof OutboundError ? err.answer : undefined;
        const message = describeFailure(err, request);
        // A coded failure of the node's own (the file area's quota) keeps its code for the mim.
        const coded = isMimoeError(err) ? { message, code: err.code } : { message };
        scope.deliver('error', answer === undefined ? coded : { message, ...answer }, true);
      })
      .finally(() => {
        this.controllers.delete(controller);
        const next = this.waiting.shift();
        if (next !== undefined && !this.closed) this.run(next.id, next.request);
      });
  }

  private deliver(id: number, callback: 'success' | 'error', argument: object, last: boolean): void {
    if (this.closed) return;
    this.inbox.push([id, callback, argument, last]);
    this.inboxBytes += sizeOf(argument);
    this.onResult();
  }

  private room(signal: AbortSignal): Promise<void> {
    if (this.inboxBytes < INBOX_HIGH_BYTES || this.closed || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }
}

/** About what a result costs to hold and copy: its text, plus a little for the rest. */
function sizeOf(argument: object): number {
  const { data, content } = argument as { data?: unknown; content?: unknown };
  return (
    256 + (typeof data === 'string' ? data.length : 0) + (typeof content === 'string' ? content.length : 0)
  );
}
