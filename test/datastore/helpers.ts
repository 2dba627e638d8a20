import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { KvStore } from '../../src/datastore/kv-store.js';
import { ROOT, tempDir } from '../helpers/node-process.js';

export { ROOT, tempDir };

/** The compiled KvStore module, for child processes that use it. */
export const KV_STORE_JS = path.join(ROOT, 'dist', 'src', 'datastore', 'kv-store.js');

/** Every item of a store, in iteration order. */
export function allItems(store: KvStore): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  store.eachItem((k, v) => out.push([k, v]));
  return out;
}

/** A snapshot of a directory tree: relative path → content (files only). */
export function treeOf(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    const abs = path.join(dir, rel);
    if (!fs.existsSync(abs)) return;
    for (const d of fs.readdirSync(abs, { withFileTypes: true })) {
      const r = rel === '' ? d.name : `${rel}/${d.name}`;
      if (d.isDirectory()) walk(r);
      else out[r] = fs.readFileSync(path.join(dir, r), 'utf8');
    }
  };
  walk('');
  return out;
}

/** A child `node -e` process (cwd = repo root, so `require` finds the project's packages). */
export function spawnNode(
  script: string,
  args: string[],
  type: 'commonjs' | 'module' = 'commonjs',
): ChildProcess {
  return spawn(process.execPath, [`--input-type=${type}`, '-e', script, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Resolves with each stdout line of `child` as it arrives, until `until(lines)` is true. */
export function readLinesUntil(child: ChildProcess, until: (lines: string[]) => boolean): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const lines: string[] = [];
    let partial = '';
    let stderr = '';
    let done = false;
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout?.on('data', (c: Buffer) => {
      if (done) return;
      const parts = (partial + c.toString()).split('\n');
      partial = parts.pop() ?? '';
      lines.push(...parts);
      if (until(lines)) {
        done = true;
        resolve(lines);
      }
    });
    child.once('exit', (code, signal) => {
      if (!done) reject(new Error(`child exited early (${code ?? signal}): ${stderr}`));
    });
  });
}

/** Kills `child` with `signal` and waits for it to be gone. */
export async function killAndWait(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  await gone;
}

export function assertTypeError(fn: () => unknown, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TypeError, `expected a TypeError, got ${String(err)}`);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  });
}
