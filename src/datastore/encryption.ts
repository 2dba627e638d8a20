import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { MimoeError } from '../errors/index.js';

/**
 * The node's DataStore key (runtime.md §3, "Encryption"): 32 random bytes, hex, in
 * `<workDir>/datastore.key`, owner-only. Created once and never regenerated: losing or replacing it
 * makes every encrypted store unreadable, so a damaged key file is an error, not a reason to make a new one.
 */

export const DATA_KEY_FILE = 'datastore.key';
const KEY_BYTES = 32;
const HEX_KEY = /^[0-9a-f]{64}$/i;

/** Reads the node's data key, creating it (atomically, 0600) on first use. Returns 64 hex characters. */
export function loadOrCreateDataKey(workDir: string): string {
  const file = path.join(workDir, DATA_KEY_FILE);
  const existing = readKeyFile(file);
  if (existing !== undefined) return existing;

  const orphan = encryptedStoreIn(path.join(workDir, 'datastore'));
  if (orphan !== undefined) {
    throw new MimoeError(
      'ERR_DATASTORE_UNREADABLE',
      `${DATA_KEY_FILE} is missing from ${workDir} but encrypted stores exist (${orphan}); put the key file back instead of letting a new key be made`,
    );
  }
  fs.mkdirSync(workDir, { recursive: true });
  const key = crypto.randomBytes(KEY_BYTES).toString('hex');
  // Write a private temp file, then link() it into place: link fails with EEXIST if another process
  // won the race, so the key file is created exactly once and is never seen half-written.
  const temp = `${file}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  try {
    const fd = fs.openSync(temp, 'wx', 0o600);
    try {
      fs.writeSync(fd, `${key}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    try {
      fs.linkSync(temp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const winner = readKeyFile(file);
      if (winner === undefined) throw err;
      return winner;
    }
  } finally {
    fs.rmSync(temp, { force: true });
  }
  fsyncDir(workDir);
  return key;
}

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/** The id of a mim whose store is encrypted (its file does not start with SQLite's header), if any. */
function encryptedStoreIn(dataRoot: string): string | undefined {
  let dirs: string[];
  try {
    dirs = fs.readdirSync(dataRoot);
  } catch {
    return undefined;
  }
  for (const dir of dirs) {
    let fd: number;
    try {
      fd = fs.openSync(path.join(dataRoot, dir, 'store.db'), 'r');
    } catch {
      continue;
    }
    try {
      const head = Buffer.alloc(SQLITE_HEADER.length);
      const n = fs.readSync(fd, head, 0, head.length, 0);
      if (n > 0 && !head.subarray(0, n).equals(SQLITE_HEADER.subarray(0, n))) return dir;
    } finally {
      fs.closeSync(fd);
    }
  }
  return undefined;
}

function readKeyFile(file: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const key = text.trim();
  if (!HEX_KEY.test(key)) {
    throw new MimoeError(
      'ERR_DATASTORE_UNREADABLE',
      `the DataStore key file ${file} is damaged (expected ${KEY_BYTES * 2} hex characters); restore it from a copy, ` +
        'encrypted stores cannot be read without it',
    );
  }
  // Tighten a key file that someone made readable to others; never loosen anything.
  if (process.platform !== 'win32' && (fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
  return key.toLowerCase();
}

function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Directory fsync is not supported everywhere (Windows); the file itself was synced.
  }
}

/**
 * Checks a caller's key and returns it as 64 lower-case hex characters.
 * Decision: raw keys only (32-byte Buffer or 64 hex characters). A raw key skips SQLCipher's
 * PBKDF2 (256,000 rounds, tens of milliseconds on every open) — the key is already random, so the
 * KDF would add cost and no strength. Passphrases are refused rather than silently stretched.
 */
export function dataKeyHex(key: unknown): string {
  if (Buffer.isBuffer(key)) {
    if (key.length !== KEY_BYTES)
      throw new TypeError(`encryption key must be ${KEY_BYTES} bytes, got ${key.length}`);
    return key.toString('hex');
  }
  if (typeof key === 'string') {
    if (!HEX_KEY.test(key)) throw new TypeError(`encryption key must be ${KEY_BYTES * 2} hex characters`);
    return key.toLowerCase();
  }
  throw new TypeError('encryption key must be a Buffer or a hex string');
}

/** The SQL literal of a raw 256-bit SQLCipher key: `"x'<64 hex>'"`. */
export function rawKeyLiteral(key: Buffer | string): string {
  return `"x'${dataKeyHex(key)}'"`;
}
