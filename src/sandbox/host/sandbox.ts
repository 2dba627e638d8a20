/**
 * The sandbox process: hosts the isolates of the mims the supervisor assigned to it and turns
 * IPC messages into requests on them. It holds no state worth saving: the supervisor re-sends
 * the loads after a restart.
 */
import type { ErrorCode } from '../../errors/index.js';
import {
  IPC_CHUNK_BYTES,
  isToSandbox,
  type FromSandbox,
  type ResponseHeaders,
  type ToSandbox,
} from '../protocol.js';
import type { GuestLogLevel } from '../abi.js';
import { LogLimiter } from './log-limiter.js';
import { MimHost, type MimHostDeps } from './mim-host.js';
import type { RunnerOutput } from './request-runner.js';
import { readRuntimeSource } from './runtime-source.js';

type RequestMessage = Extract<ToSandbox, { t: 'request' }>;

export async function runSandbox(): Promise<void> {
  if (process.send === undefined) {
    process.stderr.write('mimoe sandbox: must be started by the supervisor (no IPC channel)\n');
    process.exit(1);
  }
  const post = (message: FromSandbox): void => {
    if (!process.connected) return;
    // Errors here mean the supervisor is gone; 'disconnect' ends this process.
    process.send?.(message, undefined, undefined, () => undefined);
  };
  const diag = (level: 'info' | 'warn' | 'error', message: string, mimId?: string): void => {
    post(mimId === undefined ? { t: 'diag', level, message } : { t: 'diag', level, message, mimId });
  };

  const deps: MimHostDeps = {
    runtimeSource: await readRuntimeSource(),
    diag,
    onCatastrophe(message) {
      // isolated-vm's advice: V8 lost control of an isolate; the process cannot be trusted.
      process.stderr.write(`mimoe sandbox: catastrophic isolate error: ${message}\n`);
      process.abort();
    },
  };
  const mims = new Map<string, MimHost>();
  const limiters = new Map<string, LogLimiter>();

  const log = (mimId: string, level: GuestLogLevel, message: string): void => {
    let limiter = limiters.get(mimId);
    if (limiter === undefined) {
      limiter = new LogLimiter();
      limiters.set(mimId, limiter);
    }
    const pass = limiter.take((dropped) => {
      post({ t: 'log', mimId, level: 'warn', message: `${dropped} log lines dropped (rate limit)` });
    });
    if (pass) post({ t: 'log', mimId, level, message });
  };

  const sendBody = (id: number, data: Buffer): void => {
    for (let offset = 0; offset < data.byteLength; offset += IPC_CHUNK_BYTES) {
      post({ t: 'chunk', id, data: data.subarray(offset, offset + IPC_CHUNK_BYTES) });
    }
  };

  const outputFor = (id: number, mimId: string): RunnerOutput => ({
    respond(status: number, headers: ResponseHeaders, body: Buffer | undefined) {
      if (body === undefined || body.byteLength <= IPC_CHUNK_BYTES) {
        post({ t: 'respond', id, status, headers, body: body ?? null });
      } else {
        post({ t: 'head', id, status, headers });
        sendBody(id, body);
        post({ t: 'end', id });
      }
    },
    head: (status, headers) => post({ t: 'head', id, status, headers }),
    chunk: (data) => sendBody(id, data),
    end: () => post({ t: 'end', id }),
    fail: (code: ErrorCode, message: string) => post({ t: 'fail', id, code, message }),
    log: (level, message) => log(mimId, level, message),
  });

  const onRequest = (message: RequestMessage): void => {
    const host = mims.get(message.mimId);
    if (host === undefined) {
      post({
        t: 'fail',
        id: message.id,
        code: 'ERR_MIM_NOT_FOUND',
        message: 'the mim is not deployed on this node',
      });
      return;
    }
    host.handle(message, outputFor(message.id, message.mimId));
  };

  const onMessage = (message: ToSandbox): void => {
    switch (message.t) {
      case 'load': {
        const previous = mims.get(message.spec.mimId);
        const host = new MimHost(message.spec, deps);
        mims.set(message.spec.mimId, host);
        host.warm();
        // A redeploy replaces the mim: requests already running finish on the old isolate.
        if (previous !== undefined) void previous.retire();
        return;
      }
      case 'unload': {
        const host = mims.get(message.mimId);
        mims.delete(message.mimId);
        limiters.delete(message.mimId);
        const done = host === undefined ? Promise.resolve() : host.retire();
        void done.then(() => post({ t: 'unloaded', seq: message.seq }));
        return;
      }
      case 'request':
        onRequest(message);
        return;
    }
  };

  process.on('message', (message: unknown) => {
    if (isToSandbox(message)) onMessage(message);
  });
  // The supervisor went away (closed, or died): nothing left to serve.
  process.on('disconnect', () => process.exit(0));
  post({ t: 'ready' });
}
