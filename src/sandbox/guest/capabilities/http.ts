/**
 * `context.http.request` (runtime.md §3): the guest checks the options' shape, keeps the callbacks
 * under a call id and hands plain options to the host, which performs the request and sends the
 * results back (HttpDelivery) for the next turn. Callbacks run as Node's I/O callbacks do: from
 * the event loop, never inside request(). They die with the request's context.
 */
import type { HttpDelivery } from '../../abi.js';
import { describe, plainData } from '../host.js';

type Callback = (argument: unknown) => void;

interface Pending {
  readonly success: Callback | undefined;
  readonly error: Callback | undefined;
}

/** The options passed on as data; anything else on the object (functions included) is ignored. */
const DATA_OPTIONS = [
  'url',
  'type',
  'headers',
  'authorization',
  'connectionTimeout',
  'socketTimeout',
  'outputFile',
  'mode',
] as const;

function callback(name: string, value: unknown): Callback | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'function')
    throw new TypeError(`context.http.request: ${name} must be a function, got ${describe(value)}`);
  return value as Callback;
}

export class HttpCalls {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly send: (callId: number, options: unknown) => void) {}

  request(options: unknown): void {
    if (options === null || typeof options !== 'object' || Array.isArray(options))
      throw new TypeError(`context.http.request: options must be an object, got ${describe(options)}`);
    const o = options as Record<string, unknown>;
    if (typeof o['url'] !== 'string' || o['url'] === '')
      throw new TypeError(`context.http.request: url must be a non-empty string, got ${describe(o['url'])}`);
    const pending: Pending = {
      success: callback('success', o['success']),
      error: callback('error', o['error']),
    };
    const copy: Record<string, unknown> = {};
    for (const name of DATA_OPTIONS) {
      const value = o[name];
      if (value !== undefined) copy[name] = plainData('context.http.request', value);
    }
    const data = o['data'];
    if (typeof data === 'string') {
      copy['data'] = data;
    } else if (data !== undefined && data !== null) {
      copy['data'] = JSON.stringify(plainData('context.http.request', data));
      copy['dataIsJson'] = true;
    }
    const id = this.nextId++;
    this.pending.set(id, pending);
    this.send(id, copy);
  }

  /** Runs the callbacks of the results that arrived; `stop` is checked between them. */
  deliver(items: readonly HttpDelivery[], stop: () => boolean): void {
    for (let i = 0; i < items.length && !stop(); i++) {
      const [id, kind, argument, last] = items[i] as HttpDelivery;
      const pending = this.pending.get(id);
      if (pending === undefined) continue;
      if (last) this.pending.delete(id);
      const fn = kind === 'success' ? pending.success : pending.error;
      if (fn !== undefined) fn(argument);
    }
  }
}

export function createHttp(calls: HttpCalls): Record<string, unknown> {
  return {
    request(options: unknown): void {
      calls.request(options);
    },
  };
}
