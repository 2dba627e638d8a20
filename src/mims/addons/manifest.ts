import { MimoeError } from '../../errors/index.js';
import { DEFAULT_CLIENT_ID, validateClientId } from '../../auth/client-id.js';
import { imageNameProblem } from '../../images/image-name.js';

/**
 * An addon's `manifest.json` (management.md §4):
 * `{ id, name, version, mims: [{ name, image: { name, file, indexFileChecksum }, env }] }`.
 * Parsing checks shapes and confinement of `file` names only; the files themselves are checked by
 * the loader (and by `mimoe addon build`).
 */

export interface AddonImageRef {
  /** The image name (the image tar's RepoTags name must match it). */
  name: string;
  /** The image tar, relative to the addon's root. */
  file: string;
  /** `sha256:<hex>` of the image's index.js; optional only while building an addon. */
  indexFileChecksum: string | undefined;
}

export interface AddonMimEntry {
  name: string;
  image: AddonImageRef;
  /** As written in the manifest; validated like a deploy's env when the mim is deployed. */
  env: Record<string, unknown>;
}

export interface AddonManifest {
  id: string;
  name: string;
  version: string;
  mims: AddonMimEntry[];
}

export const MANIFEST_FILE = 'manifest.json';
/** Largest manifest.json read. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;
/** Most mims one addon may hold. */
export const MAX_ADDON_MIMS = 64;

const ADDON_ID = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;
const VERSION = /^[A-Za-z0-9][A-Za-z0-9.+_-]{0,63}$/;
const MIM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const CHECKSUM = /^sha256:[0-9a-f]{64}$/;
// eslint-disable-next-line no-control-regex -- the point is to reject control characters
const CONTROL = /[\u0000-\u001f\u007f]/;

export function addonInvalid(message: string): MimoeError {
  return new MimoeError('ERR_ADDON_INVALID', message);
}

/**
 * The client id an addon's mims and images belong to: its id with dots turned into dashes
 * (`mimik.ai` → `mimik-ai`), which is also their mount prefix. `api` is refused: an addon must
 * not land among the objects of the default client.
 */
export function addonClientId(addonId: string): string {
  if (addonId.length > 100 || !ADDON_ID.test(addonId)) {
    throw addonInvalid(
      `id ${JSON.stringify(addonId.slice(0, 100))} must be 1-100 letters or digits in groups joined by ".", "_" or "-" (e.g. mimik.ai)`,
    );
  }
  const clientId = addonId.replaceAll('.', '-');
  try {
    validateClientId(clientId);
  } catch (err) {
    throw addonInvalid(`id ${addonId} gives client id ${clientId}: ${(err as Error).message}`);
  }
  if (clientId.toLowerCase() === DEFAULT_CLIENT_ID) {
    throw addonInvalid(
      `id ${addonId} gives the default client id "${DEFAULT_CLIENT_ID}", which addons may not use`,
    );
  }
  return clientId;
}

/**
 * Checks an image `file` name: relative, forward slashes, no `.`/`..` segments, no NUL, so it
 * can only name a file inside the addon. Returns it normalised (no `./` prefix).
 */
export function confinedFileName(file: string, what: string): string {
  const shown = JSON.stringify(file.slice(0, 200));
  if (file === '' || file.length > 512) throw addonInvalid(`${what} must be 1-512 characters`);
  if (file.includes('\0') || CONTROL.test(file))
    throw addonInvalid(`${what} ${shown} has control characters`);
  if (file.includes('\\')) throw addonInvalid(`${what} ${shown} must use "/" as the separator`);
  if (file.startsWith('/') || /^[A-Za-z]:/.test(file)) {
    throw addonInvalid(`${what} ${shown} is an absolute path; name a file inside the addon`);
  }
  const segments = file.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) throw addonInvalid(`${what} ${shown} climbs out of the addon ("..")`);
  if (segments.length === 0) throw addonInvalid(`${what} ${shown} names no file`);
  return segments.join('/');
}

function text(value: unknown, what: string, max: number): string {
  if (typeof value !== 'string' || value === '')
    throw addonInvalid(`${what} is required and must be a string`);
  if (value.length > max || CONTROL.test(value)) {
    throw addonInvalid(`${what} must be at most ${max} characters without control characters`);
  }
  return value;
}

function parseImage(value: unknown, at: string, requireChecksum: boolean): AddonImageRef {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw addonInvalid(`${at}.image must be an object { name, file, indexFileChecksum }`);
  }
  const v = value as Record<string, unknown>;
  const name = text(v['name'], `${at}.image.name`, 128);
  const problem = imageNameProblem(name);
  if (problem !== undefined)
    throw addonInvalid(`${at}.image.name ${JSON.stringify(name)} is invalid: ${problem}`);
  if (typeof v['file'] !== 'string') throw addonInvalid(`${at}.image.file is required and must be a string`);
  const file = confinedFileName(v['file'], `${at}.image.file`);
  const sum = v['indexFileChecksum'];
  let indexFileChecksum: string | undefined;
  if (sum === undefined && !requireChecksum) indexFileChecksum = undefined;
  else if (typeof sum !== 'string' || !CHECKSUM.test(sum.toLowerCase())) {
    throw addonInvalid(
      `${at}.image.indexFileChecksum must be "sha256:" and 64 hex digits (the sha256 of index.js)`,
    );
  } else indexFileChecksum = sum.toLowerCase();
  return { name, file, indexFileChecksum };
}

/**
 * Parses manifest.json. `requireChecksums: false` is for `mimoe addon build`, which fills
 * missing checksums in; a node requires them.
 */
export function parseAddonManifest(
  raw: Buffer | string,
  options: { requireChecksums?: boolean } = {},
): AddonManifest {
  const requireChecksum = options.requireChecksums ?? true;
  if (raw.length > MAX_MANIFEST_BYTES)
    throw addonInvalid(`${MANIFEST_FILE} is larger than ${MAX_MANIFEST_BYTES} bytes`);
  let doc: unknown;
  try {
    doc = JSON.parse(raw.toString());
  } catch (err) {
    throw addonInvalid(`${MANIFEST_FILE} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw addonInvalid(`${MANIFEST_FILE} must be an object { id, name, version, mims }`);
  }
  const d = doc as Record<string, unknown>;
  const id = text(d['id'], 'id', 100);
  addonClientId(id);
  const name = text(d['name'], 'name', 200);
  const version = text(d['version'], 'version', 64);
  if (!VERSION.test(version)) {
    throw addonInvalid('version must be 1-64 letters, digits, ".", "+", "_" or "-" (e.g. 1.2.0)');
  }
  const list = d['mims'];
  if (!Array.isArray(list) || list.length === 0) throw addonInvalid('mims must be a non-empty array');
  if (list.length > MAX_ADDON_MIMS) throw addonInvalid(`an addon holds at most ${MAX_ADDON_MIMS} mims`);
  const seen = new Set<string>();
  const images = new Map<string, AddonImageRef>();
  const mims = list.map((entry: unknown, i): AddonMimEntry => {
    const at = `mims[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw addonInvalid(`${at} must be an object { name, image, env }`);
    }
    const e = entry as Record<string, unknown>;
    const mimName = text(e['name'], `${at}.name`, 128);
    if (!MIM_NAME.test(mimName)) {
      throw addonInvalid(
        `${at}.name must be letters, digits, ".", "_" or "-", starting with a letter or digit`,
      );
    }
    if (seen.has(mimName)) throw addonInvalid(`${at}.name ${mimName} appears twice`);
    seen.add(mimName);
    const image = parseImage(e['image'], at, requireChecksum);
    // Two mims may share an image, but one image name must mean one file.
    const same = images.get(image.name);
    if (
      same !== undefined &&
      (same.file !== image.file || same.indexFileChecksum !== image.indexFileChecksum)
    ) {
      throw addonInvalid(`${at}.image ${image.name} is named again with another file or checksum`);
    }
    images.set(image.name, image);
    const env = e['env'] ?? {};
    if (typeof env !== 'object' || env === null || Array.isArray(env)) {
      throw addonInvalid(`${at}.env must be an object of strings`);
    }
    return { name: mimName, image, env: env as Record<string, unknown> };
  });
  return { id, name, version, mims };
}
