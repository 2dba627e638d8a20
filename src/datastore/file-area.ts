import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { MimoeError } from '../errors/index.js';
import { describe } from './args.js';
import { isInside, symlinkEscape } from './confine.js';

/**
 * A mim's file area (runtime.md §3): one directory; every path a mim gives (saveFile, deleteFile,
 * outputFile, form uploads, res.writeMimeFile) resolves inside it or is refused.
 *
 * Paths are relative, `/`-separated; empty and `.` segments are ignored; absolute paths, `..`
 * segments, NUL bytes and symbolic links leading out of the area are refused with a TypeError (the
 * mim's mistake, forwarded into the mim). A missing file is `ERR_FILE_NOT_FOUND`; other I/O
 * failures are `ERR_INTERNAL`. Messages name the mim's relative path, never the host path.
 *
 * Writes are atomic: data goes to a temporary file in the same directory, is fsynced, and is
 * renamed over the target, so a reader (or a crash) sees the old file or the new one, never half.
 * Renaming over a symlink replaces the link itself, so a write never goes through a link.
 *
 * Symlinks can only come from the host (mims have no way to create one), so the check-then-use
 * window between resolve() and the I/O is not reachable from a mim.
 *
 * Quota: the area holds at most `maxBytes` of regular files, so no mim can fill the node's disk.
 * Usage is summed from disk once, on first need (every regular file counts, temporary files of
 * unfinished writes too), then kept up to date by this object's own writes and deletes; a host
 * change under it (a restore) needs a new FileArea. A write that would pass the quota fails with
 * ERR_DATASTORE_FULL before anything lands. writeFile is judged by the area's size after it (new
 * size minus the file it replaces); a streamed write counts each chunk as it arrives, since its
 * temporary file and the file it will replace are both on disk until it commits.
 */

const MAX_PATH_LENGTH = 4096;
/** saveFile takes its data whole, in memory: 64 MiB of base64 (48 MiB of file) at most. */
const MAX_SAVE_FILE_BASE64 = 64 * 1024 * 1024;
const BASE64 = /^[A-Za-z0-9+/\-_\s]*={0,2}\s*$/;
const TEMP_NAME = /^\.mimoe-[0-9a-f]{16}\.tmp$/;
const MIB = 1024 * 1024;

/** Default quota of one mim's file area: as large as the largest outputFile download by default. */
export const DEFAULT_MAX_FILE_AREA_BYTES = 8 * 1024 * MIB;

export interface FileAreaOptions {
  /** Largest total size of the area's regular files; writes past it fail with ERR_DATASTORE_FULL. */
  maxBytes?: number | undefined;
  /** Most files and folders in the area (default: one per 4 KiB of maxBytes, at least 1024). */
  maxEntries?: number | undefined;
}

/**
 * Empty files and folders hold no bytes but take a block and an inode each: without a cap on
 * their number, a mim could fill the disk under any byte quota.
 */
const BYTES_PER_ENTRY = 4096;
const MIN_ENTRIES = 1024;

/**
 * Temporary files of streamed writes in flight in this process: the sweep of stale ones (left by
 * a process that died mid-write) must not take them.
 */
const inFlight = new Set<string>();

export interface AtomicWrite {
  /**
   * Appends bytes to the file being written, resolving once the stream takes more. Fails with
   * ERR_DATASTORE_FULL, writing nothing of the chunk, if it would take the area past its quota.
   */
  write(chunk: Uint8Array): Promise<void>;
  /** Ends the stream, makes the file durable and puts it in place. Resolves to its size in bytes. */
  commit(): Promise<number>;
  /** Discards what was written; the target is left as it was. */
  abort(): Promise<void>;
}

export class FileArea {
  readonly root: string;
  readonly maxBytes: number;
  readonly maxEntries: number;
  /** Bytes of regular files in the area (undefined until first needed). */
  private used: number | undefined;
  /** Files and folders in the area, the root aside (counted with `used`). */
  private entries = 0;

  constructor(root: string, opts: FileAreaOptions = {}) {
    if (typeof root !== 'string' || root === '')
      throw new TypeError('FileArea: root must be a non-empty path');
    const maxBytes = opts.maxBytes ?? DEFAULT_MAX_FILE_AREA_BYTES;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0)
      throw new TypeError('FileArea: maxBytes must be a non-negative integer');
    this.root = path.resolve(root);
    this.maxBytes = maxBytes;
    this.maxEntries = opts.maxEntries ?? Math.max(MIN_ENTRIES, Math.floor(maxBytes / BYTES_PER_ENTRY));
  }

  /**
   * Bytes the area's regular files hold, in-flight streamed writes included. The first call counts
   * them from disk, and removes what writes of a process that died left behind.
   */
  usage(): number {
    if (this.used === undefined) {
      const counted = countArea(this.root);
      this.used = counted.bytes;
      this.entries = counted.entries;
    }
    return this.used;
  }

  /** Files and folders in the area. */
  entryCount(): number {
    this.usage();
    return this.entries;
  }

  /** Bytes that may still be written before the quota is reached. */
  room(): number {
    return Math.max(0, this.maxBytes - this.usage());
  }

  /** The absolute host path of `relPath`, proven to stay inside the area. Creates the area if needed. */
  resolve(relPath: unknown): string {
    const rel = relativePathArg(relPath);
    const target = path.join(this.root, ...rel.split('/'));
    // Lexical check first (defence in depth: the segment rules already exclude escapes).
    if (!isInside(this.root, target) || target === this.root)
      throw pathRefused(rel, 'it is outside the file area');
    // Through io(), so a file system refusal (a name too long...) never shows the host path.
    const escape = io(rel, 'use', () => {
      fs.mkdirSync(this.root, { recursive: true });
      return symlinkEscape(this.root, target);
    });
    if (escape !== undefined) throw pathRefused(rel, escape);
    return target;
  }

  /** runtime.md `context.storage.saveFile(fileName, base64Data)`. Returns the size written. */
  saveFile(fileName: unknown, base64Data: unknown): number {
    if (typeof base64Data !== 'string') {
      throw new TypeError(`saveFile: the data must be a base64 string, got ${describe(base64Data)}`);
    }
    if (base64Data.length > MAX_SAVE_FILE_BASE64) {
      throw new TypeError(`saveFile: the data is larger than ${MAX_SAVE_FILE_BASE64} base64 characters`);
    }
    if (!BASE64.test(base64Data)) throw new TypeError('saveFile: the data is not valid base64');
    return this.writeFile(fileName, Buffer.from(base64Data, 'base64'));
  }

  /** Writes `data` to `relPath` atomically, creating parent directories. Returns the size written. */
  writeFile(relPath: unknown, data: Uint8Array): number {
    const target = this.resolve(relPath);
    const rel = relName(this.root, target);
    const replaced = regularSize(target);
    const newEntries = missingDirs(this.root, path.dirname(target)) + (replaced === undefined ? 1 : 0);
    this.assertRoom(rel, data.byteLength - (replaced ?? 0), newEntries);
    return io(rel, 'write', () => {
      this.makeDirs(path.dirname(target));
      const temp = tempPathFor(target);
      try {
        const fd = fs.openSync(temp, 'wx', 0o600);
        try {
          writeAll(fd, data);
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        fs.renameSync(temp, target);
      } catch (err) {
        fs.rmSync(temp, { force: true });
        throw err;
      }
      this.add(data.byteLength - (replaced ?? 0), replaced === undefined ? 1 : 0);
      return data.byteLength;
    });
  }

  /** runtime.md `context.storage.deleteFile(path)`. True if a file was removed, false if there was none. */
  deleteFile(relPath: unknown): boolean {
    const target = this.resolve(relPath);
    const rel = relName(this.root, target);
    return io(rel, 'delete', () => {
      let st: fs.Stats;
      try {
        st = fs.lstatSync(target);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw err;
      }
      if (st.isDirectory())
        throw new TypeError(`deleteFile: ${JSON.stringify(rel)} is a directory, not a file`);
      fs.unlinkSync(target);
      this.add(st.isFile() ? -st.size : 0, -1);
      this.pruneEmptyDirs(path.dirname(target));
      return true;
    });
  }

  /** Size of a regular file, or undefined if there is none at `relPath`. */
  fileSize(relPath: unknown): number | undefined {
    const target = this.resolve(relPath);
    try {
      const st = fs.statSync(target);
      return st.isFile() ? st.size : undefined;
    } catch {
      return undefined;
    }
  }

  readFile(relPath: unknown): Buffer {
    const { fd, rel } = this.openForRead(relPath);
    return io(rel, 'read', () => {
      try {
        return fs.readFileSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    });
  }

  /** A stream of the file's bytes and its size (for res.writeMimeFile). */
  createReadStream(relPath: unknown): { stream: fs.ReadStream; size: number } {
    const { fd, size } = this.openForRead(relPath);
    return { stream: fs.createReadStream('', { fd, autoClose: true }), size };
  }

  /** A streamed atomic write (outputFile downloads): nothing appears until commit(). */
  createWriteStream(relPath: unknown): AtomicWrite {
    const target = this.resolve(relPath);
    const rel = relName(this.root, target);
    const temp = tempPathFor(target);
    // Count the area before the temporary file exists: its bytes are counted as they are written.
    this.assertRoom(rel, 0, missingDirs(this.root, path.dirname(target)) + 1);
    const fd = io(rel, 'write', () => {
      this.makeDirs(path.dirname(target));
      const opened = fs.openSync(temp, 'wx', 0o600);
      inFlight.add(temp);
      this.add(0, 1);
      return opened;
    });
    const stream = fs.createWriteStream('', { fd, autoClose: false });
    let settled = false;
    /** Bytes counted for this write so far (what its temporary file holds or will hold). */
    let counted = 0;
    const cleanup = (): void => {
      try {
        fs.closeSync(fd);
      } catch {
        // Already closed.
      }
      fs.rmSync(temp, { force: true });
      inFlight.delete(temp);
      this.add(-counted, -1);
      counted = 0;
    };
    return {
      write: async (chunk) => {
        if (settled) throw new TypeError(`write of ${JSON.stringify(rel)} was already committed or aborted`);
        this.assertRoom(rel, chunk.byteLength, 0);
        this.add(chunk.byteLength, 0);
        counted += chunk.byteLength;
        try {
          if (!stream.write(chunk)) await once(stream, 'drain');
        } catch (err) {
          // A full disk or a failing device: the same answers as a synchronous write's.
          throw ioError(rel, 'write', err);
        }
      },
      commit: async () => {
        if (settled) throw new TypeError(`write of ${JSON.stringify(rel)} was already committed or aborted`);
        settled = true;
        try {
          if (!stream.writableFinished) {
            stream.end();
            await once(stream, 'finish').catch((err: unknown) => {
              throw ioError(rel, 'write', err);
            });
          }
          return io(rel, 'write', () => {
            fs.fsyncSync(fd);
            fs.closeSync(fd);
            const { size } = fs.statSync(temp);
            const replaced = regularSize(target);
            fs.renameSync(temp, target);
            inFlight.delete(temp);
            // The temporary file became the target; the file it replaced is gone.
            this.add(size - counted - (replaced ?? 0), replaced === undefined ? 0 : -1);
            counted = 0;
            return size;
          });
        } catch (err) {
          cleanup();
          throw err;
        }
      },
      abort: async () => {
        if (settled) return;
        settled = true;
        stream.destroy();
        if (!stream.closed) await once(stream, 'close').catch(() => undefined);
        cleanup();
      },
    };
  }

  /** Counts `delta` bytes written (negative: freed) and `entries` files or folders made, once usage is known. */
  private add(delta: number, entries: number): void {
    if (this.used === undefined) return;
    this.used = Math.max(0, this.used + delta);
    this.entries = Math.max(0, this.entries + entries);
  }

  /** Creates `dir` and its missing parents, counting each one made. */
  private makeDirs(dir: string): void {
    const made = missingDirs(this.root, dir);
    fs.mkdirSync(dir, { recursive: true });
    this.add(0, made);
  }

  /** Removes the folders a deletion left empty, up to the area's root: a mim cannot name folders to delete them. */
  private pruneEmptyDirs(dir: string): void {
    for (let d = dir; d !== this.root && isInside(this.root, d); d = path.dirname(d)) {
      try {
        fs.rmdirSync(d);
      } catch {
        return; // not empty (or already gone): its parents are not empty either
      }
      this.add(0, -1);
    }
  }

  /**
   * Refuses, with ERR_DATASTORE_FULL, a write to `relPath` that would grow the area by `growth`
   * bytes, or by `newEntries` files and folders, past its quota.
   */
  assertRoom(relPath: string, growth: number, newEntries = 0): void {
    this.usage();
    if (newEntries > 0 && this.entries + newEntries > this.maxEntries) {
      throw new MimoeError(
        'ERR_DATASTORE_FULL',
        `the file area is full: ${JSON.stringify(relPath)} would pass its quota of ${this.maxEntries} files and folders`,
      );
    }
    if (growth <= 0 || this.usage() + growth <= this.maxBytes) return;
    throw new MimoeError(
      'ERR_DATASTORE_FULL',
      `the file area is full: ${growth} more bytes for ${JSON.stringify(relPath)} would pass its ` +
        `quota of ${this.maxBytes} bytes (${formatMib(this.maxBytes)} MiB); ${this.room()} bytes are free`,
    );
  }

  private openForRead(relPath: unknown): { fd: number; rel: string; size: number } {
    const target = this.resolve(relPath);
    const rel = relName(this.root, target);
    return io(rel, 'read', () => {
      // O_NOFOLLOW: the final component was checked by resolve(); refuse it if it became a link since.
      const fd = fs.openSync(target, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      const st = fs.fstatSync(fd);
      if (!st.isFile()) {
        fs.closeSync(fd);
        throw new TypeError(`${JSON.stringify(rel)} is not a regular file`);
      }
      return { fd, rel, size: st.size };
    });
  }
}

function relativePathArg(value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`file path must be a string, got ${describe(value)}`);
  if (value.length > MAX_PATH_LENGTH)
    throw new TypeError(`file path is longer than ${MAX_PATH_LENGTH} characters`);
  if (value.includes('\0')) throw pathRefused(value, 'it contains a NUL byte');
  if (path.isAbsolute(value) || value.startsWith('\\'))
    throw pathRefused(value, 'absolute paths are not allowed');
  const segments = value.split(/[/\\]/).filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) throw pathRefused(value, "'..' is not allowed");
  // Names of unfinished writes: backups skip them and the node removes them at start.
  if (segments.some(isTempName)) throw pathRefused(value, 'names like .mimoe-<16 hex>.tmp are reserved');
  if (segments.length === 0) throw pathRefused(value, 'it names no file');
  return segments.join('/');
}

function pathRefused(rel: string, reason: string): TypeError {
  return new TypeError(`file path ${JSON.stringify(rel)} is refused: ${reason}`);
}

function relName(root: string, target: string): string {
  return path.relative(root, target).split(path.sep).join('/');
}

function tempPathFor(target: string): string {
  return path.join(path.dirname(target), `.mimoe-${crypto.randomBytes(8).toString('hex')}.tmp`);
}

/** Size of the regular file at `target` (a link is not followed), undefined if there is none. */
function regularSize(target: string): number | undefined {
  try {
    // No exception for a missing file: building one costs more than the lstat itself.
    const st = fs.lstatSync(target, { throwIfNoEntry: false });
    return st?.isFile() === true ? st.size : undefined;
  } catch {
    return undefined;
  }
}

/** How many folders from `dir` up to (not including) `root` do not exist yet. */
function missingDirs(root: string, dir: string): number {
  let missing = 0;
  for (let d = dir; d !== root && isInside(root, d); d = path.dirname(d)) {
    if (fs.existsSync(d)) break;
    missing++;
  }
  return missing;
}

/** writeSync may write less than asked (a disk filling up): go on until all is written, or it throws. */
function writeAll(fd: number, data: Uint8Array): void {
  for (let done = 0; done < data.byteLength;) {
    const n = fs.writeSync(fd, data, done, data.byteLength - done);
    if (n === 0) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    done += n;
  }
}

/**
 * The regular files and folders under `dir` (links not followed). Folders that vanish during the
 * walk, or cannot be read, hold nothing.
 */
function* entriesUnder(dir: string): Generator<{ full: string; name: string; folder: boolean }> {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      yield { full, name: entry.name, folder: true };
      yield* entriesUnder(full);
    } else if (entry.isFile()) yield { full, name: entry.name, folder: false };
  }
}

/**
 * Counts the area from disk: bytes of its regular files and the number of files and folders.
 * Temporary files of writes that are not in flight in this process were left by one that died
 * mid-write: they are removed rather than counted.
 */
function countArea(root: string): { bytes: number; entries: number } {
  let bytes = 0;
  let entries = 0;
  for (const { full, name, folder } of entriesUnder(root)) {
    if (!folder && isTempName(name) && !inFlight.has(full)) {
      fs.rmSync(full, { force: true });
      continue;
    }
    entries++;
    if (!folder) bytes += regularSize(full) ?? 0;
  }
  return { bytes, entries };
}

function formatMib(bytes: number): string {
  return Number((bytes / MIB).toFixed(2)).toString();
}

/**
 * Removes what unfinished writes (a sandbox process killed mid-write) left in the file area at
 * `root`: they would count against the quota, and the mim cannot name them to delete them. Run at
 * start, before the mim serves, when no write can be in flight. Returns how many were removed.
 */
export function sweepUnfinishedWrites(root: string): number {
  let removed = 0;
  for (const { full, name, folder } of entriesUnder(root)) {
    if (folder || !isTempName(name)) continue;
    fs.rmSync(full, { force: true });
    removed++;
  }
  return removed;
}

/** True for the temporary name of an unfinished atomic write (skipped by backups). */
export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

type FileOp = 'read' | 'write' | 'delete' | 'use';

/** Runs a file operation, turning errno failures into errors that say what went wrong in mim terms. */
function io<T>(rel: string, op: FileOp, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw ioError(rel, op, err);
  }
}

/** An errno failure of an operation on `rel`, said in mim terms and without host paths. */
function ioError(rel: string, op: FileOp, err: unknown): Error {
  if (err instanceof TypeError || err instanceof MimoeError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const name = JSON.stringify(rel);
  switch (code) {
    case 'ENOENT':
      return new MimoeError('ERR_FILE_NOT_FOUND', `no file ${name} in the file area`);
    case 'ENOTDIR':
    case 'EEXIST':
      return new TypeError(`cannot ${op} ${name}: a parent of it is a file, not a directory`);
    case 'EISDIR':
      return new TypeError(`cannot ${op} ${name}: it is a directory`);
    case 'ELOOP':
      return pathRefused(rel, 'it is a symbolic link');
    case 'ENAMETOOLONG':
      return new TypeError(`cannot ${op} ${name}: a name in the path is too long`);
    case 'ENOSPC':
    case 'EDQUOT':
      // The node's disk (or the user's disk quota) is full: the same answer as the mim's quota.
      return new MimoeError('ERR_DATASTORE_FULL', `cannot ${op} ${name}: the node's disk is full`, {
        cause: err,
      });
    default:
      return new MimoeError('ERR_INTERNAL', `cannot ${op} ${name} in the file area (${code ?? 'error'})`, {
        cause: err,
      });
  }
}
