/**
 * The sandbox process: hosts the isolates of the mims the supervisor assigned to it and turns
 * IPC messages into requests on them. It holds no state worth saving: the supervisor re-sends
 * the loads after a restart.
 */
import { isMimoeError, type ErrorCode } from '../../errors/index.js';
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
import { MimStore, type StoreSpec } from './mim-store.js';
import { OutputFlow } from './output-flow.js';
import type { RunnerOutput } from './request-runner.js';
import { readRuntimeSource } from './runtime-source.js';
import { SocketOutlet } from './socket-outlet.js';

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
  /** Settles once the message is handed to the channel: a stream waits for it, bounding its backlog. */
  const postAndWait = (message: FromSandbox): Promise<void> =>
    new Promise((resolve) => {
      if (!process.connected || process.send === undefined) return resolve();
      process.send(message, undefined, undefined, () => resolve());
    });
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
  /** Each mim's DataStore handle, kept across redeploys of the mim (its store does not change). */
  const stores = new Map<string, MimStore>();
  /** The output flow of each request running here, by request id (pause/resume/cancel). */
  const flows = new Map<number, OutputFlow>();

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

  const sockets = new SocketOutlet((message, delivered) => {
    if (!process.connected || process.send === undefined) return;
    process.send(message, undefined, undefined, () => delivered());
  }, log);

  /** Body bytes as chunk messages; the flow counts them until the channel has taken them. */
  const sendBody = (id: number, flow: OutputFlow, data: Buffer): void => {
    for (let offset = 0; offset < data.byteLength; offset += IPC_CHUNK_BYTES) {
      const piece = data.subarray(offset, offset + IPC_CHUNK_BYTES);
      if (!process.connected || process.send === undefined) return;
      flow.posted(piece.byteLength);
      process.send({ t: 'chunk', id, data: piece } satisfies FromSandbox, undefined, undefined, () =>
        flow.delivered(piece.byteLength),
      );
    }
  };

  /** res.writeMimeFile: the file's bytes as chunk messages, read as the channel takes them. */
  const streamFile = async (
    id: number,
    flow: OutputFlow,
    store: MimStore,
    status: number | undefined,
    headers: ResponseHeaders | undefined,
    file: string,
  ): Promise<void> => {
    let headSent = status === undefined;
    try {
      const { stream } = store.files.createReadStream(file);
      try {
        if (status !== undefined) {
          post({ t: 'head', id, status, headers: headers ?? {} });
          headSent = true;
        }
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          // A slow client pauses the stream here: the file is read no faster than it is taken.
          await flow.ready();
          if (!process.connected || flow.isCancelled) break;
          await postAndWait({ t: 'chunk', id, data: chunk });
        }
      } finally {
        stream.destroy();
      }
      if (!flow.isCancelled) post({ t: 'end', id });
    } catch (err) {
      // Before the head this is a clean error answer; after it the supervisor cuts the body short.
      const code: ErrorCode =
        !headSent && isMimoeError(err) && err.code === 'ERR_FILE_NOT_FOUND'
          ? 'ERR_FILE_NOT_FOUND'
          : 'ERR_INTERNAL';
      diag('warn', `res.writeMimeFile failed: ${err instanceof Error ? err.message : String(err)}`);
      post({ t: 'fail', id, code, message: `the mim's file could not be sent` });
    }
  };

  const storeOf = (spec: StoreSpec): MimStore => {
    let store = stores.get(spec.mimId);
    if (store === undefined) {
      store = new MimStore(spec);
      stores.set(spec.mimId, store);
    } else {
      store.update(spec);
    }
    return store;
  };

  const outputFor = (id: number, mimId: string, store: MimStore, flow: OutputFlow): RunnerOutput => ({
    respond(status: number, headers: ResponseHeaders, body: Buffer | undefined) {
      if (body === undefined || body.byteLength <= IPC_CHUNK_BYTES) {
        post({ t: 'respond', id, status, headers, body: body ?? null });
      } else {
        post({ t: 'head', id, status, headers });
        sendBody(id, flow, body);
        post({ t: 'end', id });
      }
    },
    head: (status, headers) => post({ t: 'head', id, status, headers }),
    chunk: (data) => sendBody(id, flow, data),
    end: () => post({ t: 'end', id }),
    file: (status, headers, file) => streamFile(id, flow, store, status, headers, file),
    fail: (code: ErrorCode, message: string) => post({ t: 'fail', id, code, message }),
    log: (level, message) => log(mimId, level, message),
    socketEvent: (type, message) => sockets.send(mimId, type, message),
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
    const flow = new OutputFlow();
    flows.set(message.id, flow);
    void host
      .handle(message, outputFor(message.id, message.mimId, storeOf(host.spec), flow), flow)
      .finally(() => flows.delete(message.id));
  };

  const closeStore = (mimId: string): void => {
    try {
      stores.get(mimId)?.close();
    } catch (err) {
      diag('error', `cannot close the DataStore: ${err instanceof Error ? err.message : String(err)}`, mimId);
    }
  };

  const onMessage = (message: ToSandbox): void => {
    switch (message.t) {
      case 'load': {
        const previous = mims.get(message.spec.mimId);
        const host = new MimHost(message.spec, deps, storeOf(message.spec));
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
        void done.then(() => {
          // The mim is gone from this process: its store is closed (the node may delete it next).
          // A mim deployed again meanwhile keeps its handle.
          if (!mims.has(message.mimId)) {
            closeStore(message.mimId);
            stores.delete(message.mimId);
          }
          post({ t: 'unloaded', seq: message.seq });
        });
        return;
      }
      case 'close-store':
        closeStore(message.mimId);
        post({ t: 'store-closed', seq: message.seq });
        return;
      case 'request':
        onRequest(message);
        return;
      case 'pause':
        flows.get(message.id)?.pause();
        return;
      case 'resume':
        flows.get(message.id)?.resume();
        return;
      case 'cancel':
        flows.get(message.id)?.cancel();
        return;
    }
  };

  process.on('message', (message: unknown) => {
    if (isToSandbox(message)) onMessage(message);
  });
  // The supervisor went away (closed, or died): nothing left to serve.
  process.on('disconnect', () => {
    // Close the stores first: SQLite checkpoints the WAL and removes it on a clean close.
    for (const mimId of stores.keys()) closeStore(mimId);
    // Then go at once. process.exit() would wait for isolate threads, and one blocked on a
    // synchronous host call (a storage call) waits for this very thread: the process would hang.
    process.kill(process.pid, 'SIGKILL');
  });
  post({ t: 'ready' });
}
