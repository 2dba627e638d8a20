import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isMimoeError } from '../../errors/index.js';
import type { ImageStore } from '../../images/store.js';
import type { ImageReadLimits } from '../../images/read-image.js';
import { objectId } from '../../images/image.js';
import { ADDON_PREFIX, ENV_ADDON_ID } from '../env.js';
import type { MimRecord } from '../mim.js';
import { MountTable } from '../mounts.js';
import { parseDeployRequest, type DeployRequest, type MimRegistry } from '../registry.js';
import { AddonImageFiles } from './image-files.js';
import { envWithIni, parseIni, type AddonIni } from './ini.js';
import {
  MANIFEST_FILE,
  MAX_MANIFEST_BYTES,
  addonClientId,
  addonInvalid,
  parseAddonManifest,
  type AddonManifest,
} from './manifest.js';
import { discoverAddons, resolveInside, unpackAddon, type AddonSource } from './source.js';

/**
 * Addons (management.md §4): pre-installed mims loaded at start from `<workDir>/addon/`.
 *
 * Each addon is prepared without touching the node (manifest, .ini, every image read and its
 * index.js checked against the manifest's checksum); a refused addon is logged with its reason
 * and the others load. Then the node is brought in line with what is on disk:
 * - a new addon is installed: its images under the addon's client, its mims deployed with the
 *   `MCM.ADDON.*` markers that make them protected;
 * - an installed addon whose code or env changed (new version, checksum, .ini) has its mims
 *   replaced in place, keeping their DataStores; unchanged mims are left running as restored;
 * - an installed addon whose file or folder is gone is uninstalled (mims, DataStores, images);
 *   one whose file is still there but refused keeps its installed version, so a damaged update
 *   never costs the data of the version that ran.
 */

export const ENV_ADDON_NAME = `${ADDON_PREFIX}NAME`;
export const ENV_ADDON_VERSION = `${ADDON_PREFIX}VERSION`;
export const ENV_ADDON_SOURCE = `${ADDON_PREFIX}SOURCE`;

export interface AddonLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface AddonLoaderDeps {
  /** `<workDir>/addon` (created when missing). */
  readonly addonDir: string;
  /** Where `.addon` files are unpacked (a private dir of the node, e.g. `<workDir>/tmp`). */
  readonly tmpDir: string;
  readonly images: ImageStore;
  readonly mims: MimRegistry;
  readonly logger: AddonLogger;
  readonly limits: ImageReadLimits & { readonly maxImageBytes: number };
}

export interface AddonReport {
  /** Addon ids now installed and current. */
  readonly loaded: string[];
  /** Addon ids whose source was refused while their installed version keeps running. */
  readonly kept: string[];
  /** Refused sources with their reasons. */
  readonly refused: { source: string; reason: string }[];
  /** Addon ids uninstalled because their source is gone. */
  readonly uninstalled: string[];
}

interface PreparedMim {
  readonly req: DeployRequest;
  readonly tarPath: string;
  readonly checksum: string;
}

interface PreparedAddon {
  readonly source: AddonSource;
  readonly manifest: AddonManifest;
  readonly clientId: string;
  readonly mims: PreparedMim[];
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function sameEnv(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

export async function loadAddons(deps: AddonLoaderDeps): Promise<AddonReport> {
  fs.mkdirSync(deps.addonDir, { recursive: true, mode: 0o700 });
  const { sources, ignored } = discoverAddons(deps.addonDir);
  for (const name of ignored) {
    deps.logger.warn({ addon: name }, 'ignoring an entry of the addon dir: not a .addon file or a folder');
  }
  const report: AddonReport = { loaded: [], kept: [], refused: [], uninstalled: [] };
  const refuse = (source: string, err: unknown): void => {
    const reason = reasonOf(err);
    report.refused.push({ source, reason });
    deps.logger.error(
      { addon: source, code: isMimoeError(err) ? err.code : undefined },
      `addon refused: ${reason}`,
    );
  };

  const workRoot = path.join(deps.tmpDir, `addons-${process.pid}-${randomBytes(6).toString('hex')}`);
  fs.mkdirSync(workRoot, { recursive: true, mode: 0o700 });
  try {
    const prepared: PreparedAddon[] = [];
    const byId = new Map<string, string>();
    for (const [i, source] of sources.entries()) {
      try {
        const addon = await prepare(source, path.join(workRoot, String(i)), deps);
        const earlier = byId.get(addon.manifest.id);
        if (earlier !== undefined)
          throw addonInvalid(`addon id ${addon.manifest.id} is already declared by ${earlier}`);
        // `mimik.ai` and `mimik-ai` would share one client, and so one namespace of ids.
        const sharing = prepared.find((p) => p.clientId === addon.clientId);
        if (sharing !== undefined) {
          throw addonInvalid(
            `addon id ${addon.manifest.id} gives client id ${addon.clientId}, already used by addon ${sharing.manifest.id} (${sharing.source.source})`,
          );
        }
        byId.set(addon.manifest.id, source.source);
        prepared.push(addon);
      } catch (err) {
        refuse(source.source, err);
      }
    }

    const installed = new Map<string, MimRecord[]>();
    for (const record of deps.mims.addonMims()) {
      const id = record.env[ENV_ADDON_ID] ?? '';
      installed.set(id, [...(installed.get(id) ?? []), record]);
    }

    // Gone first, so an addon taking over a removed one's client id installs in the same start.
    const present = new Set(sources.map((s) => s.source));
    for (const [id, records] of installed) {
      const source = records[0]?.env[ENV_ADDON_SOURCE] ?? '';
      if (present.has(source) || prepared.some((p) => p.manifest.id === id)) continue;
      await uninstall(records, deps);
      installed.delete(id);
      report.uninstalled.push(id);
      deps.logger.info({ addon: id, source }, 'addon uninstalled: its file or folder is gone');
    }

    for (const addon of prepared) {
      const id = addon.manifest.id;
      try {
        const changed = await install(addon, installed.get(id) ?? [], deps);
        report.loaded.push(id);
        deps.logger.info(
          {
            addon: id,
            version: addon.manifest.version,
            source: addon.source.source,
            mims: addon.mims.length,
          },
          changed ? 'addon installed' : 'addon loaded',
        );
      } catch (err) {
        refuse(addon.source.source, err);
      }
    }

    for (const [id, records] of installed) {
      if (report.loaded.includes(id)) continue;
      report.kept.push(id);
      const source = records[0]?.env[ENV_ADDON_SOURCE] ?? '';
      deps.logger.warn({ addon: id, source }, 'addon source refused; its installed version keeps running');
    }
  } finally {
    fs.rmSync(workRoot, { recursive: true, force: true });
  }
  return report;
}

/** Reads and checks everything of one addon; changes nothing on the node. */
async function prepare(source: AddonSource, scratch: string, deps: AddonLoaderDeps): Promise<PreparedAddon> {
  let root = source.path;
  if (source.kind === 'file') {
    await unpackAddon(source.path, scratch, { maxFileBytes: deps.limits.maxImageBytes });
    root = scratch;
  }
  if (!fs.existsSync(path.join(root, MANIFEST_FILE))) {
    throw addonInvalid(`the ${source.kind} has no ${MANIFEST_FILE} at its root`);
  }
  const manifestPath = resolveInside(root, MANIFEST_FILE, 'the manifest');
  if (fs.statSync(manifestPath).size > MAX_MANIFEST_BYTES) {
    throw addonInvalid(`${MANIFEST_FILE} is larger than ${MAX_MANIFEST_BYTES} bytes`);
  }
  const manifest = parseAddonManifest(fs.readFileSync(manifestPath));
  const clientId = addonClientId(manifest.id);

  let ini: AddonIni = { global: {}, sections: new Map() };
  if (source.iniPath !== undefined) {
    const label = path.basename(source.iniPath);
    ini = parseIni(fs.readFileSync(source.iniPath, 'utf8'), label);
    for (const section of ini.sections.keys()) {
      if (!manifest.mims.some((m) => m.name === section)) {
        throw addonInvalid(`${label}: section [${section}] names no mim of the addon`);
      }
    }
  }

  const images = new AddonImageFiles(deps.limits);
  const mounts = new MountTable();
  const mims: PreparedMim[] = [];
  for (const [i, entry] of manifest.mims.entries()) {
    const at = `mims[${i}] (${entry.name})`;
    const tarPath = resolveInside(root, entry.image.file, `${at} image file`);
    if (fs.statSync(tarPath).size > deps.limits.maxImageBytes) {
      throw addonInvalid(
        `${at}: image file ${entry.image.file} is larger than ${deps.limits.maxImageBytes} bytes`,
      );
    }
    const { checksum } = await images.forEntry(tarPath, entry, at);
    if (checksum !== entry.image.indexFileChecksum) {
      throw addonInvalid(
        `${at}: checksum mismatch: index.js in ${entry.image.file} is ${checksum}, the manifest says ${String(entry.image.indexFileChecksum)}`,
      );
    }
    let req: DeployRequest;
    try {
      req = parseDeployRequest({
        name: entry.name,
        image: entry.image.name,
        env: envWithIni(entry.env, ini, entry.name),
      });
    } catch (err) {
      throw addonInvalid(`${at}: ${reasonOf(err)}`);
    }
    req.env = {
      ...req.env,
      [ENV_ADDON_ID]: manifest.id,
      [ENV_ADDON_NAME]: manifest.name,
      [ENV_ADDON_VERSION]: manifest.version,
      [ENV_ADDON_SOURCE]: source.source,
    };
    const id = objectId(clientId, entry.name);
    const paths = deps.mims.mountPaths(clientId, req.env);
    const clash = mounts.conflict(id, clientId, paths);
    if (clash !== undefined)
      throw addonInvalid(`${at}: mount path ${clash.path} is also claimed by ${clash.mim}`);
    mounts.claim(id, clientId, paths);
    mims.push({ req, tarPath, checksum });
  }
  return { source, manifest, clientId, mims };
}

/**
 * Brings one prepared addon onto the node. Conflicts with mims deployed through the API are found
 * before anything changes. Returns whether anything changed.
 */
async function install(
  addon: PreparedAddon,
  installed: MimRecord[],
  deps: AddonLoaderDeps,
): Promise<boolean> {
  const { clientId } = addon;
  const old = new Map(installed.map((r) => [r.id, r]));
  const other = deps.mims
    .list(clientId)
    .map((m) => m.env[ENV_ADDON_ID])
    .find((id) => id !== undefined && id !== addon.manifest.id);
  if (other !== undefined) {
    throw addonInvalid(`client id ${clientId} is held by the installed addon ${other}`);
  }
  // The client id becomes the addon's alone: one with mims or images from the API is not taken over.
  const apiMims = deps.mims.list(clientId).filter((m) => m.env[ENV_ADDON_ID] === undefined);
  const apiImages = deps.images.list(clientId).filter((i) => deps.images.addonOf(i.id) === undefined);
  if (installed.length === 0 && (apiMims.length > 0 || apiImages.length > 0)) {
    throw addonInvalid(
      `client id ${clientId} already holds ${apiMims.length} mim(s) and ${apiImages.length} image(s) deployed through the API`,
    );
  }
  for (const mim of addon.mims) {
    const id = objectId(clientId, mim.req.name);
    const existing = deps.mims.byId(id);
    if (existing !== undefined && !old.has(id)) {
      throw addonInvalid(`mim id ${id} is taken by a mim deployed through the API; delete it first`);
    }
    const clash = deps.mims.mounts.conflict(id, clientId, deps.mims.mountPaths(clientId, mim.req.env));
    if (clash !== undefined && !old.has(clash.mim)) {
      throw addonInvalid(`${mim.req.name}: mount path ${clash.path} is held by mim ${clash.mim}`);
    }
  }

  let changed = false;
  const wanted = new Set<string>();
  const fresh: string[] = [];
  const ingested: string[] = [];
  try {
    // Images first: each verified tar is ingested (again read and checked by the image store) and
    // its stored index.js hashed once more, so a file swapped after preparation is caught.
    const blobs = new Map<string, string>();
    // Blobs found damaged on disk and rebuilt: the mims on them reload, even if nothing else changed.
    const repaired = new Set<string>();
    for (const mim of addon.mims) {
      if (blobs.has(mim.req.image)) continue;
      const record = await deps.images.ingest(clientId, fs.createReadStream(mim.tarPath), undefined, {
        addon: true,
        onRepaired: (blob) => {
          repaired.add(blob);
          deps.logger.warn(
            { addon: addon.manifest.id, image: mim.req.image },
            'addon image was damaged on disk; restored from the addon',
          );
        },
      });
      ingested.push(record.id);
      const stored = sha256(fs.readFileSync(deps.images.blobs.bundlePath(record.blob)));
      if (stored !== mim.checksum) {
        throw addonInvalid(`image ${mim.req.image} changed while the addon was loading (${stored})`);
      }
      blobs.set(mim.req.image, record.blob);
    }

    for (const mim of addon.mims) {
      const id = objectId(clientId, mim.req.name);
      wanted.add(id);
      const existing = old.get(id);
      if (existing === undefined) {
        deps.mims.deployAddon(clientId, mim.req);
        fresh.push(id);
        changed = true;
      } else if (
        existing.blob !== blobs.get(mim.req.image) ||
        repaired.has(existing.blob) ||
        existing.image !== mim.req.image ||
        !sameEnv(existing.env, mim.req.env)
      ) {
        await deps.mims.replaceAddonMim(id, mim.req);
        changed = true;
      }
    }
  } catch (err) {
    // A new addon that failed halfway leaves nothing behind; an update's replaced mims stay as
    // replaced, and the next start brings them in line again.
    for (const id of fresh.reverse()) await deps.mims.uninstallAddonMim(id).catch(() => undefined);
    if (installed.length === 0) {
      for (const imageId of ingested) {
        if (deps.mims.usersOfImage(clientId, imageId).length > 0) continue;
        try {
          deps.images.delete(clientId, imageId);
        } catch {
          // already gone
        }
      }
    }
    throw err;
  }
  const gone = installed.filter((r) => !wanted.has(r.id));
  if (gone.length > 0) {
    await uninstall(gone, deps);
    changed = true;
  }
  // Images of the previous version that this one no longer names.
  dropUnusedImages(installed, deps);
  return changed;
}

/** Removes addon mims (with their DataStores), then their images once no mim uses them. */
async function uninstall(records: MimRecord[], deps: AddonLoaderDeps): Promise<void> {
  for (const record of records) {
    try {
      await deps.mims.uninstallAddonMim(record.id);
    } catch (err) {
      deps.logger.error({ mim: record.id }, `could not uninstall addon mim: ${reasonOf(err)}`);
    }
  }
  dropUnusedImages(records, deps);
}

/** Deletes the images these addon mims ran, where no mim uses them any more. */
function dropUnusedImages(records: MimRecord[], deps: AddonLoaderDeps): void {
  const imageIds = new Set(records.map((r) => r.imageId));
  for (const record of records) {
    if (!imageIds.delete(record.imageId)) continue;
    if (deps.images.get(record.clientId, record.imageId) === undefined) continue;
    if (deps.mims.usersOfImage(record.clientId, record.imageId).length > 0) continue;
    try {
      deps.images.delete(record.clientId, record.imageId);
    } catch (err) {
      deps.logger.error({ image: record.imageId }, `could not remove addon image: ${reasonOf(err)}`);
    }
  }
}
