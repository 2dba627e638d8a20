import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ExpansionBudget, walkTar } from '../../images/tar-entries.js';
import { MimoeError, isMimoeError } from '../../errors/index.js';
import { MANIFEST_FILE, MAX_ADDON_MIMS, addonInvalid } from './manifest.js';

/**
 * Finding addons in `<workDir>/addon/` and giving each one as a directory: a folder is used in
 * place, a `.addon` file (an outer tar, plain or gzip'ed) is unpacked into a private temp dir.
 */

export const ADDON_FILE_SUFFIX = '.addon';
export const INI_SUFFIX = '.ini';

export interface AddonSource {
  /** The file or folder name in the addon dir (the addon's `MCM.ADDON.SOURCE` marker). */
  readonly source: string;
  readonly kind: 'file' | 'folder';
  readonly path: string;
  /** `<source>.ini` beside it, when present. */
  readonly iniPath: string | undefined;
}

/** Every addon candidate in the dir, sorted by name; `.ini` files and dot files are not candidates. */
export function discoverAddons(addonDir: string): { sources: AddonSource[]; ignored: string[] } {
  const sources: AddonSource[] = [];
  const ignored: string[] = [];
  const names = fs.readdirSync(addonDir).sort();
  const present = new Set(names);
  for (const name of names) {
    if (name.startsWith('.') || name.endsWith(INI_SUFFIX)) continue;
    const full = path.join(addonDir, name);
    const stat = fs.statSync(full, { throwIfNoEntry: false });
    const ini = present.has(name + INI_SUFFIX) ? path.join(addonDir, name + INI_SUFFIX) : undefined;
    if (stat?.isDirectory() === true)
      sources.push({ source: name, kind: 'folder', path: full, iniPath: ini });
    else if (stat?.isFile() === true && name.endsWith(ADDON_FILE_SUFFIX) && name !== ADDON_FILE_SUFFIX)
      sources.push({ source: name, kind: 'file', path: full, iniPath: ini });
    else ignored.push(name);
  }
  return { sources, ignored };
}

export interface UnpackLimits {
  /** Largest file in the addon (an image tar). */
  readonly maxFileBytes: number;
}

/**
 * Unpacks a `.addon` tar into `dest` (which must not exist). Only regular files and directories
 * are written; names are confined by walkTar (no absolute paths, no `..`); links, devices and
 * duplicate names are refused, so nothing lands outside `dest` or overwrites an earlier entry.
 */
export async function unpackAddon(file: string, dest: string, limits: UnpackLimits): Promise<void> {
  fs.mkdirSync(dest, { recursive: false, mode: 0o700 });
  const written = new Set<string>();
  const maxEntries = 2 * MAX_ADDON_MIMS + 16;
  const budget = new ExpansionBudget((MAX_ADDON_MIMS + 1) * limits.maxFileBytes);
  const source = fs.createReadStream(file);
  try {
    await walkTar(source, { label: 'the addon', maxEntries, budget }, async (entry, body) => {
      const target = path.join(dest, ...entry.name.split('/'));
      if (entry.kind === 'directory') {
        fs.mkdirSync(target, { recursive: true, mode: 0o700 });
        return;
      }
      if (entry.kind !== 'file') {
        throw addonInvalid(`the addon holds ${entry.kind} ${entry.name}; only files and folders are allowed`);
      }
      if (written.has(entry.name)) throw addonInvalid(`the addon holds ${entry.name} twice`);
      if (entry.size > limits.maxFileBytes) {
        throw addonInvalid(`the addon's ${entry.name} is larger than ${limits.maxFileBytes} bytes`);
      }
      written.add(entry.name);
      fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o700 });
      await pipeline(body, fs.createWriteStream(target, { flags: 'wx', mode: 0o600 }));
    });
  } catch (err) {
    // The tar walker speaks of images; here the archive is an addon.
    if (isMimoeError(err) && err.code === 'ERR_IMAGE_INVALID') throw addonInvalid(err.message);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR' || code === 'EISDIR')
      throw addonInvalid('the addon holds a file and a folder of the same name');
    throw err;
  } finally {
    source.destroy();
  }
  if (!written.has(MANIFEST_FILE)) throw addonInvalid(`the addon has no ${MANIFEST_FILE} at its root`);
}

/**
 * Resolves a manifest's (already confined) `file` name inside `root`, following symlinks in a
 * folder addon only as far as they stay inside it; the result must be a regular file.
 */
export function resolveInside(root: string, file: string, what: string): string {
  const realRoot = fs.realpathSync(root);
  let real: string;
  try {
    real = fs.realpathSync(path.join(root, ...file.split('/')));
  } catch {
    throw addonInvalid(`${what} ${file} does not exist in the addon`);
  }
  if (!real.startsWith(realRoot + path.sep)) {
    throw addonInvalid(`${what} ${file} leads outside the addon (a symlink?)`);
  }
  if (!fs.statSync(real).isFile()) throw addonInvalid(`${what} ${file} is not a regular file`);
  return real;
}

export function isAddonError(err: unknown): err is MimoeError {
  return isMimoeError(err) && err.code === 'ERR_ADDON_INVALID';
}
