import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is compiled to dist/test/helpers/). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BIN = path.join(ROOT, 'bin', 'mimoe.js');

export function tempDir(prefix = 'mimoe-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface NodeOptions {
  workDir?: string;
  args?: string[];
  /** Keep the work dir when the node stops (for restart tests). */
  keepWorkDir?: boolean;
}

/** A real node: `bin/mimoe.js` in a child process, on port 0, with a temp work dir. */
export class TestNode {
  private constructor(
    readonly child: ChildProcess,
    /** Every JSON log line the node printed so far (kept up to date). */
    readonly logs: LogLine[],
    private readonly stderrText: () => string,
    readonly workDir: string,
    readonly port: number,
    readonly mcmKey: string,
    readonly accountKey: string,
    private readonly keepWorkDir: boolean,
    private readonly exitPromise: Promise<number | null>,
  ) {}

  get stderr(): string {
    return this.stderrText();
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(options: NodeOptions = {}): Promise<TestNode> {
    const workDir = options.workDir ?? tempDir();
    const child = spawn(
      process.execPath,
      [BIN, '--work-dir', workDir, '--api-port', '0', '--log-format', 'json', ...(options.args ?? [])],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } },
    );
    const logs: LogLine[] = [];
    let stderr = '';
    const exitPromise = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const port = await new Promise<number>((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(
        () => reject(new Error(`node did not start in 30 s; stderr: ${stderr}`)),
        30_000,
      );
      child.stdout?.setEncoding('utf8');
      child.stdout?.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) !== -1) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          try {
            const rec = JSON.parse(line) as LogLine;
            logs.push(rec);
            if (typeof rec['port'] === 'number' && rec.msg.startsWith('mimoe listening')) {
              clearTimeout(timer);
              resolve(rec['port']);
            }
          } catch {
            // not a log line
          }
        }
      });
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (chunk: string) => {
        stderr += chunk;
      });
      void exitPromise.then((code) => {
        clearTimeout(timer);
        reject(new Error(`node exited with ${String(code)} before listening; stderr: ${stderr}`));
      });
    });
    const args = options.args ?? [];
    const keyFlag = args.indexOf('--api-key-file');
    const keyFile = keyFlag === -1 ? path.join(workDir, 'mimoe-api-key.env') : (args[keyFlag + 1] as string);
    const keyText = fs.readFileSync(keyFile, 'utf8');
    const key = (name: string): string => new RegExp(`^${name}=(.+)$`, 'm').exec(keyText)?.[1] ?? '';
    return new TestNode(
      child,
      logs,
      () => stderr,
      workDir,
      port,
      key('MCM_API_KEY'),
      key('ACCOUNT_API_KEY'),
      options.keepWorkDir ?? false,
      exitPromise,
    );
  }

  /** fetch against the node with the MCM key unless headers say otherwise. */
  async mcm(
    method: string,
    pathname: string,
    init: { body?: unknown; headers?: Record<string, string>; auth?: boolean } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { ...(init.headers ?? {}) };
    if (init.auth !== false) headers['authorization'] ??= `Bearer ${this.mcmKey}`;
    let body: string | FormData | undefined;
    if (init.body instanceof FormData || typeof init.body === 'string') body = init.body;
    else if (init.body !== undefined) {
      body = JSON.stringify(init.body);
      headers['content-type'] ??= 'application/json';
    }
    return fetch(`${this.url}/mcm/v1${pathname}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body }),
    });
  }

  async upload(tar: Buffer, headers: Record<string, string> = {}): Promise<Response> {
    const form = new FormData();
    form.append('image', new Blob([tar], { type: 'application/x-tar' }), 'image.tar');
    return this.mcm('POST', '/images', { body: form, headers });
  }

  async deploy(
    name: string,
    image: string,
    env: Record<string, string>,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    return this.mcm('POST', '/mims', { body: { name, image, env }, headers });
  }

  /** Stops the node with SIGTERM (SIGKILL after 10 s) and removes the work dir unless kept. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill(signal);
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await this.exitPromise;
      clearTimeout(timer);
    }
    if (!this.keepWorkDir) fs.rmSync(this.workDir, { recursive: true, force: true });
    return this.child.exitCode;
  }

  exited(): Promise<number | null> {
    return this.exitPromise;
  }
}
