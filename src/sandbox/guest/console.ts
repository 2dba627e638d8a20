/**
 * The `console` global: output goes to the node's log, tagged with the mim by the host. Messages
 * are formatted here (on the mim's own CPU budget), cut to a maximum length, and a request may
 * send a bounded number of lines so a chatty loop cannot flood the host.
 */
import { GUEST_LOG_MAX_CHARS, GUEST_LOG_MAX_LINES, type GuestLogLevel } from '../abi.js';

const MAX_DEPTH = 3;
const MAX_ITEMS = 100;

function inspect(value: unknown, depth: number, seen: unknown[]): string {
  switch (typeof value) {
    case 'string':
      return depth === 0 ? value : JSON.stringify(value);
    case 'number':
    case 'boolean':
    case 'undefined':
      return String(value);
    case 'bigint':
      return `${String(value)}n`;
    case 'symbol':
      return value.toString();
    case 'function': {
      const name = (value as { name?: unknown }).name;
      return typeof name === 'string' && name !== '' ? `[Function: ${name}]` : '[Function (anonymous)]';
    }
  }
  if (value === null) return 'null';
  const obj = value as object;
  if (obj instanceof Error) return `${obj.name}: ${obj.message}`;
  if (obj instanceof Date) return isNaN(obj.getTime()) ? 'Invalid Date' : obj.toISOString();
  if (obj instanceof RegExp) return String(obj);
  if (seen.indexOf(obj) >= 0) return '[Circular]';
  if (depth >= MAX_DEPTH) return Array.isArray(obj) ? '[Array]' : '[Object]';
  seen.push(obj);
  try {
    if (ArrayBuffer.isView(obj)) {
      const bytes = new Uint8Array(obj.buffer, obj.byteOffset, Math.min(obj.byteLength, 50));
      const hex: string[] = [];
      for (let i = 0; i < bytes.length; i++) hex.push(((bytes[i] as number) + 0x100).toString(16).slice(1));
      return `<${obj.constructor.name} ${hex.join(' ')}${obj.byteLength > 50 ? ' ...' : ''}>`;
    }
    if (Array.isArray(obj)) {
      const parts: string[] = [];
      for (let i = 0; i < obj.length && i < MAX_ITEMS; i++) parts.push(inspect(obj[i], depth + 1, seen));
      if (obj.length > MAX_ITEMS) parts.push(`... ${obj.length - MAX_ITEMS} more items`);
      return `[ ${parts.join(', ')} ]`;
    }
    const keys = Object.keys(obj);
    const parts: string[] = [];
    for (let i = 0; i < keys.length && i < MAX_ITEMS; i++) {
      const key = keys[i] as string;
      parts.push(
        `${/^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key)}: ${inspect((obj as Record<string, unknown>)[key], depth + 1, seen)}`,
      );
    }
    if (keys.length > MAX_ITEMS) parts.push(`... ${keys.length - MAX_ITEMS} more properties`);
    return parts.length === 0 ? '{}' : `{ ${parts.join(', ')} }`;
  } finally {
    seen.pop();
  }
}

function safeInspect(value: unknown): string {
  try {
    return inspect(value, 0, []);
  } catch {
    // A getter or proxy threw while being looked at.
    return '[uninspectable]';
  }
}

/** `util.format`-like: printf directives in a leading string, then the other arguments inspected. */
export function formatArgs(args: unknown[]): string {
  let first = 0;
  let out = '';
  const head = args[0];
  if (typeof head === 'string' && head.indexOf('%') >= 0) {
    first = 1;
    out = head.replace(/%([sdifjoOc%])/g, (match, directive: string) => {
      if (directive === '%') return '%';
      if (first >= args.length) return match;
      const arg = args[first++];
      switch (directive) {
        case 's':
          return typeof arg === 'string' ? arg : safeInspect(arg);
        case 'd':
        case 'i': {
          const n = Number(arg);
          return String(directive === 'i' ? Math.trunc(n) : n);
        }
        case 'f':
          return String(Number(arg));
        case 'j':
          try {
            return JSON.stringify(arg);
          } catch {
            return '[Circular]';
          }
        case 'c':
          return '';
        default:
          return safeInspect(arg);
      }
    });
  }
  for (let i = first; i < args.length; i++) {
    const piece = typeof args[i] === 'string' ? (args[i] as string) : safeInspect(args[i]);
    out = i === 0 ? piece : `${out} ${piece}`;
  }
  return out;
}

export type LogSink = (level: GuestLogLevel, message: string) => void;

export interface GuestConsole {
  log(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  debug(...args: unknown[]): void;
  trace(...args: unknown[]): void;
  dir(value: unknown): void;
}

export function createConsole(sink: LogSink): GuestConsole {
  let lines = 0;
  let dropped = 0;
  const write = (level: GuestLogLevel, args: unknown[]): void => {
    if (lines >= GUEST_LOG_MAX_LINES) {
      dropped++;
      if (dropped === 1)
        sink(
          'warn',
          `console output limit reached (${GUEST_LOG_MAX_LINES} lines per request); further lines dropped`,
        );
      return;
    }
    lines++;
    let message = formatArgs(args);
    if (message.length > GUEST_LOG_MAX_CHARS) {
      message = `${message.slice(0, GUEST_LOG_MAX_CHARS)}... [${message.length - GUEST_LOG_MAX_CHARS} more characters]`;
    }
    sink(level, message);
  };
  return {
    log: (...args) => write('info', args),
    info: (...args) => write('info', args),
    warn: (...args) => write('warn', args),
    error: (...args) => write('error', args),
    debug: (...args) => write('debug', args),
    trace: (...args) => write('debug', args),
    dir: (value) => write('info', [value]),
  };
}
