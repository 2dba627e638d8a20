import fs from 'node:fs';
import { isMimoeError, MimoeError } from '../errors/index.js';
import { backupStore, resolveBackupPath, restoreStore } from './backup.js';
import { filesDirOf, storeFileOf } from './layout.js';

/**
 * `POST /mims/{id}/dataStore` (management.md §3) as a domain operation: check the action and the
 * path, then back up (online: the mim keeps serving and writing) or restore (the mim's traffic is
 * paused and its store handle closed around the swap).
 *
 * Decision: the seed reports the operation's outcome in the body. A backup file that is corrupt,
 * truncated, foreign or of the wrong kind (encrypted or not) is `status: "failed"` with
 * `error: "ERR_BACKUP_INVALID"` and a message, the live store untouched; what is wrong with the
 * request itself (an unknown action, a path outside the backup directory) or with the node is an
 * error answer (coded MimoeError) as everywhere else.
 */

export type DataStoreAction = 'backup' | 'restore';

export interface DataStoreResult {
  action: DataStoreAction;
  status: 'completed' | 'failed';
  message: string;
  /** The path as the client gave it. */
  path: string;
  percentage: number;
  error?: 'ERR_BACKUP_INVALID';
}

export interface DataStoreTarget {
  readonly mimId: string;
  readonly dataDir: string;
  readonly encryptionKey: string | undefined;
}

export interface DataStoreRequest {
  readonly action: DataStoreAction;
  readonly path: string;
}

/** Checks a `{ action, path }` body. */
export function parseDataStoreRequest(body: unknown): DataStoreRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new MimoeError('ERR_BAD_REQUEST', 'the body must be a JSON object { action, path }');
  }
  const { action, path } = body as Record<string, unknown>;
  if (action !== 'backup' && action !== 'restore') {
    throw new MimoeError('ERR_BAD_REQUEST', 'action must be "backup" or "restore"');
  }
  if (typeof path !== 'string' || path.trim() === '') {
    throw new MimoeError('ERR_BACKUP_PATH', 'path must be a non-empty string');
  }
  return { action, path };
}

/**
 * Runs a backup or a restore of `target`'s DataStore. `pause` stops the mim's traffic and closes
 * its store handle, resolving to the function that resumes it (restore only).
 */
export async function runDataStoreAction(
  req: DataStoreRequest,
  target: DataStoreTarget,
  backupDir: string,
  pause: () => Promise<() => void>,
): Promise<DataStoreResult> {
  try {
    return await runAction(req, target, backupDir, pause);
  } catch (err) {
    throw asPathError(err, req.path);
  }
}

/** File system refusals caused by the path the client chose are the client's: ERR_BACKUP_PATH. */
const PATH_ERRNOS = new Set(['ENOTDIR', 'ENAMETOOLONG', 'EISDIR', 'ELOOP']);

function asPathError(err: unknown, userPath: string): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (isMimoeError(err) || code === undefined || !PATH_ERRNOS.has(code)) return err;
  return new MimoeError(
    'ERR_BACKUP_PATH',
    `the backup path ${JSON.stringify(userPath.slice(0, 200))} cannot be used (${code})`,
    {
      cause: err,
    },
  );
}

async function runAction(
  req: DataStoreRequest,
  target: DataStoreTarget,
  backupDir: string,
  pause: () => Promise<() => void>,
): Promise<DataStoreResult> {
  const file = resolveBackupPath(backupDir, req.path);
  const dbFile = storeFileOf(target.dataDir);
  const filesDir = filesDirOf(target.dataDir);
  if (req.action === 'backup') {
    // A mim that never used its storage has no directory yet: it is backed up as an empty store.
    fs.mkdirSync(target.dataDir, { recursive: true });
    await backupStore(dbFile, filesDir, file, { encryptionKey: target.encryptionKey, mimId: target.mimId });
    return {
      action: 'backup',
      status: 'completed',
      message: 'Backup completed successfully',
      path: req.path,
      percentage: 100,
    };
  }
  const resume = await pause();
  try {
    await restoreStore(file, dbFile, filesDir, { encryptionKey: target.encryptionKey });
  } catch (err) {
    if (isMimoeError(err) && err.code === 'ERR_BACKUP_INVALID') {
      return {
        action: 'restore',
        status: 'failed',
        message: `Restore failed: ${err.message}`,
        path: req.path,
        percentage: 0,
        error: 'ERR_BACKUP_INVALID',
      };
    }
    throw err;
  } finally {
    resume();
  }
  return {
    action: 'restore',
    status: 'completed',
    message: 'Restore completed successfully',
    path: req.path,
    percentage: 100,
  };
}
