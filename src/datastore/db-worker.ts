import { parentPort, workerData } from 'node:worker_threads';
import { isMimoeError } from '../errors/index.js';
import { migrate, schemaProblem } from './schema.js';
import { openSqlite } from './sqlite.js';

/**
 * Runs one slow, synchronous SQLite job (a VACUUM INTO snapshot, an integrity check) on a worker
 * thread, so backup and restore never stall the node's event loop however large the store is.
 * Started by db-task.ts with the job in workerData; answers with one message and exits.
 */

export type DbJob =
  | { kind: 'snapshot'; dbFile: string; destFile: string; encryptionKey: string | undefined }
  | { kind: 'validate'; dbFile: string; encryptionKey: string | undefined };

export type DbJobReply =
  | { ok: true; schemaVersion: number }
  | { ok: false; code: string | undefined; message: string; problem: 'unreadable' | 'invalid' | 'failed' };

function run(job: DbJob): DbJobReply {
  if (job.kind === 'snapshot') {
    const db = openSqlite(job.dbFile, { encryptionKey: job.encryptionKey });
    try {
      migrate(db, job.dbFile);
      // VACUUM INTO reads the store in one read transaction: a consistent snapshot that, in WAL
      // mode, neither waits for nor blocks the mim's writes. For an encrypted store the copy is
      // encrypted with the same cipher and key. (The backup API cannot copy an encrypted store:
      // SQLite3MultipleCiphers refuses a backup between an encrypted source and better-sqlite3's
      // unkeyed destination connection.)
      db.prepare('VACUUM INTO ?').run(job.destFile);
      return { ok: true, schemaVersion: db.pragma('user_version', { simple: true }) as number };
    } finally {
      db.close();
    }
  }
  const db = openSqlite(job.dbFile, {
    encryptionKey: job.encryptionKey,
    readonly: true,
    fileMustExist: true,
  });
  try {
    // A foreign file must not be able to run code through triggers or views while we look at it.
    db.pragma('trusted_schema = OFF');
    const check = db.pragma('integrity_check', { simple: true }) as string;
    if (check !== 'ok')
      return { ok: false, code: undefined, message: `integrity check failed: ${check}`, problem: 'invalid' };
    const problem = schemaProblem(db);
    if (problem !== undefined) return { ok: false, code: undefined, message: problem, problem: 'invalid' };
    return { ok: true, schemaVersion: db.pragma('user_version', { simple: true }) as number };
  } finally {
    db.close();
  }
}

function reply(): DbJobReply {
  try {
    return run(workerData as DbJob);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (isMimoeError(err)) {
      return {
        ok: false,
        code: err.code,
        message,
        problem: err.code === 'ERR_DATASTORE_UNREADABLE' ? 'unreadable' : 'failed',
      };
    }
    const code = (err as { code?: unknown }).code;
    return { ok: false, code: typeof code === 'string' ? code : undefined, message, problem: 'failed' };
  }
}

parentPort?.postMessage(reply());
