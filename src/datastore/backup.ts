import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { MimoeError } from '../errors/index.js';
import {
  BACKUP_FORMAT,
  BACKUP_VERSION,
  copyHashed,
  hashFile,
  invalidBackup,
  readArchive,
  writeArchive,
  type BackupFileEntry,
  type BackupManifest,
} from './backup-archive.js';
import { isInside, symlinkEscape } from './confine.js';
import { runDbJob } from './db-task.js';
import { dataKeyHex } from './encryption.js';
import { isTempName, sweepUnfinishedWrites } from './file-area.js';
import { filesDirOf } from './layout.js';

/**
 * DataStore backup and restore (management.md §3, `POST /mims/{id}/dataStore`): one artefact per
 * backup holding a consistent snapshot of the store and a copy of the file area (see
 * backup-archive.ts for the format). Both run beside a live mim: backup never blocks its writes,
 * restore validates everything before it touches live data. The slow SQLite work runs on a worker
 * thread (db-worker.ts) so the node keeps serving meanwhile.
 */

export interface BackupOptions {
  /** The store's key, if it is encrypted (the artefact's store stays encrypted with it). */
  encryptionKey?: Buffer | string | undefined;
  /** Recorded in the manifest, for people; restore does not require it to match. */
  mimId?: string | undefined;
}

export interface RestoreOptions {
  /** The key the restored store must open with (the node's key when the mim is encrypted). */
  encryptionKey?: Buffer | string | undefined;
}

/** Temporary names next to live data start with this, so a reader can recognise leftovers. */
const STAGING_PREFIX = '.mimoe-';

/**
 * Cleans what an interrupted restore (a crash, a kill -9) left in a mim's DataStore directory:
 * staging copies are dropped; a live store or file area moved aside but not yet replaced is put
 * back, and one already replaced is dropped. Then the file area loses the temporary files of
 * writes that never finished. Run at start, before the mim serves.
 */
export function sweepInterrupted(dataDir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dataDir);
  } catch {
    return;
  }
  // A store before its -wal/-shm companions, which move with it.
  names.sort((a, b) => a.length - b.length);
  for (const name of names) {
    if (!name.startsWith(STAGING_PREFIX)) continue;
    const full = path.join(dataDir, name);
    const old = /^\.mimoe-old-[^-]+-(.+)$/.exec(name);
    const live = old?.[1] === undefined ? undefined : path.join(dataDir, old[1]);
    if (live !== undefined && !fs.existsSync(live) && !/-(wal|shm|journal)$/.test(name)) {
      fs.renameSync(full, live);
      for (const suffix of ['-wal', '-shm']) {
        if (fs.existsSync(full + suffix)) fs.renameSync(full + suffix, live + suffix);
      }
      continue;
    }
    fs.rmSync(full, { recursive: true, force: true });
  }
  sweepUnfinishedWrites(filesDirOf(dataDir));
}

/**
 * Writes a backup of the store in `dbFile` and the file area `fileAreaDir` to `destFile`
 * (replaced atomically if it exists). The store may be in use by another connection or process:
 * its snapshot is one read transaction. The file area is copied just after it, file by file, so
 * a file the mim writes during the backup may or may not be in it. A mim that never stored
 * anything gets an empty store created at `dbFile` and backed up.
 */
export async function backupStore(
  dbFile: string,
  fileAreaDir: string,
  destFile: string,
  opts: BackupOptions = {},
): Promise<{ bytes: number; manifest: BackupManifest }> {
  const key = opts.encryptionKey === undefined ? undefined : dataKeyHex(opts.encryptionKey);
  if (fs.statSync(destFile, { throwIfNoEntry: false })?.isDirectory() === true) {
    throw new MimoeError('ERR_BACKUP_PATH', `the backup path ${path.basename(destFile)} is a directory`);
  }
  const destDir = path.dirname(destFile);
  fs.mkdirSync(destDir, { recursive: true });
  const staging = fs.mkdtempSync(path.join(destDir, `${STAGING_PREFIX}backup-`));
  try {
    const stagedDb = path.join(staging, 'store.db');
    const snap = await runDbJob({ kind: 'snapshot', dbFile, destFile: stagedDb, encryptionKey: key });
    if (!snap.ok) {
      // The snapshot is written beside the backup: SQLite's "full" there is the node's disk.
      if (snap.code === 'SQLITE_FULL')
        throw new MimoeError('ERR_DISK_FULL', "the node's disk is full; the backup was not written");
      throw new MimoeError(
        snap.code === 'ERR_DATASTORE_UNREADABLE' ? 'ERR_DATASTORE_UNREADABLE' : 'ERR_INTERNAL',
        snap.message,
      );
    }
    const stagedFiles = path.join(staging, 'files');
    fs.mkdirSync(stagedFiles);
    const files = await copyFileArea(fileAreaDir, stagedFiles);
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      version: BACKUP_VERSION,
      ...(opts.mimId === undefined ? {} : { mimId: opts.mimId }),
      created: new Date().toISOString(),
      encrypted: key !== undefined,
      schemaVersion: snap.schemaVersion,
      db: await hashFile(stagedDb),
      files,
    };
    const tempDest = path.join(staging, 'backup.tar');
    await writeArchive(tempDest, manifest, stagedDb, stagedFiles);
    fsyncFile(tempDest);
    fs.renameSync(tempDest, destFile);
    fsyncDir(destDir);
    return { bytes: fs.statSync(destFile).size, manifest };
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * Replaces the store in `dbFile` and the file area `fileAreaDir` with the content of `artefact`.
 * Everything is checked first (archive complete and unaltered, manifest of our format and version,
 * store opens with `opts.encryptionKey`, passes integrity_check and has exactly our schema); any
 * problem is ERR_BACKUP_INVALID and the live data is untouched. Then the new store and file area,
 * staged next to the live ones, are renamed into place and the old ones removed.
 * The caller must have closed the mim's own connection to `dbFile`.
 */
export async function restoreStore(
  artefact: string,
  dbFile: string,
  fileAreaDir: string,
  opts: RestoreOptions = {},
): Promise<BackupManifest> {
  const key = opts.encryptionKey === undefined ? undefined : dataKeyHex(opts.encryptionKey);
  const label = path.basename(artefact);
  const st = fs.statSync(artefact, { throwIfNoEntry: false });
  if (st === undefined) throw invalidBackup(`there is no backup file ${label}`);
  if (!st.isFile()) throw invalidBackup(`${label} is not a file`);

  fs.mkdirSync(path.dirname(dbFile), { recursive: true });
  fs.mkdirSync(path.dirname(fileAreaDir), { recursive: true });
  const dbStaging = fs.mkdtempSync(path.join(path.dirname(dbFile), `${STAGING_PREFIX}restore-`));
  const filesStaging = fs.mkdtempSync(
    path.join(path.dirname(fileAreaDir), `${STAGING_PREFIX}restore-files-`),
  );
  try {
    const stagedDb = path.join(dbStaging, 'store.db');
    const manifest = await readArchive(artefact, stagedDb, filesStaging);
    if (manifest.encrypted && key === undefined) {
      throw invalidBackup(`${label} holds an encrypted store, and this mim's store is not encrypted`);
    }
    if (!manifest.encrypted && key !== undefined) {
      throw invalidBackup(`${label} holds an unencrypted store, and this mim's store is encrypted`);
    }
    const check = await runDbJob({ kind: 'validate', dbFile: stagedDb, encryptionKey: key });
    if (!check.ok) {
      throw invalidBackup(
        check.problem !== 'unreadable'
          ? `${label}: its store is not a valid DataStore: ${check.message}`
          : key === undefined
            ? `${label}: its store is not a readable database`
            : `${label}: its store cannot be opened with this node's key`,
      );
    }
    swapIn(stagedDb, dbFile, filesStaging, fileAreaDir);
    return manifest;
  } finally {
    fs.rmSync(dbStaging, { recursive: true, force: true });
    fs.rmSync(filesStaging, { recursive: true, force: true });
  }
}

/**
 * Moves the live store (with its -wal/-shm: a stale WAL left beside a new store would be replayed
 * into it) and file area aside, renames the staged ones into place, then deletes the old ones.
 * Each step is an atomic rename within one directory; if one fails, the steps already done are
 * undone in reverse, so the live data ends up as it was.
 */
function swapIn(stagedDb: string, dbFile: string, stagedFiles: string, fileAreaDir: string): void {
  const tag = crypto.randomBytes(6).toString('hex');
  const done: Array<[from: string, to: string]> = [];
  const move = (from: string, to: string): void => {
    fs.renameSync(from, to);
    done.push([from, to]);
  };
  const oldDb = path.join(path.dirname(dbFile), `${STAGING_PREFIX}old-${tag}-${path.basename(dbFile)}`);
  const oldFiles = path.join(
    path.dirname(fileAreaDir),
    `${STAGING_PREFIX}old-${tag}-${path.basename(fileAreaDir)}`,
  );
  const olds: string[] = [];
  try {
    for (const suffix of ['-wal', '-shm', '-journal', '']) {
      if (fs.existsSync(dbFile + suffix)) {
        move(dbFile + suffix, oldDb + suffix);
        olds.push(oldDb + suffix);
      }
    }
    move(stagedDb, dbFile);
    if (fs.existsSync(fileAreaDir)) {
      move(fileAreaDir, oldFiles);
      olds.push(oldFiles);
    }
    move(stagedFiles, fileAreaDir);
  } catch (err) {
    for (const [from, to] of done.reverse()) {
      try {
        fs.renameSync(to, from);
      } catch {
        // Best effort: leave the rest in place for an operator rather than lose data.
      }
    }
    throw new MimoeError(
      'ERR_INTERNAL',
      'restore could not put the restored store in place; the old one was kept',
      {
        cause: err,
      },
    );
  }
  fsyncDir(path.dirname(dbFile));
  fsyncDir(path.dirname(fileAreaDir));
  for (const old of olds) fs.rmSync(old, { recursive: true, force: true });
}

/**
 * The absolute path of a backup named by an API user, confined to `backupDir`: a relative path
 * resolves inside it; an absolute one is accepted only if it is already inside it; anything that
 * leaves it (`..`, a symlink pointing out) is ERR_BACKUP_PATH. Creates `backupDir` if needed.
 */
export function resolveBackupPath(backupDir: string, userPath: unknown): string {
  if (typeof userPath !== 'string' || userPath.trim() === '') {
    throw new MimoeError('ERR_BACKUP_PATH', 'the backup path must be a non-empty string');
  }
  if (userPath.includes('\0')) throw new MimoeError('ERR_BACKUP_PATH', 'the backup path contains a NUL byte');
  const root = path.resolve(backupDir);
  fs.mkdirSync(root, { recursive: true });
  const target = path.resolve(root, userPath);
  // An absolute path may name the directory through its real path (e.g. /private/tmp for /tmp).
  const rootReal = fs.realpathSync(root);
  const base = isInside(root, target) ? root : isInside(rootReal, target) ? rootReal : undefined;
  const refuse = (why: string): MimoeError =>
    new MimoeError('ERR_BACKUP_PATH', `the backup path ${JSON.stringify(userPath)} is refused: ${why}`);
  if (base === undefined) throw refuse('it is outside the backup directory');
  if (target === base) throw refuse('it names the backup directory itself');
  const escape = symlinkEscape(base, target);
  if (escape !== undefined) throw refuse(escape);
  return target;
}

/** Copies the file area's regular files (not symlinks: those come from the host, not from mims). */
async function copyFileArea(root: string, dest: string): Promise<BackupFileEntry[]> {
  const out: BackupFileEntry[] = [];
  const walk = async (rel: string): Promise<void> => {
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(path.join(root, rel), { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const d of names) {
      const childRel = rel === '' ? d.name : `${rel}/${d.name}`;
      if (d.isDirectory()) {
        fs.mkdirSync(path.join(dest, childRel));
        await walk(childRel);
      } else if (d.isFile() && !isTempName(d.name)) {
        // Temp names are unfinished atomic writes of the file area: not part of the mim's data.
        let blob;
        try {
          blob = await copyHashed(fs.createReadStream(path.join(root, childRel)), path.join(dest, childRel));
        } catch (err) {
          // Deleted by the mim between the listing and the copy: it is simply not in this backup.
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
          throw err;
        }
        out.push({ path: childRel, ...blob });
      }
    }
  };
  await walk('');
  return out;
}

function fsyncFile(file: string): void {
  const fd = fs.openSync(file, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function fsyncDir(dir: string): void {
  try {
    fsyncFile(dir);
  } catch {
    // Not supported everywhere (Windows); the data itself was synced.
  }
}
