import { Writable } from 'node:stream';
import { pino, type Logger, type DestinationStream } from 'pino';
import type { LogFormat } from '../config/options.js';

export type { Logger };

/** Header and field names whose values never reach a log line. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  // Plugins log their options at trace level (@fastify/multipart: busboyOptions.headers).
  '*.headers.authorization',
  '*.headers.cookie',
  'authorization',
  'apiKey',
  'token',
];

// eslint-disable-next-line no-control-regex -- the point is to find control characters
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/g;

/** Escapes control characters so no one (a mim's console output included) can forge log lines. */
function printable(text: string): string {
  return text.replace(CONTROL_CHARS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const LEVEL_NAMES: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};
const OMIT = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

/** `[2026-01-28 08:01:05.902Z] [info] message key=value`: the line format mimOE users know. */
export function formatTextLine(line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = new Date(typeof rec['time'] === 'number' ? rec['time'] : Date.now())
    .toISOString()
    .replace('T', ' ');
  const level = LEVEL_NAMES[typeof rec['level'] === 'number' ? rec['level'] : 30] ?? 'info';
  const extras: string[] = [];
  for (const [k, v] of Object.entries(rec)) {
    if (OMIT.has(k) || v === undefined) continue;
    extras.push(`${k}=${printable(typeof v === 'string' ? v : JSON.stringify(v))}`);
  }
  const msg = typeof rec['msg'] === 'string' ? printable(rec['msg']) : '';
  return `[${time}] [${level}] ${msg}${extras.length > 0 ? ' ' + extras.join(' ') : ''}\n`;
}

function textDestination(out: NodeJS.WritableStream): DestinationStream {
  return new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      for (const line of text.split('\n')) {
        if (line !== '') out.write(formatTextLine(line));
      }
      cb();
    },
  });
}

export interface LoggerOptions {
  level: string;
  format: LogFormat;
  /** Where lines go; stdout by default. Tests pass their own stream. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const out = options.destination ?? process.stdout;
  const dest: DestinationStream = options.format === 'json' ? out : textDestination(out);
  return pino(
    {
      level: options.level,
      base: undefined,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    dest,
  );
}

/** A logger that drops everything: for unit tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
