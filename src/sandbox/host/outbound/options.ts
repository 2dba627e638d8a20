/**
 * The options of `context.http.request` (runtime.md §3) as the host takes them: plain data from
 * the guest, checked here, turned into what the client needs. Every refusal is an OutboundError
 * whose message the mim's `error` callback receives.
 */

export type OutboundMode = 'buffer' | 'stream' | 'proxy';

export interface OutboundRequest {
  readonly url: URL;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body: string | undefined;
  readonly connectTimeoutMs: number;
  readonly socketTimeoutMs: number;
  /** Where the body goes in the mim's file area instead of the callbacks. */
  readonly outputFile: string | undefined;
  readonly mode: OutboundMode;
}

/** A request the host refuses or fails: the message is for the mim (no node paths in it). */
export class OutboundError extends Error {
  constructor(
    message: string,
    /** The answer's status, headers and body, when the failure is a non-2xx answer. */
    readonly answer?: { status: number; headers: Record<string, string | string[]>; content: string },
  ) {
    super(message);
  }
}

/** runtime.md §3: the reference engine's observed read ceiling. */
export const DEFAULT_SOCKET_TIMEOUT_MS = 20_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** Longest timeout a mim may ask for (its request's own time limit ends the call anyway). */
const MAX_TIMEOUT_MS = 3_600_000;

const METHOD = /^[A-Za-z]{1,20}$/;
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}$/;
/** Field values: visible characters, spaces and tabs; never CR, LF or NUL (no header smuggling). */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Headers the client owns: a mim setting them could desynchronise the connection. */
const CLIENT_OWNED = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'host',
  // The node's mark on a mim's calls to itself (see outbound/client.ts): never the mim's to set.
  'x-mimoe-origin',
]);
const MAX_HEADERS = 100;
const MAX_HEADER_BYTES = 64 * 1024;

function fail(message: string): never {
  throw new OutboundError(message);
}

function timeout(name: string, value: unknown, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  const ms = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0)
    fail(`${name} must be a positive number of milliseconds`);
  return Math.min(Math.ceil(ms), MAX_TIMEOUT_MS);
}

function parseUrl(given: unknown): URL {
  if (typeof given !== 'string' || given.trim() === '') fail('url must be a non-empty string');
  const raw = given.trim();
  // runtime.md §3: a URL without a scheme is taken as http://.
  const withScheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(raw) ? raw : `http://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    fail(`url ${JSON.stringify(raw.slice(0, 200))} is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    fail(`url scheme ${url.protocol} is not supported (http and https are)`);
  if (url.username !== '' || url.password !== '') fail('url must not carry credentials; use authorization');
  return url;
}

function addHeader(headers: Record<string, string>, name: string, value: string): void {
  const key = name.trim().toLowerCase();
  if (!HEADER_NAME.test(key)) fail(`invalid header name ${JSON.stringify(name.slice(0, 100))}`);
  if (!HEADER_VALUE.test(value)) fail(`invalid value for header ${key}`);
  if (CLIENT_OWNED.has(key)) fail(`header ${key} is set by the node, not by the mim`);
  headers[key] = value.trim();
}

/**
 * The legacy `authorization` quirk (runtime.md §3): extra headers smuggled after CRLF. The first
 * line is the Authorization value; each further `name: value` line is a header.
 */
function addAuthorization(headers: Record<string, string>, raw: unknown): void {
  if (raw === undefined || raw === null || raw === '') return;
  if (typeof raw !== 'string') fail('authorization must be a string');
  const lines = raw.split(/\r?\n/);
  const first = (lines[0] ?? '').replace(/\r$/, '');
  if (first !== '') addHeader(headers, 'authorization', first);
  for (const line of lines.slice(1)) {
    if (line.trim() === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0)
      fail(`authorization: extra header line ${JSON.stringify(line.slice(0, 100))} has no name`);
    addHeader(headers, line.slice(0, colon), line.slice(colon + 1));
  }
}

export function parseOutboundOptions(raw: unknown): OutboundRequest {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('options must be an object');
  const o = raw as Record<string, unknown>;
  const url = parseUrl(o['url']);
  const type = o['type'] ?? 'GET';
  if (typeof type !== 'string' || !METHOD.test(type)) fail('type must be an HTTP method such as GET or POST');
  const method = type.toUpperCase();
  if (method === 'CONNECT' || method === 'TRACE') fail(`method ${method} is not allowed`);

  const headers: Record<string, string> = {};
  const given = o['headers'];
  if (given !== undefined && given !== null) {
    if (typeof given !== 'object' || Array.isArray(given)) fail('headers must be an object');
    const entries = Object.entries(given as Record<string, unknown>);
    if (entries.length > MAX_HEADERS) fail(`at most ${MAX_HEADERS} headers may be sent`);
    for (const [name, value] of entries) {
      if (value === undefined || value === null) continue;
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean')
        fail(`header ${name} must be a string`);
      addHeader(headers, name, String(value));
    }
  }
  addAuthorization(headers, o['authorization']);
  let headerBytes = 0;
  for (const [name, value] of Object.entries(headers)) headerBytes += name.length + value.length + 4;
  if (headerBytes > MAX_HEADER_BYTES) fail(`headers exceed ${MAX_HEADER_BYTES} bytes`);

  const data = o['data'];
  if (data !== undefined && data !== null && typeof data !== 'string')
    fail('data must be a string or an object');
  const body = typeof data === 'string' ? data : undefined;
  // The guest JSON-encoded an object body: it says so, and the body is sent as JSON.
  if (body !== undefined && o['dataIsJson'] === true && headers['content-type'] === undefined)
    headers['content-type'] = 'application/json';

  const outputFile = o['outputFile'];
  if (
    outputFile !== undefined &&
    outputFile !== null &&
    (typeof outputFile !== 'string' || outputFile === '')
  )
    fail('outputFile must be a non-empty string (a path in the file area)');
  const mode = o['mode'];
  if (mode !== undefined && mode !== null && mode !== 'stream' && mode !== 'proxy')
    fail('mode must be "stream" or "proxy"');

  return {
    url,
    method,
    headers,
    body,
    connectTimeoutMs: timeout('connectionTimeout', o['connectionTimeout'], DEFAULT_CONNECT_TIMEOUT_MS),
    socketTimeoutMs: timeout('socketTimeout', o['socketTimeout'], DEFAULT_SOCKET_TIMEOUT_MS),
    outputFile: typeof outputFile === 'string' ? outputFile : undefined,
    mode: mode === 'stream' || mode === 'proxy' ? mode : 'buffer',
  };
}
