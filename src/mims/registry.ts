import fs from 'node:fs';
import path from 'node:path';
import type { Db } from '../state/node-db.js';
import { freeingWrite, keepDiskReserve } from '../state/disk-reserve.js';
import { MimoeError } from '../errors/index.js';
import type { ImageStore } from '../images/store.js';
import { objectId } from '../images/image.js';
import type { DataStoreQuota, MimSpec } from '../sandbox/types.js';
import {
  clientBackupDirOf,
  runDataStoreAction,
  sweepInterrupted,
  type DataStoreRequest,
  type DataStoreResult,
} from '../datastore/index.js';
import { ENV_DB_ENCRYPTION, ENV_MAX_EXECUTION_TIME, ENV_ADDON_ID, mountPathsOf, validateEnv } from './env.js';
import type { MimRecord, MimView } from './mim.js';
import { MountTable } from './mounts.js';

/** What the registry needs from the sandbox layer. */
export interface MimHost {
  deploy(spec: MimSpec): void;
  undeploy(mimId: string): Promise<void>;
  isStopped(mimId: string): boolean;
  /** Holds the mim's traffic and closes its DataStore handle; resolves to the resume function. */
  pauseStore(mimId: string): Promise<() => void>;
}

/** What the registry is told about the node's runtime and storage. */
export interface MimRuntime {
  readonly memoryMb: number;
  /** Each mim's DataStore lives in `<dataRoot>/<mim id>`. */
  readonly dataRoot: string;
  /** Where DataStore backups are read and written (paths of the API are confined to it). */
  readonly backupDir: string;
  /** The node's DataStore key (created on first call). */
  readonly dataKey: () => string;
  /** Size quotas of each mim's DataStore. */
  readonly quota: DataStoreQuota;
  /** Limits of `context.http.request` bodies. */
  readonly outbound: {
    readonly maxBodyBytes: number;
    readonly maxFileBytes: number;
    readonly originHosts: readonly string[];
  };
  /** The mark a mim's calls to its own node carry (src/auth/mim-origin.ts). */
  readonly originOf: (mimId: string) => string;
}

export interface NodeIdentity {
  readonly nodeId: string;
  readonly accountId: () => string;
  readonly httpPort: () => number;
}

export interface DeployRequest {
  name: string;
  image: string;
  env: Record<string, string>;
}

interface MimRow {
  id: string;
  client_id: string;
  name: string;
  image: string;
  image_id: string;
  blob: string;
  created: number;
  env: string;
}

function fromRow(r: MimRow): MimRecord {
  return {
    id: r.id,
    clientId: r.client_id,
    name: r.name,
    image: r.image,
    imageId: r.image_id,
    blob: r.blob,
    created: r.created,
    env: parseEnv(r.env) ?? {},
  };
}

/** A recorded env map, or undefined when the record is unreadable (then the mim is not restored). */
function parseEnv(text: string): Record<string, string> | undefined {
  try {
    const env: unknown = JSON.parse(text);
    return env !== null && typeof env === 'object' && !Array.isArray(env)
      ? (env as Record<string, string>)
      : undefined;
  } catch {
    return undefined;
  }
}

const MIM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function invalid(message: string): MimoeError {
  return new MimoeError('ERR_MIM_INVALID', message);
}

/** Parses a deploy body (`POST /mims`, `/containers`): `{ name, image | imageName, env? }`. */
export function parseDeployRequest(body: unknown): DeployRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid('the body must be a JSON object { name, image, env }');
  }
  const b = body as Record<string, unknown>;
  const name = b['name'];
  if (typeof name !== 'string' || name === '') throw invalid('name is required and must be a string');
  if (/\s/.test(name)) throw invalid('name must not contain spaces');
  if (!MIM_NAME.test(name)) {
    throw invalid('name must be 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit');
  }
  const image = b['image'] ?? b['imageName'];
  if (typeof image !== 'string' || image === '')
    throw invalid('image is required and must be a string (the name of an uploaded image)');
  return { name, image, env: validateEnv(b['env']) };
}

/**
 * An addon's mim: its env carries the `MCM.ADDON.ID` marker, which only the addon loader can set
 * (the API refuses `MCM.ADDON.*` keys), so the marker is the protection flag.
 */
export function isAddonMim(record: Pick<MimRecord, 'env'>): boolean {
  return record.env[ENV_ADDON_ID] !== undefined;
}

/** Deployed mims: persistence, mount paths, and their hand-off to the sandboxes. */
export class MimRegistry {
  readonly mounts = new MountTable();
  /** Mims recorded but left out at this start (their mount taken, their record unreadable). */
  private readonly unrestored = new Set<string>();
  /** Per mim: the store operation running (delete, backup, restore), so they never overlap. */
  private readonly storeLocks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly db: Db,
    private readonly images: ImageStore,
    private readonly host: MimHost,
    private readonly identity: NodeIdentity,
    private readonly runtime: MimRuntime,
  ) {}

  /** Where a mim's DataStore lives: `<dataRoot>/<mim id>` (ids are file-name safe by validation). */
  dataDir(mimId: string): string {
    return path.join(this.runtime.dataRoot, mimId);
  }

  mountPaths(clientId: string, env: Record<string, string>): string[] {
    return mountPathsOf(clientId, env);
  }

  /**
   * Checks a deploy request against the current state without changing anything. Through the API
   * (not `addon`), an addon's client id is refused: only its addon deploys there.
   */
  check(clientId: string, req: DeployRequest, addon = false): { id: string; paths: string[] } {
    if (!addon) this.images.assertNotAddonClient(clientId);
    const id = objectId(clientId, req.name);
    if (this.db.prepare('SELECT 1 FROM mims WHERE id = ?').get(id) !== undefined) {
      throw new MimoeError('ERR_MIM_EXISTS', `mim ${id} is already deployed`);
    }
    if (this.images.byName(clientId, req.image) === undefined) {
      throw new MimoeError(
        'ERR_MIM_IMAGE_UNKNOWN',
        `image ${req.image} is not uploaded for client ${clientId}`,
      );
    }
    const paths = this.mountPaths(clientId, req.env);
    const conflict = this.mounts.conflict(id, clientId, paths);
    if (conflict !== undefined) {
      throw new MimoeError(
        'ERR_MOUNT_CONFLICT',
        `mount path ${conflict.path} overlaps the mount of another mim`,
      );
    }
    return { id, paths };
  }

  deploy(clientId: string, req: DeployRequest): MimView {
    return this.view(this.insert(clientId, req));
  }

  /**
   * Deploys an addon's mim: `req.env` carries the `MCM.ADDON.*` markers that the API refuses
   * (validateEnv), which is what makes the mim protected. Only the addon loader calls this.
   */
  deployAddon(clientId: string, req: DeployRequest): MimView {
    if (req.env[ENV_ADDON_ID] === undefined) {
      throw new MimoeError('ERR_INTERNAL', `addon mim ${req.name} carries no ${ENV_ADDON_ID} marker`);
    }
    return this.view(this.insert(clientId, req, true));
  }

  private insert(clientId: string, req: DeployRequest, addon = false): MimRecord {
    const { id, paths } = this.check(clientId, req, addon);
    const image = this.images.byName(clientId, req.image);
    if (image === undefined)
      throw new MimoeError('ERR_MIM_IMAGE_UNKNOWN', `image ${req.image} is not uploaded`);
    const record: MimRecord = {
      id,
      clientId,
      name: req.name,
      image: image.name,
      imageId: image.id,
      blob: image.blob,
      created: Date.now(),
      env: req.env,
    };
    this.db
      .prepare(
        `INSERT INTO mims (id, client_id, name, image, image_id, blob, created, env)
         VALUES (@id, @clientId, @name, @image, @imageId, @blob, @created, @env)`,
      )
      .run({ ...record, env: JSON.stringify(record.env) });
    try {
      this.mounts.claim(id, clientId, paths);
      this.host.deploy(this.spec(record));
    } catch (err) {
      // A sandbox that refuses the mim leaves no row and no mount behind.
      this.mounts.release(id);
      this.db.prepare('DELETE FROM mims WHERE id = ?').run(id);
      throw err;
    }
    return record;
  }

  list(clientId: string): MimView[] {
    const rows = this.db
      .prepare('SELECT * FROM mims WHERE client_id = ? ORDER BY created, id')
      .all(clientId) as MimRow[];
    return rows.map((r) => this.view(fromRow(r)));
  }

  get(clientId: string, id: string): MimRecord | undefined {
    const row = this.db.prepare('SELECT * FROM mims WHERE client_id = ? AND id = ?').get(clientId, id) as
      MimRow | undefined;
    return row === undefined ? undefined : fromRow(row);
  }

  byId(id: string): MimRecord | undefined {
    const row = this.db.prepare('SELECT * FROM mims WHERE id = ?').get(id) as MimRow | undefined;
    return row === undefined ? undefined : fromRow(row);
  }

  usersOfImage(clientId: string, imageId: string): string[] {
    const rows = this.db
      .prepare('SELECT id FROM mims WHERE client_id = ? AND image_id = ?')
      .all(clientId, imageId) as {
      id: string;
    }[];
    return rows.map((r) => r.id);
  }

  /**
   * Removes the mim and its DataStore (store and file area): its code stops once in-flight
   * requests are done, its sandbox closes the store, then the directory is deleted.
   */
  async delete(clientId: string, id: string): Promise<MimView> {
    return this.exclusive(id, async () => {
      const record = this.get(clientId, id);
      if (record === undefined) throw new MimoeError('ERR_MIM_NOT_FOUND', `mim ${id} not found`);
      if (isAddonMim(record)) {
        throw new MimoeError(
          'ERR_FORBIDDEN',
          `mim ${id} belongs to addon ${record.env[ENV_ADDON_ID] ?? ''}; remove the addon from the node's addon folder to uninstall it`,
        );
      }
      return this.remove(record);
    });
  }

  /** Uninstalls an addon's mim and its DataStore (the addon loader, when the addon is gone). */
  async uninstallAddonMim(id: string): Promise<MimView> {
    return this.exclusive(id, async () => {
      const record = this.byId(id);
      if (record === undefined || !isAddonMim(record))
        throw new MimoeError('ERR_MIM_NOT_FOUND', `addon mim ${id} not found`);
      return this.remove(record);
    });
  }

  /**
   * Replaces an addon mim's code and env in place (an updated addon): the old code stops once its
   * in-flight requests are done, the DataStore stays, the new code starts on the same id.
   */
  async replaceAddonMim(id: string, req: DeployRequest): Promise<MimView> {
    return this.exclusive(id, async () => {
      const old = this.byId(id);
      if (old === undefined || !isAddonMim(old) || req.env[ENV_ADDON_ID] === undefined)
        throw new MimoeError('ERR_MIM_NOT_FOUND', `addon mim ${id} not found`);
      const image = this.images.byName(old.clientId, req.image);
      if (image === undefined)
        throw new MimoeError('ERR_MIM_IMAGE_UNKNOWN', `image ${req.image} is not uploaded`);
      const paths = this.mountPaths(old.clientId, req.env);
      const conflict = this.mounts.conflict(id, old.clientId, paths);
      if (conflict !== undefined) {
        throw new MimoeError(
          'ERR_MOUNT_CONFLICT',
          `mount path ${conflict.path} overlaps the mount of another mim`,
        );
      }
      const record: MimRecord = {
        ...old,
        image: image.name,
        imageId: image.id,
        blob: image.blob,
        env: req.env,
      };
      this.mounts.release(id);
      await this.host.undeploy(id);
      this.db
        .prepare('UPDATE mims SET image = ?, image_id = ?, blob = ?, env = ? WHERE id = ?')
        .run(record.image, record.imageId, record.blob, JSON.stringify(record.env), id);
      this.mounts.claim(id, record.clientId, paths);
      this.host.deploy(this.spec(record));
      if (old.blob !== record.blob) this.images.releaseBlob(old.blob);
      return this.view(record);
    });
  }

  /** Every addon mim deployed on the node, of any client. */
  addonMims(): MimRecord[] {
    const rows = this.db.prepare('SELECT * FROM mims ORDER BY created, id').all() as MimRow[];
    return rows.map(fromRow).filter(isAddonMim);
  }

  /** Call inside exclusive(record.id). */
  private async remove(record: MimRecord): Promise<MimView> {
    const id = record.id;
    const view = this.view(record);
    // The record goes first: if that write fails (a full disk), the mim is left whole, still
    // mounted and listed, rather than unmounted but listed.
    freeingWrite(this.db, () => this.db.prepare('DELETE FROM mims WHERE id = ?').run(id));
    this.mounts.release(id);
    this.unrestored.delete(id);
    await this.host.undeploy(id);
    fs.rmSync(this.dataDir(id), { recursive: true, force: true, maxRetries: 3 });
    this.images.releaseBlob(record.blob);
    keepDiskReserve(path.dirname(this.db.name));
    return view;
  }

  /**
   * `POST /mims/{id}/dataStore`: backs up (online) or restores (traffic paused) the mim's
   * DataStore; see datastore/operations.ts. Another client's mim is not found, and another
   * client's backups are out of reach: paths resolve inside this client's own backup directory.
   */
  async dataStore(clientId: string, id: string, req: DataStoreRequest): Promise<DataStoreResult> {
    return this.exclusive(id, async () => {
      const record = this.get(clientId, id);
      if (record === undefined) throw new MimoeError('ERR_MIM_NOT_FOUND', `mim ${id} not found`);
      const spec = this.spec(record);
      const backupDir = clientBackupDirOf(this.runtime.backupDir, record.clientId);
      return runDataStoreAction(req, spec, backupDir, () => this.host.pauseStore(id));
    });
  }

  /** Runs `fn` after the mim's previous store operation has settled. */
  private async exclusive<T>(mimId: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.storeLocks.get(mimId) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.storeLocks.set(mimId, tail);
    try {
      return await run;
    } finally {
      if (this.storeLocks.get(mimId) === tail) this.storeLocks.delete(mimId);
    }
  }

  /**
   * At start: mount and load every mim that was deployed before. One that cannot be restored (its
   * mount taken by an earlier one) is reported and left out, never a reason for the node not to
   * start; it stays recorded, so deleting it (or the mim in its way) settles it.
   */
  restoreAll(onRefused: (mimId: string, reason: string) => void = () => undefined): number {
    const rows = this.db.prepare('SELECT * FROM mims ORDER BY created, id').all() as MimRow[];
    let restored = 0;
    for (const row of rows) {
      try {
        if (parseEnv(row.env) === undefined) throw new Error('its recorded env is unreadable');
        const record = fromRow(row);
        sweepInterrupted(this.dataDir(record.id));
        this.mounts.claim(record.id, record.clientId, this.mountPaths(record.clientId, record.env));
        this.host.deploy(this.spec(record));
        restored++;
      } catch (err) {
        this.unrestored.add(row.id);
        onRefused(row.id, err instanceof Error ? err.message : String(err));
      }
    }
    return restored;
  }

  /** Sends every mim its spec again (the node's identity changed, e.g. the associated account). */
  refreshInfo(): void {
    const rows = this.db.prepare('SELECT * FROM mims ORDER BY created, id').all() as MimRow[];
    for (const row of rows) this.host.deploy(this.spec(fromRow(row)));
  }

  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM mims').get() as { n: number }).n;
  }

  view(r: MimRecord): MimView {
    if (this.unrestored.has(r.id)) {
      // Recorded but not running since this start (see restoreAll): delete it, or what is in its way.
      return { ...this.viewOf(r), state: 'stopped', status: 'not-restored' };
    }
    return this.viewOf(r);
  }

  private viewOf(r: MimRecord): MimView {
    const stopped = this.host.isStopped(r.id);
    return {
      id: r.id,
      name: r.name,
      image: r.image,
      imageId: r.imageId,
      clientId: r.clientId,
      created: r.created,
      state: stopped ? 'stopped' : 'started',
      status: stopped ? 'crashed' : 'up',
      env: r.env,
    };
  }

  spec(r: MimRecord): MimSpec {
    return {
      mimId: r.id,
      bundlePath: this.images.blobs.bundlePath(r.blob),
      env: r.env,
      info: {
        serviceType: `${r.clientId}-${r.image}`,
        apiRoot: this.mountPaths(r.clientId, r.env)[0] ?? '',
        httpPort: String(this.identity.httpPort()),
        nodeId: this.identity.nodeId,
        accountId: this.identity.accountId(),
      },
      timeoutMs: Number(r.env[ENV_MAX_EXECUTION_TIME] ?? '30') * 1000,
      memoryMb: this.runtime.memoryMb,
      dataDir: this.dataDir(r.id),
      encryptionKey: r.env[ENV_DB_ENCRYPTION] === 'true' ? this.runtime.dataKey() : undefined,
      quota: this.runtime.quota,
      outbound: { ...this.runtime.outbound, origin: this.runtime.originOf(r.id) },
    };
  }
}
