import fs from 'node:fs';
import path from 'node:path';
import { MimoeError } from '../errors/index.js';

export const LOCK_FILE = 'mimoe.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface WorkDir {
  /** True when the directory was readable by others and has been narrowed to owner-only. */
  readonly permissionsFixed: boolean;
  /** Removes the lock (idempotent). */
  release(): void;
}

/**
 * Prepares the work dir: owner-only permissions (it holds keys, code and data), and a lock file
 * with this process's pid, so two nodes never share one work dir (their databases and sandboxes
 * would diverge). A lock left by a process that no longer exists is taken over.
 */
export function openWorkDir(dir: string): WorkDir {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  let permissionsFixed = false;
  if (process.platform !== 'win32' && (fs.statSync(dir).mode & 0o077) !== 0) {
    fs.chmodSync(dir, 0o700);
    permissionsFixed = true;
  }
  const lock = path.join(dir, LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(lock, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      const pid = Number.parseInt(fs.readFileSync(lock, 'utf8'), 10);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new MimoeError(
          'ERR_WORK_DIR_IN_USE',
          `work dir ${dir} is in use by another mimoe (pid ${pid})`,
        );
      }
      fs.rmSync(lock, { force: true });
    }
  }
  let released = false;
  return {
    permissionsFixed,
    release() {
      if (released) return;
      released = true;
      try {
        if (fs.readFileSync(lock, 'utf8').trim() === String(process.pid)) fs.rmSync(lock, { force: true });
      } catch {
        // already gone
      }
    },
  };
}
