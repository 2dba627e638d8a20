import type { ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import { MimoeError } from '../../errors/index.js';
import type { ResponseSink } from '../../sandbox/types.js';
import { errorBody, toHttpError } from '../errors.js';

/** Headers the node sets itself or that would corrupt the framing of the response. */
const HOP_BY_HOP = new Set(['connection', 'transfer-encoding', 'keep-alive', 'upgrade', 'content-length']);

/**
 * Writes a mim's response to the raw Node response. The mim's status and headers are checked
 * before they go out: a bad header from a mim is dropped (and logged), never a crash of the node.
 */
export class HttpResponseSink implements ResponseSink {
  private started = false;
  private done = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly requestId: string,
    private readonly log: FastifyBaseLogger,
    private readonly onFinish: (status: number) => void,
  ) {}

  head(status: number, headers: Record<string, string | string[]>): void {
    if (this.started || this.done) return;
    // 1xx would leave the client waiting for a final response that never comes.
    if (!Number.isInteger(status) || status < 200 || status > 999) {
      this.fail(new MimoeError('ERR_MIM_EXCEPTION', `the mim set an invalid status code ${String(status)}`));
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

  write(chunk: Buffer): void {
    if (!this.started || this.done) return;
    this.res.write(chunk);
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
