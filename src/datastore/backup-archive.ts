import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract, pack, type Pack } from 'tar-stream';
import { MimoeError } from '../errors/index.js';
import { errText } from './sqlite.js';

/**
 * The DataStore backup artefact: one plain tar holding, in this order,
 *   backup.json        the manifest (format, version, mim id, time, encrypted flag, checksums)
 *   store.db           a consistent snapshot of the SQLite store (still encrypted if the store is)
 *   files/<path>...    the file area's regular files
 * The manifest comes first and lists every other entry with its size and SHA-256, so a reader
 * rejects a foreign tar at the first entry and a truncated or altered one before anything is used.
 */

export const BACKUP_FORMAT = 'mimoe-datastore-backup';
export const BACKUP_VERSION = 1;
const MANIFEST_ENTRY = 'backup.json';
const DB_ENTRY = 'store.db';
const FILES_PREFIX = 'files/';
const MAX_MANIFEST_BYTES = 32 * 1024 * 1024;
const HEX_SHA256 = /^[0-9a-f]{64}$/;

export interface BackupBlob {
  size: number;
  sha256: string;
}

export interface BackupFileEntry extends BackupBlob {
  /** Relative, `/`-separated path inside the file area. */
  path: string;
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  version: typeof BACKUP_VERSION;
  mimId?: string;
  /** ISO 8601. */
  created: string;
  encrypted: boolean;
  schemaVersion: number;
  db: BackupBlob;
  files: BackupFileEntry[];
}

export function invalidBackup(message: string, cause?: unknown): MimoeError {
  return new MimoeError('ERR_BACKUP_INVALID', message, cause === undefined ? undefined : { cause });
}

/** Copies `src` to `dest` (new file, 0600), returning the size and SHA-256 of what was copied. */
export async function copyHashed(src: Readable | AsyncIterable<Buffer>, dest: string): Promise<BackupBlob> {
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  await pipeline(src, tap, fs.createWriteStream(dest, { flags: 'wx', mode: 0o600 }));
  return { size, sha256: hash.digest('hex') };
}

/** Size and SHA-256 of a file. */
export async function hashFile(file: string): Promise<BackupBlob> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of fs.createReadStream(file) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { size, sha256: hash.digest('hex') };
}

/** Writes the artefact to `dest` (which must not exist) from a staged snapshot and file-area copy. */
export async function writeArchive(
  dest: string,
  manifest: BackupManifest,
  dbPath: string,
  filesRoot: string,
): Promise<void> {
  const tar = pack();
  const writing = pipeline(tar, fs.createWriteStream(dest, { flags: 'wx', mode: 0o600 }));
  // Observe a failure at once (disk full...); it is rethrown by the await below.
  writing.catch(() => undefined);
  const mtime = new Date(manifest.created);
  const body = Buffer.from(JSON.stringify(manifest, null, 2));
  await new Promise<void>((resolve, reject) => {
    tar.entry({ name: MANIFEST_ENTRY, size: body.length, mode: 0o600, mtime }, body, (err) =>
      err ? reject(err) : resolve(),
    );
  });
  await addFile(tar, DB_ENTRY, dbPath, manifest.db.size, mtime);
  for (const f of manifest.files) {
    await addFile(tar, FILES_PREFIX + f.path, path.join(filesRoot, ...f.path.split('/')), f.size, mtime);
  }
  tar.finalize();
  await writing;
}

async function addFile(tar: Pack, name: string, src: string, size: number, mtime: Date): Promise<void> {
  const entry = tar.entry({ name, size, mode: 0o600, mtime, type: 'file' });
  await pipeline(fs.createReadStream(src), entry);
}

/**
 * Reads and checks an artefact, writing the store snapshot to `dbDest` and the files under
 * `filesDest` (a fresh, empty directory). Throws ERR_BACKUP_INVALID for anything that is not a
 * complete, unaltered artefact of our format; writes nothing outside the two destinations.
 */
export async function readArchive(file: string, dbDest: string, filesDest: string): Promise<BackupManifest> {
  const label = path.basename(file);
  const ex = extract();
  const feeding = pipeline(fs.createReadStream(file), ex);
  feeding.catch(() => undefined);
  let manifest: BackupManifest | undefined;
  let expected = new Map<string, BackupBlob>();
  const seen = new Set<string>();
  try {
    for await (const entry of ex) {
      const { name, type, size } = entry.header;
      if (manifest === undefined) {
        if (name !== MANIFEST_ENTRY || type !== 'file') {
          throw invalidBackup(
            `${label} is not a DataStore backup (its first entry is not ${MANIFEST_ENTRY})`,
          );
        }
        if ((size ?? 0) > MAX_MANIFEST_BYTES) throw invalidBackup(`${label}: ${MANIFEST_ENTRY} is too large`);
        manifest = parseManifest(await readAll(entry as AsyncIterable<Buffer>), label);
        expected = new Map(manifest.files.map((f) => [FILES_PREFIX + f.path, f]));
        expected.set(DB_ENTRY, manifest.db);
        continue;
      }
      const blob = expected.get(name);
      if (blob === undefined || type !== 'file') {
        throw invalidBackup(`${label} holds an entry the manifest does not list: ${JSON.stringify(name)}`);
      }
      if (seen.has(name)) throw invalidBackup(`${label} holds ${JSON.stringify(name)} twice`);
      seen.add(name);
      let dest = dbDest;
      if (name !== DB_ENTRY) {
        // The manifest's paths were checked (plain segments, no '..'), so this stays in filesDest.
        dest = path.join(filesDest, ...name.slice(FILES_PREFIX.length).split('/'));
        fs.mkdirSync(path.dirname(dest), { recursive: true });
      }
      const got = await copyHashed(entry as AsyncIterable<Buffer>, dest);
      if (got.size !== blob.size || got.sha256 !== blob.sha256) {
        throw invalidBackup(`${label}: ${JSON.stringify(name)} does not match its checksum in the manifest`);
      }
    }
    await feeding;
  } catch (err) {
    ex.destroy();
    if (err instanceof MimoeError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const syscall = (err as NodeJS.ErrnoException).syscall;
    if (syscall !== undefined && code !== 'EEXIST' && code !== 'ENOTDIR' && code !== 'EISDIR') {
      throw new MimoeError('ERR_INTERNAL', `restore could not write its staging copy (${code ?? 'error'})`, {
        cause: err,
      });
    }
    throw invalidBackup(`${label} is not a readable DataStore backup: ${errText(err)}`, err);
  }
  if (manifest === undefined) throw invalidBackup(`${label} is empty or is not a tar archive`);
  for (const name of expected.keys()) {
    if (!seen.has(name)) throw invalidBackup(`${label} is incomplete: ${JSON.stringify(name)} is missing`);
  }
  return manifest;
}

async function readAll(src: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of src) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function parseManifest(bytes: Buffer, label: string): BackupManifest {
  let m: unknown;
  try {
    m = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalidBackup(`${label}: ${MANIFEST_ENTRY} is not JSON`);
  }
  const bad = (what: string): MimoeError => invalidBackup(`${label}: ${MANIFEST_ENTRY} ${what}`);
  if (!isRecord(m)) throw bad('is not an object');
  if (m['format'] !== BACKUP_FORMAT) throw bad(`is not a ${BACKUP_FORMAT} manifest`);
  if (m['version'] !== BACKUP_VERSION) {
    throw bad(
      `has format version ${JSON.stringify(m['version'])}; this node reads version ${BACKUP_VERSION}`,
    );
  }
  if (typeof m['created'] !== 'string') throw bad('has no creation time');
  if (typeof m['encrypted'] !== 'boolean') throw bad('does not say whether the store is encrypted');
  if (!Number.isSafeInteger(m['schemaVersion'])) throw bad('has no schema version');
  if (m['mimId'] !== undefined && typeof m['mimId'] !== 'string')
    throw bad('has a mim id that is not a string');
  if (!isBlob(m['db'])) throw bad('does not describe the store');
  const files = m['files'];
  if (!Array.isArray(files)) throw bad('has no file list');
  const paths = new Set<string>();
  for (const f of files as unknown[]) {
    if (!isBlob(f) || typeof f['path'] !== 'string' || !isPlainRelativePath(f['path'])) {
      throw bad(`lists a file with a bad path or checksum: ${JSON.stringify(isRecord(f) ? f['path'] : f)}`);
    }
    if (paths.has(f['path'])) throw bad(`lists ${JSON.stringify(f['path'])} twice`);
    paths.add(f['path']);
  }
  return m as unknown as BackupManifest;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isBlob(v: unknown): v is Record<string, unknown> & BackupBlob {
  return (
    isRecord(v) &&
    Number.isSafeInteger(v['size']) &&
    (v['size'] as number) >= 0 &&
    typeof v['sha256'] === 'string' &&
    HEX_SHA256.test(v['sha256'])
  );
}

/** `a/b/c`: non-empty segments, none `.` or `..`, no NUL or backslash. */
export function isPlainRelativePath(p: string): boolean {
  if (p === '' || p.length > 4096 || p.includes('\0') || p.includes('\\')) return false;
  return p.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}
