import type { ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import { MimoeError } from '../../errors/index.js';
import type { ResponseSink } from '../../sandbox/types.js';
import { errorBody, toHttpError } from '../errors.js';

/**
 * Most bytes a response may hold buffered for its client before it is cut. The supervisor pauses
 * a mim as soon as its client is behind (write returns false), so only a response whose producer
 * ignores that (or one sent whole: at most a mim's burst, 16 MiB, see guest/response.ts) gets near.
 */
export const MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

/** Status logged for a request whose client went away before the answer (nginx's convention). */
const CLIENT_CLOSED = 499;

/** Most bytes of response headers a mim may set: clients refuse much larger heads. */
export const MAX_HEADER_BYTES = 64 * 1024;

/** Headers the node sets itself or that would corrupt the framing of the response. */
const HOP_BY_HOP = new Set(['connection', 'transfer-encoding', 'keep-alive', 'upgrade', 'content-length']);

/**
 * Writes a mim's response to the raw Node response. The mim's status and headers are checked
 * before they go out: a bad header from a mim is dropped (and logged), never a crash of the node.
 */
export class HttpResponseSink implements ResponseSink {
  private started = false;
  private done = false;
  private aborted = false;
  private abortListener: (() => void) | undefined;

  constructor(
    private readonly res: ServerResponse,
    private readonly requestId: string,
    private readonly log: FastifyBaseLogger,
    private readonly onFinish: (status: number) => void,
  ) {
    // 'close' before the end: the client went away. The mim's request is stopped, not finished
    // for nobody (a queued one gives up its place).
    res.once('close', () => {
      if (this.done) return;
      this.done = true;
      // The client went away, or the node cut the connection at the end of its shutdown grace.
      this.log.info('the connection closed before the mim answered');
      this.onFinish(CLIENT_CLOSED);
      this.abort();
    });
  }

  onAbort(callback: () => void): void {
    if (this.aborted) callback();
    else this.abortListener = callback;
  }

  onDrain(callback: () => void): void {
    if (this.done) return callback();
    const fire = (): void => {
      this.res.off('drain', fire);
      this.res.off('close', fire);
      callback();
    };
    this.res.on('drain', fire);
    this.res.on('close', fire);
  }

  private abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const listener = this.abortListener;
    this.abortListener = undefined;
    listener?.();
  }

  head(status: number, headers: Record<string, string | string[]>): void {
    if (this.started || this.done) return;
    // 1xx would leave the client waiting for a final response that never comes.
    if (!Number.isInteger(status) || status < 200 || status > 999) {
      this.fail(new MimoeError('ERR_MIM_EXCEPTION', `the mim set an invalid status code ${String(status)}`));
      return;
    }
    let headerBytes = 0;
    for (const [name, value] of Object.entries(headers)) {
      for (const v of Array.isArray(value) ? value : [value])
        headerBytes += name.length + String(v).length + 4;
    }
    if (headerBytes > MAX_HEADER_BYTES) {
      this.fail(
        new MimoeError(
          'ERR_MIM_EXCEPTION',
          `the mim set ${headerBytes} bytes of headers, more than ${MAX_HEADER_BYTES}`,
        ),
      );
      return;
    }
    this.started = true;
    this.res.statusCode = status;
    for (const [name, value] of Object.entries(headers)) {
      if (HOP_BY_HOP.has(name.toLowerCase())) continue;
      try {
        this.res.setHeader(name, value);
      } catch {
        this.log.warn({ header: name.slice(0, 64) }, 'dropped an invalid response header set by the mim');
      }
    }
    this.res.setHeader('x-request-id', this.requestId);
  }

  write(chunk: Buffer): boolean {
    if (!this.started || this.done) return true;
    const ok = this.res.write(chunk);
    if (this.res.writableLength > MAX_BUFFERED_BYTES) {
      // The client takes nothing and the producer goes on: cut the response, stop the mim.
      this.done = true;
      this.log.warn(
        { bufferedBytes: this.res.writableLength },
        'mim response cut: the client is not reading it',
      );
      this.res.destroy();
      this.onFinish(this.res.statusCode);
      this.abort();
      return true;
    }
    return ok;
  }

  end(): void {
    if (this.done) return;
    if (!this.started) this.head(200, {});
    this.done = true;
    this.res.end();
    this.onFinish(this.res.statusCode);
  }

  fail(error: MimoeError): void {
    if (this.done) return;
    this.done = true;
    const e = toHttpError(error);
    // Headers set but never flushed (a mim that wrote nothing yet) can still become a JSON error.
    if (this.started && !this.res.headersSent) {
      for (const name of this.res.getHeaderNames()) this.res.removeHeader(name);
      this.started = false;
    }
    if (this.started) {
      // The head is out: the only honest signal left is to cut the body short.
      this.log.warn({ err: { code: e.code, message: e.message } }, 'mim response cut short');
      this.res.destroy();
      this.onFinish(e.status);
      return;
    }
    const body = JSON.stringify(errorBody(e));
    this.res.writeHead(e.status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'x-request-id': this.requestId,
    });
    this.res.end(body);
    this.onFinish(e.status);
  }
}
