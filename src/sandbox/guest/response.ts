/**
 * The `res` object a handler writes to (runtime.md §5). A plain, extensible object: helper
 * libraries add members such as `writeError`.
 */
import type { GuestChunk, GuestHeaders } from '../abi.js';
import { stringArg, type HostCaller } from './host.js';
import type { Outbox } from './outbox.js';
import { bytesOf, isBinary, utf8Decode } from './text.js';

/** Body pieces are sent together at the end of each entry call, or sooner past this many bytes. */
const COALESCE_BYTES = 64 * 1024;
/**
 * Most body bytes (characters, for strings) a request may write in one turn, i.e. without
 * yielding to the node: the bytes of one turn are all in flight at once, so a synchronous write
 * loop is cut here rather than ballooning the sandbox. The node paces the turns to the client.
 */
export const TURN_OUTPUT_LIMIT = 16 * 1024 * 1024;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FORBIDDEN_VALUE_CHARS = /[\r\n\0]/;

export interface GuestResponse {
  statusCode: number;
  setHeader(name: unknown, value: unknown): boolean;
  write(chunk?: unknown): boolean;
  end(body?: unknown): GuestResponse;
  writeMimeFile(path?: unknown, mimeType?: unknown): void;
  [member: string]: unknown;
}

export interface ResponseControl {
  readonly res: GuestResponse;
  /** True once `res.end()` was called. */
  readonly ended: () => boolean;
  /** Sends body pieces held back while inside an entry call. */
  readonly flush: () => void;
  /** The host called in: a new turn, with a fresh output allowance. */
  readonly newTurn: () => void;
}

/**
 * A body piece the host can copy out: a string, or a plain Uint8Array spanning its own buffer.
 * Numbers and booleans are sent as text; other objects are a TypeError, as in Node.
 */
function toChunk(value: unknown): GuestChunk | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (isBinary(value)) {
    const bytes = bytesOf(value);
    if (bytes.byteLength === 0) return undefined;
    // Copy subclass instances (Buffer) and partial views so exactly these bytes cross over.
    const exact =
      value instanceof Uint8Array &&
      value.constructor === Uint8Array &&
      bytes.byteOffset === 0 &&
      bytes.byteLength === bytes.buffer.byteLength;
    return exact ? bytes : new Uint8Array(bytes);
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  throw new TypeError('The "chunk" argument must be of type string or an instance of Buffer or Uint8Array');
}

function chunkLength(chunk: GuestChunk): number {
  return typeof chunk === 'string' ? chunk.length : chunk.byteLength;
}

function validStatus(value: unknown): number {
  const status = Number(value);
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new RangeError(`Invalid status code: ${String(value)}`);
  }
  return status;
}

function headerValue(name: string, value: unknown): string | string[] {
  const one = (v: unknown): string => {
    const text = String(v);
    if (FORBIDDEN_VALUE_CHARS.test(text))
      throw new TypeError(`Invalid character in header content ["${name}"]`);
    return text;
  };
  if (value === undefined) throw new TypeError(`Invalid value "undefined" for header "${name}"`);
  return Array.isArray(value) ? value.map(one) : one(value);
}

/** Decision (runtime.md §5): without a mim-set Content-Type, JSON bodies are sent as application/json. */
function looksLikeJson(body: GuestChunk | undefined): boolean {
  if (body === undefined) return false;
  const text = typeof body === 'string' ? body : utf8Decode(body);
  const first = /\S/.exec(text);
  if (first === null || '{["-0123456789tfn'.indexOf(first[0]) < 0) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * @param onEnd the response is complete
 * @param requestFlush body pieces wait outside an entry call (written from a promise callback):
 *   the host should call in soon to collect them. One request per batch, so a write loop in
 *   microtasks cannot flood the host with events.
 * @param call the host channel (res.writeMimeFile checks its file through it)
 */
export function createResponse(
  outbox: Outbox,
  onEnd: () => void,
  requestFlush: () => void,
  call: HostCaller,
): ResponseControl {
  const headers: GuestHeaders = {};
  let headSent = false;
  let ended = false;
  let pending: GuestChunk[] = [];
  let pendingBytes = 0;
  let turnBytes = 0;

  /** Counts a body piece against the turn's allowance; past it the write is refused. */
  const allow = (method: string, piece: GuestChunk | undefined): void => {
    if (piece === undefined) return;
    turnBytes += chunkLength(piece);
    if (turnBytes <= TURN_OUTPUT_LIMIT) return;
    const err = new Error(
      `${method}: more than ${TURN_OUTPUT_LIMIT / 1024 / 1024} MiB written without yielding; ` +
        'write large bodies in parts from timers (setImmediate) or use res.writeMimeFile',
    );
    throw Object.assign(err, { code: 'ERR_MIM_OUTPUT_LIMIT' });
  };

  const flush = (): void => {
    if (pending.length === 0) return;
    const pieces = pending;
    pending = [];
    pendingBytes = 0;
    // One string crosses over far cheaper than many small ones; bytes are joined by the host.
    const allText = pieces.every((piece) => typeof piece === 'string');
    outbox.send('chunks', allText ? [pieces.join('')] : pieces);
  };

  const sendHead = (): void => {
    const status = validStatus(res.statusCode);
    headSent = true;
    outbox.send('head', status, headers);
  };

  const res: GuestResponse = {
    statusCode: 200,
    setHeader(name: unknown, value: unknown): boolean {
      // Once the head is out, header changes cannot reach the client: ignored, as calls after end are.
      if (headSent) return true;
      const key = String(name);
      if (!TOKEN.test(key)) throw new TypeError(`Header name must be a valid HTTP token ["${key}"]`);
      headers[key.toLowerCase()] = headerValue(key, value);
      return true;
    },
    write(chunk?: unknown): boolean {
      if (ended) return false;
      const piece = toChunk(chunk);
      allow('res.write', piece);
      if (!headSent) sendHead();
      if (piece !== undefined && chunkLength(piece) > 0) {
        pending.push(piece);
        pendingBytes += chunkLength(piece);
        if (pendingBytes >= COALESCE_BYTES) flush();
        else if (!outbox.inEntry && pending.length === 1) requestFlush();
      }
      return true;
    },
    end(body?: unknown): GuestResponse {
      if (ended) return res;
      const piece = toChunk(body);
      allow('res.end', piece);
      if (!headSent) {
        const status = validStatus(res.statusCode);
        if (headers['content-type'] === undefined && looksLikeJson(piece))
          headers['content-type'] = 'application/json';
        ended = true;
        headSent = true;
        outbox.send('respond', status, headers, piece);
      } else {
        ended = true;
        if (piece !== undefined && chunkLength(piece) > 0) pending.push(piece);
        flush();
        outbox.send('end');
      }
      onEnd();
      return res;
    },
    /**
     * Sends a file of the mim's file area as the body, streamed from disk by the sandbox process,
     * and ends the response. A refused path is a TypeError and a missing file an Error (code
     * ERR_FILE_NOT_FOUND), thrown here so the mim can answer otherwise.
     */
    writeMimeFile(path?: unknown, mimeType?: unknown): void {
      if (ended) return;
      const file = stringArg('writeMimeFile', 'the path', path);
      call('fileSize', file);
      ended = true;
      if (!headSent) {
        const status = validStatus(res.statusCode);
        if (typeof mimeType === 'string' && mimeType !== '')
          headers['content-type'] = headerValue('content-type', mimeType);
        headSent = true;
        outbox.send('file', status, headers, file);
      } else {
        flush();
        outbox.send('file', null, null, file);
      }
      onEnd();
    },
  };
  return {
    res,
    ended: () => ended,
    flush,
    newTurn: () => {
      turnBytes = 0;
    },
  };
}
