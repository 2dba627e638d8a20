import Database from 'better-sqlite3-multiple-ciphers';
import { MimoeError } from '../errors/index.js';
import { rawKeyLiteral } from './encryption.js';

export type Db = Database.Database;

/**
 * How long a statement waits for a lock held by another connection before failing with SQLITE_BUSY.
 * The mim's own connection (in a sandbox process) and the node's backup/restore connection (in the
 * main process) share each store file; in WAL mode readers never wait for writers, so only
 * checkpoints and the rare write-write overlap wait, and they wait for milliseconds.
 */
export const BUSY_TIMEOUT_MS = 5_000;

export interface OpenSqliteOptions {
  encryptionKey?: Buffer | string | undefined;
  readonly?: boolean;
  fileMustExist?: boolean;
}

/**
 * Opens one SQLite file, keyed if asked, and proves it is readable before returning it.
 *
 * Encryption is SQLCipher 4 compatible (SQLite3MultipleCiphers' `sqlcipher` cipher with `legacy=4`:
 * AES-256-CBC pages, HMAC-SHA512, 4 KiB pages; the WAL is encrypted too). SQLite3MultipleCiphers
 * reads the cipher configuration when the key is applied, so the order is fixed: cipher pragmas,
 * then the key, then anything that touches the file. The first read of sqlite_schema is what
 * detects a wrong key (SQLITE_NOTADB): the key pragma itself always answers "ok".
 */
export function openSqlite(file: string, opts: OpenSqliteOptions = {}): Db {
  // Validate the key before touching the file, so a bad argument never creates an empty store.
  const keyLiteral = opts.encryptionKey === undefined ? undefined : rawKeyLiteral(opts.encryptionKey);
  let db: Db;
  try {
    db = new Database(file, {
      timeout: BUSY_TIMEOUT_MS,
      readonly: opts.readonly ?? false,
      fileMustExist: opts.fileMustExist ?? false,
    });
  } catch (err) {
    throw new MimoeError(
      'ERR_DATASTORE_UNREADABLE',
      `cannot open the DataStore file ${file}: ${errText(err)}`,
      {
        cause: err,
      },
    );
  }
  try {
    if (keyLiteral !== undefined) {
      db.pragma(`cipher = 'sqlcipher'`);
      db.pragma('legacy = 4');
      db.pragma(`key = ${keyLiteral}`);
    }
    db.prepare('SELECT count(*) FROM sqlite_schema').get();
  } catch (err) {
    db.close();
    throw new MimoeError(
      'ERR_DATASTORE_UNREADABLE',
      unreadableMessage(file, opts.encryptionKey !== undefined, err),
      {
        cause: err,
      },
    );
  }
  return db;
}

function unreadableMessage(file: string, keyed: boolean, err: unknown): string {
  if ((err as { code?: unknown }).code === 'SQLITE_NOTADB') {
    return keyed
      ? `cannot open the DataStore file ${file}: wrong encryption key, or the file is not an encrypted DataStore`
      : `cannot open the DataStore file ${file}: it is encrypted (an encryption key is needed) or is not a database`;
  }
  return `cannot open the DataStore file ${file}: ${errText(err)}`;
}

export function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
