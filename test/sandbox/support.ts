/**
 * Shared by the sandbox tests: a real Supervisor (its sandbox processes carry the flag; this
 * process never loads isolated-vm), specs for the built test mims, and a ResponseSink collector
 * that checks the sink contract as it goes.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MimoeError } from '../../src/errors/index.js';
import { silentLogger } from '../../src/log/logger.js';
import { Supervisor, type SupervisorOptions } from '../../src/sandbox/supervisor.js';
import type { MimLogLine, MimSpec } from '../../src/sandbox/types.js';
import { childrenOf } from '../helpers/processes.js';

/** The repository root (this file is compiled to dist/test/sandbox/). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export function fixturePath(name: string): string {
  const file = path.join(ROOT, 'test', 'fixtures', 'mims', 'build', `${name}.js`);
  if (!fs.existsSync(file)) throw new Error(`missing ${file}: run "node scripts/build-fixtures.mjs" first`);
  return file;
}

let dataRootDir: string | undefined;

/** Where the test mims' DataStores go: one temp dir per test process, removed when it exits. */
export function dataRoot(): string {
  if (dataRootDir === undefined) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimoe-sandbox-data-'));
    dataRootDir = dir;
    process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return dataRootDir;
}

export function mimSpec(mimId: string, bundlePath: string, overrides: Partial<MimSpec> = {}): MimSpec {
  return {
    mimId,
    bundlePath,
    env: { 'MCM.BASE_API_PATH': `/${mimId}/v1`, GREETING: 'hi', FLAG: 'true' },
    info: {
      serviceType: mimId,
      apiRoot: `/api/${mimId}/v1`,
      httpPort: '8083',
      nodeId: 'node-1',
      accountId: '',
    },
    timeoutMs: 5000,
    memoryMb: 64,
    dataDir: path.join(dataRoot(), mimId),
    encryptionKey: undefined,
    quota: { storeBytes: 64 * 1024 * 1024, filesBytes: 64 * 1024 * 1024 },
    outbound: { maxBodyBytes: 1024 * 1024, maxFileBytes: 4 * 1024 * 1024, origin: '', originHosts: [] },
    ...overrides,
  };
}

export interface TestSupervisor {
  readonly supervisor: Supervisor;
  readonly logs: MimLogLine[];
  readonly stopped: { mimId: string; reason: string }[];
}

export async function startSupervisor(options: Partial<SupervisorOptions> = {}): Promise<TestSupervisor> {
  const logs: MimLogLine[] = [];
  const stopped: { mimId: string; reason: string }[] = [];
  const supervisor = new Supervisor({
    processes: 2,
    crashLimit: 3,
    crashWindowMs: 60_000,
    logger: silentLogger(),
    onMimLog: (line) => logs.push(line),
    onMimStopped: (mimId, reason) => stopped.push({ mimId, reason }),
    ...options,
  });
  await supervisor.start();
  return { supervisor, logs, stopped };
}

export interface Collected {
  status: number | undefined;
  headers: Record<string, string | string[]> | undefined;
  chunks: Buffer[];
  /** ms since dispatch at which each chunk arrived. */
  chunkTimes: number[];
  body: string;
  error: MimoeError | undefined;
  elapsedMs: number;
}

export interface RequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/** Dispatches one request and collects its answer; fails the test if the sink contract is broken. */
export function request(
  supervisor: Supervisor,
  mimId: string,
  url: string,
  init: RequestInit = {},
): Promise<Collected> {
  const started = performance.now();
  const result: Collected = {
    status: undefined,
    headers: undefined,
    chunks: [],
    chunkTimes: [],
    body: '',
    error: undefined,
    elapsedMs: 0,
  };
  return new Promise((resolve, reject) => {
    let state: 'new' | 'head' | 'over' = 'new';
    const violation = (what: string): void => {
      reject(new Error(`ResponseSink contract broken: ${what} (state ${state})`));
    };
    const finish = (): void => {
      state = 'over';
      result.elapsedMs = performance.now() - started;
      result.body = Buffer.concat(result.chunks).toString('utf8');
      resolve(result);
    };
    supervisor.dispatch(
      mimId,
      {
        requestId: `test-${Math.random().toString(36).slice(2)}`,
        method: init.method ?? 'GET',
        url,
        headers: init.headers ?? {},
        body: typeof init.body === 'string' ? Buffer.from(init.body) : (init.body ?? Buffer.alloc(0)),
      },
      {
        head(status, headers) {
          if (state !== 'new') return violation('head twice or after the end');
          state = 'head';
          result.status = status;
          result.headers = headers;
        },
        write(chunk) {
          if (state !== 'head') {
            violation('write without head');
            return true;
          }
          assert.ok(Buffer.isBuffer(chunk), 'chunks are Buffers');
          result.chunks.push(chunk);
          result.chunkTimes.push(performance.now() - started);
          return true;
        },
        end() {
          if (state !== 'head') return violation('end without head');
          finish();
        },
        fail(error) {
          if (state === 'over') return violation('fail after the end');
          result.error = error;
          finish();
        },
      },
    );
  });
}

export function json(result: Collected): unknown {
  assert.equal(
    result.error,
    undefined,
    `unexpected error ${result.error?.code ?? ''}: ${result.error?.message ?? ''}`,
  );
  return JSON.parse(result.body) as unknown;
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Pids of this process's live children (Linux /proc), to check that close() leaves none. */
export function childPids(): number[] {
  return childrenOf(process.pid);
}
