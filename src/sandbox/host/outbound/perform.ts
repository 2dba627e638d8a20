/**
 * One outbound call of `context.http.request`, from options to the callbacks' arguments
 * (runtime.md §3): buffered (one `success` with the whole body), stream (a `success` per chunk,
 * then `{ done: true }`), proxy (no redirects followed, 3xx is a success) and outputFile (the body
 * goes to the mim's file area; the callbacks get progress). A non-2xx answer goes to `error` with
 * its status, body and headers. Bodies held in memory are capped; a stream waits while the mim
 * has not taken what it was sent (`room`), so a slow mim slows the download instead of growing
 * the node's memory.
 */
import { StringDecoder } from 'node:string_decoder';
import { errors, type Dispatcher } from 'undici';
import type { FileArea } from '../../../datastore/file-area.js';
import { isMimoeError } from '../../../errors/index.js';
import type { OutboundAgents } from './agents.js';
import { OutboundError, type OutboundRequest } from './options.js';

export type ResultHeaders = Record<string, string | string[]>;

export interface OutboundLimits {
  /** Largest body held in memory (buffered mode, error bodies). */
  readonly maxBodyBytes: number;
  /** Largest body written to an outputFile. */
  readonly maxFileBytes: number;
}

/** What a call needs from the request it belongs to. */
export interface CallScope {
  readonly agents: OutboundAgents;
  readonly limits: OutboundLimits;
  readonly files: () => FileArea;
  /** Extra headers for this URL (the node's mark on calls to itself), or undefined. */
  readonly markFor: (url: URL) => Record<string, string> | undefined;
  readonly signal: AbortSignal;
  deliver(callback: 'success' | 'error', argument: object, last: boolean): void;
  /** Resolves when the mim has taken enough of what it was sent. */
  room(): Promise<void>;
}

function toHeaders(raw: Record<string, string | string[] | undefined>): ResultHeaders {
  const out: ResultHeaders = {};
  for (const [name, value] of Object.entries(raw)) if (value !== undefined) out[name] = value;
  return out;
}

function contentLength(headers: ResultHeaders): number | undefined {
  const value = headers['content-length'];
  const n = typeof value === 'string' ? Number(value) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** Reads a body as text, failing past `limit` bytes (checked early from Content-Length too). */
async function readText(
  body: Dispatcher.ResponseData['body'],
  headers: ResultHeaders,
  limit: number,
): Promise<string> {
  const declared = contentLength(headers);
  if (declared !== undefined && declared > limit)
    throw new OutboundError(`the response body (${declared} bytes) exceeds the limit of ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > limit) throw new OutboundError(`the response body exceeds the limit of ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

/** The message a mim sees for a failed call: what went wrong, without the node's internals. */
export function describeFailure(err: unknown, request: OutboundRequest): string {
  if (err instanceof OutboundError) return err.message;
  // The file area's own failures (its quota, a refused path) say what went wrong already.
  if (isMimoeError(err)) return err.message;
  if (err instanceof errors.ConnectTimeoutError)
    return `connection to ${request.url.host} timed out after ${request.connectTimeoutMs} ms`;
  if (err instanceof errors.HeadersTimeoutError || err instanceof errors.BodyTimeoutError)
    return `no data from ${request.url.host} for ${request.socketTimeoutMs} ms (socket timeout)`;
  if (err instanceof errors.ResponseExceededMaxSizeError) return 'the response is too large';
  // undici's own wording speaks of its Client and Pool, which mean nothing to a mim.
  if (err instanceof Error && err.message.startsWith('Redirect loop'))
    return `request to ${request.url.host} failed: a redirect loop`;
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const detail = err.message !== '' ? err.message : typeof code === 'string' ? code : err.name;
    return `request to ${request.url.host} failed: ${detail}`;
  }
  return `request to ${request.url.host} failed`;
}

export async function performCall(request: OutboundRequest, scope: CallScope): Promise<void> {
  const mark = scope.markFor(request.url);
  // A call carrying the node's mark never follows a redirect: the mark must not leave the node.
  const follow = request.mode !== 'proxy' && mark === undefined;
  const dispatcher = scope.agents.dispatcher(request.connectTimeoutMs, follow);
  const response = await dispatcher.request({
    origin: request.url.origin,
    path: `${request.url.pathname}${request.url.search}`,
    method: request.method,
    headers: mark === undefined ? request.headers : { ...request.headers, ...mark },
    body: request.body ?? null,
    signal: scope.signal,
    headersTimeout: request.socketTimeoutMs,
    bodyTimeout: request.socketTimeoutMs,
  });
  const { statusCode: status, body } = response;
  // Destroying an unread body emits an abort error: it is expected, and must not crash the process.
  body.on('error', () => undefined);
  try {
    const headers = toHeaders(response.headers);
    const ok = (status >= 200 && status < 300) || (request.mode === 'proxy' && status >= 300 && status < 400);
    if (!ok) {
      const content = await readText(body, headers, scope.limits.maxBodyBytes);
      throw new OutboundError(`the server answered ${status}`, { status, headers, content });
    }
    if (request.outputFile !== undefined)
      return await toFile(request, request.outputFile, body, status, headers, scope);
    if (request.mode === 'stream') return await streamed(body, status, headers, scope);
    const data = await readText(body, headers, scope.limits.maxBodyBytes);
    scope.deliver('success', { data, status, headers }, true);
  } finally {
    // An unread body holds its connection: always let it go.
    body.destroy();
  }
}

async function streamed(
  body: Dispatcher.ResponseData['body'],
  status: number,
  headers: ResultHeaders,
  scope: CallScope,
): Promise<void> {
  const decoder = new StringDecoder('utf8');
  for await (const chunk of body as AsyncIterable<Buffer>) {
    const data = decoder.write(chunk);
    if (data === '') continue;
    scope.deliver('success', { done: false, data, status, headers }, false);
    await scope.room();
  }
  const rest = decoder.end();
  if (rest !== '') scope.deliver('success', { done: false, data: rest, status, headers }, false);
  scope.deliver('success', { done: true }, true);
}

async function toFile(
  request: OutboundRequest,
  file: string,
  body: Dispatcher.ResponseData['body'],
  status: number,
  headers: ResultHeaders,
  scope: CallScope,
): Promise<void> {
  const limit = scope.limits.maxFileBytes;
  const declared = contentLength(headers);
  if (declared !== undefined && declared > limit)
    throw new OutboundError(
      `the response body (${declared} bytes) exceeds the outputFile limit of ${limit} bytes`,
    );
  const files = scope.files();
  // A body known to be too large for the mim's file area is refused before a byte is written.
  if (declared !== undefined) files.assertRoom(file, declared);
  const write = files.createWriteStream(file);
  let size = 0;
  const progress = (): string => JSON.stringify({ size, totalSize: declared ?? size });
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.byteLength;
      if (size > limit)
        throw new OutboundError(`the response body exceeds the outputFile limit of ${limit} bytes`);
      // Fails with the quota's error as soon as the body would not fit.
      await write.write(chunk);
      if (request.mode === 'stream') {
        scope.deliver('success', { done: false, data: progress(), status, headers }, false);
        await scope.room();
      }
    }
    await write.commit();
  } catch (err) {
    await write.abort();
    throw err;
  }
  if (request.mode === 'stream') scope.deliver('success', { done: true }, true);
  else scope.deliver('success', { data: progress(), status, headers }, true);
}
