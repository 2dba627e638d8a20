/**
 * The guest's end of the synchronous host channel (see ../abi.ts): calls the sandbox process and
 * turns a failure into the exception the mim sees. Arguments must be copyable (strings, numbers,
 * booleans, null, plain arrays and objects); the capability modules check and convert them first.
 */
import type { GuestHostCall, HostOp } from '../abi.js';

export type HostCaller = (op: HostOp, ...args: unknown[]) => unknown;

interface CodedError extends Error {
  code?: string;
}

export function createHostCaller(host: GuestHostCall): HostCaller {
  return (op, ...args) => {
    const reply = host(op, ...args);
    if (reply[0] === 0) return reply[1];
    const [, name, message, code] = reply;
    const err: CodedError = name === 'TypeError' ? new TypeError(message) : new Error(message);
    if (code !== null) err.code = code;
    throw err;
  };
}

/** How a value is named in argument errors (the host's datastore/args.ts says it the same way). */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string')
    return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return `${typeof value} ${String(value)}`;
  return typeof value === 'object' ? 'an object' : typeof value;
}

/** A key or tag: strings as they are, numbers and booleans as String() (as Web Storage does). */
export function nameArg(method: string, what: 'key' | 'tag', value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  if (value === undefined || value === null) throw new TypeError(`${method}: the ${what} is missing`);
  throw new TypeError(`${method}: the ${what} must be a string, got ${describe(value)}`);
}

export function callbackArg<F>(method: string, value: unknown): F {
  if (typeof value !== 'function')
    throw new TypeError(`${method}: the callback must be a function, got ${describe(value)}`);
  return value as F;
}

/** A string argument passed on as it is (the host says what is wrong with it). */
export function stringArg(method: string, what: string, value: unknown): string {
  if (typeof value !== 'string')
    throw new TypeError(`${method}: ${what} must be a string, got ${describe(value)}`);
  return value;
}

/**
 * A copy of a mim's options object holding only copyable data: getters and proxies run here, in
 * the mim's own context, and the host sees plain values. Functions and symbols are refused.
 */
export function plainData(method: string, value: unknown, depth = 0): unknown {
  if (depth > 8) throw new TypeError(`${method}: options are nested too deeply`);
  if (value === null || value === undefined) return value;
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
      return value;
    case 'object': {
      if (Array.isArray(value)) {
        const out: unknown[] = [];
        for (let i = 0; i < value.length; i++) out.push(plainData(method, value[i], depth + 1));
        return out;
      }
      const out: Record<string, unknown> = {};
      const keys = Object.keys(value);
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i] as string;
        out[key] = plainData(method, (value as Record<string, unknown>)[key], depth + 1);
      }
      return out;
    }
    default:
      throw new TypeError(
        `${method}: options may hold only strings, numbers, booleans, null, arrays and objects`,
      );
  }
}
