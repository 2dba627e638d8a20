/**
 * Timers and immediates without a host thread per timer: the guest keeps its own queues and the
 * host calls `tick()` when the next one is due. They live in the request's context, so they die
 * with it.
 */

type Callback = (...args: unknown[]) => void;

interface Timer {
  readonly id: number;
  readonly callback: Callback;
  readonly args: unknown[];
  /** Repeat interval for setInterval; 0 for one-shot timers. */
  readonly repeat: number;
  due: number;
  /** Insertion order among timers due at the same time. */
  seq: number;
  cancelled: boolean;
}

interface Immediate {
  readonly id: number;
  readonly callback: Callback;
  readonly args: unknown[];
  cancelled: boolean;
}

/** Node's TIMEOUT_MAX: larger (or invalid) delays become 1 ms. */
const TIMEOUT_MAX = 2147483647;

function normaliseDelay(delay: unknown): number {
  const ms = Number(delay);
  return ms >= 1 && ms <= TIMEOUT_MAX ? ms : 1;
}

function before(a: Timer, b: Timer): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}

/** A binary min-heap of timers ordered by due time then insertion; cancelled ones are skipped lazily. */
class TimerHeap {
  private readonly items: Timer[] = [];

  peek(): Timer | undefined {
    return this.items[0];
  }

  push(timer: Timer): void {
    const items = this.items;
    items.push(timer);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent] as Timer;
      if (!before(timer, p)) break;
      items[i] = p;
      i = parent;
    }
    items[i] = timer;
  }

  pop(): Timer | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    let i = 0;
    const n = items.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && before(items[r] as Timer, items[l] as Timer) ? r : l;
      const c = items[child] as Timer;
      if (!before(c, last)) break;
      items[i] = c;
      i = child;
    }
    items[i] = last;
    return top;
  }
}

/** Plain functions (not methods): they become globals, called without a receiver. */
export interface TimerGlobals {
  readonly setTimeout: (callback: unknown, delay?: unknown, ...args: unknown[]) => number;
  readonly clearTimeout: (id: unknown) => void;
  readonly setInterval: (callback: unknown, delay?: unknown, ...args: unknown[]) => number;
  readonly clearInterval: (id: unknown) => void;
  readonly setImmediate: (callback: unknown, ...args: unknown[]) => number;
  readonly clearImmediate: (id: unknown) => void;
}

export class TimerQueues {
  private nextId = 1;
  private seq = 0;
  private readonly heap = new TimerHeap();
  private readonly timers = new Map<number, Timer>();
  private immediates: Immediate[] = [];
  private readonly immediateIds = new Map<number, Immediate>();

  /** @param onSchedule told the delay of each new timer or immediate (to wake the host from microtasks). */
  constructor(private readonly onSchedule: (delayMs: number) => void) {}

  globals(): TimerGlobals {
    const addTimer = (callback: unknown, delay: unknown, args: unknown[], repeat: boolean): number => {
      if (typeof callback !== 'function')
        throw new TypeError('The "callback" argument must be of type function');
      const ms = normaliseDelay(delay);
      const timer: Timer = {
        id: this.nextId++,
        callback: callback as Callback,
        args,
        repeat: repeat ? ms : 0,
        due: Date.now() + ms,
        seq: this.seq++,
        cancelled: false,
      };
      this.timers.set(timer.id, timer);
      this.heap.push(timer);
      this.onSchedule(ms);
      return timer.id;
    };
    const clearTimer = (id: unknown): void => {
      const timer = this.timers.get(Number(id));
      if (timer !== undefined) {
        timer.cancelled = true;
        this.timers.delete(timer.id);
      }
    };
    return {
      setTimeout: (callback, delay, ...args) => addTimer(callback, delay, args, false),
      setInterval: (callback, delay, ...args) => addTimer(callback, delay, args, true),
      clearTimeout: clearTimer,
      clearInterval: clearTimer,
      setImmediate: (callback, ...args) => {
        if (typeof callback !== 'function')
          throw new TypeError('The "callback" argument must be of type function');
        const immediate: Immediate = {
          id: this.nextId++,
          callback: callback as Callback,
          args,
          cancelled: false,
        };
        this.immediates.push(immediate);
        this.immediateIds.set(immediate.id, immediate);
        this.onSchedule(0);
        return immediate.id;
      },
      clearImmediate: (id) => {
        const immediate = this.immediateIds.get(Number(id));
        if (immediate !== undefined) {
          immediate.cancelled = true;
          this.immediateIds.delete(immediate.id);
        }
      },
    };
  }

  /**
   * One loop iteration. The handler runs like a Node I/O callback, so the order is Node's from
   * there: the immediates queued so far (check phase; the ones they add wait for the next tick),
   * then the timers due now (timers phase of the next iteration). Exceptions propagate: the caller
   * ends the request. `stop()` is checked between callbacks.
   */
  tick(stop: () => boolean): void {
    const batch = this.immediates;
    this.immediates = [];
    for (let i = 0; i < batch.length; i++) {
      const immediate = batch[i] as Immediate;
      if (immediate.cancelled) continue;
      if (stop()) {
        // Keep the rest for later (the request is over anyway, or the caller will tick again).
        this.immediates = batch.slice(i).concat(this.immediates);
        return;
      }
      this.immediateIds.delete(immediate.id);
      immediate.callback.apply(undefined, immediate.args);
    }
    const now = Date.now();
    for (;;) {
      const top = this.heap.peek();
      if (top === undefined || top.due > now || stop()) break;
      this.heap.pop();
      if (top.cancelled) continue;
      if (top.repeat > 0) {
        top.due = now + top.repeat;
        top.seq = this.seq++;
        this.heap.push(top);
      } else {
        this.timers.delete(top.id);
      }
      top.callback.apply(undefined, top.args);
    }
  }

  /** ms until the next callback is due: 0 when immediates are queued, -1 when nothing is scheduled. */
  nextDelay(): number {
    if (this.immediates.length > 0) return 0;
    for (;;) {
      const top = this.heap.peek();
      if (top === undefined) return -1;
      if (!top.cancelled) return Math.max(0, top.due - Date.now());
      this.heap.pop();
    }
  }
}
