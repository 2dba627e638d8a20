/**
 * A few MiB the node keeps in its work dir so that deleting still works on a full disk. SQLite
 * appends even a DELETE to its write-ahead log: with no byte left, the API could not delete the
 * mims and images that would free space. On that failure the reserve is given up and the delete
 * retried; the node takes the reserve back once there is room (after the delete, or at start).
 */
import fs from 'node:fs';
import path from 'node:path';
import { isDiskFull } from '../errors/index.js';
import type { Db } from './node-db.js';

export const RESERVE_FILE = 'disk-reserve';
export const RESERVE_BYTES = 4 * 1024 * 1024;

/** Writes the reserve if it is missing or short; on a full disk it is left for later. */
export function keepDiskReserve(workDir: string): void {
  const file = path.join(workDir, RESERVE_FILE);
  try {
    if (fs.statSync(file, { throwIfNoEntry: false })?.size === RESERVE_BYTES) return;
    // Real bytes, not a sparse file: the point is to hold the blocks.
    fs.writeFileSync(file, Buffer.alloc(RESERVE_BYTES), { mode: 0o600 });
  } catch {
    fs.rmSync(file, { force: true });
  }
}

/**
 * Runs a write to the node's database that frees space (a delete). If the disk is full, gives up
 * the reserve beside `db` and runs it once more.
 */
export function freeingWrite<T>(db: Db, write: () => T): T {
  try {
    return write();
  } catch (err) {
    const file = path.join(path.dirname(db.name), RESERVE_FILE);
    if (!isDiskFull(err) || !fs.existsSync(file)) throw err;
    fs.rmSync(file, { force: true });
    return write();
  }
}
