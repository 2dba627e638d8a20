/**
 * Checks what comes out of a guest. The runtime is ours, but it runs in the mim's context, where
 * the mim can tamper with prototypes: nothing it sends is trusted without a check.
 */
import type { GuestLogLevel } from '../abi.js';
import type { ResponseHeaders } from '../protocol.js';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const FORBIDDEN_VALUE_CHARS = /[\r\n\0]/;
const LOG_LEVELS = new Set<string>(['debug', 'info', 'warn', 'error']);

export function toStatus(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 100 && value <= 599
    ? value
    : undefined;
}

function headerValue(value: unknown): string | string[] | undefined {
  if (typeof value === 'string') return FORBIDDEN_VALUE_CHARS.test(value) ? undefined : value;
  if (
    Array.isArray(value) &&
    value.every((v): v is string => typeof v === 'string' && !FORBIDDEN_VALUE_CHARS.test(v))
  ) {
    return value;
  }
  return undefined;
}

/** Lower-case token names with string (or string list) values; anything else is dropped. */
export function toHeaders(value: unknown): ResponseHeaders {
  const headers: ResponseHeaders = {};
  if (value === null || typeof value !== 'object') return headers;
  for (const [name, raw] of Object.entries(value as Record<string, unknown>)) {
    const v = headerValue(raw);
    if (TOKEN.test(name) && v !== undefined) headers[name] = v;
  }
  return headers;
}

/** A body piece as bytes: strings UTF-8 encoded, Uint8Arrays wrapped without a copy. */
export function toBytes(value: unknown): Buffer | undefined {
  if (typeof value === 'string') return value.length === 0 ? undefined : Buffer.from(value, 'utf8');
  if (value instanceof Uint8Array)
    return value.byteLength === 0 ? undefined : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return undefined;
}

export function toLogLevel(value: unknown): GuestLogLevel | undefined {
  return typeof value === 'string' && LOG_LEVELS.has(value) ? (value as GuestLogLevel) : undefined;
}

export function toText(value: unknown, maxChars: number): string {
  const text = typeof value === 'string' ? value : String(value);
  return text.length > maxChars ? text.slice(0, maxChars) : text;
}
