/**
 * Argument checks for calls that come from mims. Errors are plain TypeErrors: the sandbox forwards
 * them into the mim as TypeErrors, the way a built-in API would fail on a bad argument.
 */

// With the u flag a surrogate class matches only unpaired surrogates: paired ones are one code point.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * A key or a tag: any string (empty and unicode included); numbers, bigints and booleans are
 * coerced with String() the way Web Storage does. A missing (undefined/null) or non-primitive name
 * is refused, as is a string with an unpaired surrogate: SQLite stores UTF-8, where every unpaired
 * surrogate becomes U+FFFD, so two different keys would silently become the same key.
 */
export function nameArg(method: string, what: 'key' | 'tag', value: unknown): string {
  let s: string;
  if (typeof value === 'string') s = value;
  else if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    s = String(value);
  else if (value === undefined || value === null) throw new TypeError(`${method}: the ${what} is missing`);
  else throw new TypeError(`${method}: the ${what} must be a string, got ${describe(value)}`);
  if (LONE_SURROGATE.test(s))
    throw new TypeError(`${method}: the ${what} contains an unpaired UTF-16 surrogate`);
  return s;
}

/**
 * Largest value a mim may store, in UTF-16 code units. A key/value store is no place for blobs
 * (the file area is), and an unbounded value would let one mim fill the node's memory and disk.
 */
export const MAX_VALUE_LENGTH = 16 * 1024 * 1024;

/**
 * Values are always stored as strings (runtime.md §3: `String(value)` on write). Unpaired
 * surrogates are refused as in keys: SQLite would silently store U+FFFD in their place.
 */
export function valueArg(method: string, value: unknown): string {
  const s = typeof value === 'string' ? value : String(value);
  if (s.length > MAX_VALUE_LENGTH) {
    throw new TypeError(
      `${method}: the value is longer than ${MAX_VALUE_LENGTH} characters; store big data as a file`,
    );
  }
  if (LONE_SURROGATE.test(s))
    throw new TypeError(`${method}: the value contains an unpaired UTF-16 surrogate`);
  return s;
}

export function callbackArg<F>(method: string, value: unknown): F {
  if (typeof value !== 'function')
    throw new TypeError(`${method}: the callback must be a function, got ${describe(value)}`);
  return value as F;
}

/** A non-negative integer; a string of digits is accepted too (mims often pass query-string values). */
export function countArg(method: string, what: string, value: unknown): number {
  const n =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^\d+$/.test(value)
        ? Number(value)
        : NaN;
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new TypeError(`${method}: ${what} must be a non-negative integer, got ${describe(value)}`);
  }
  return n;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string')
    return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return `${typeof value} ${String(value)}`;
  return typeof value === 'object' ? 'an object' : typeof value;
}
