import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Db } from '../state/node-db.js';
import { freeingWrite, keepDiskReserve } from '../state/disk-reserve.js';
import { MimoeError } from '../errors/index.js';
import { BlobStore } from './blobs.js';
import { objectId, type ImageRecord } from './image.js';
import { readMimImage } from './read-image.js';
import { spoolToFile } from './spool.js';

export interface ImageLimits {
  maxImageBytes: number;
  maxBundleBytes: number;
  maxTarEntries: number;
}

interface ImageRow {
  id: string;
  client_id: string;
  name: string;
  digest: string;
  repo_tags: string;
  created: number;
  size: number;
  blob: string;
}

function fromRow(r: ImageRow): ImageRecord {
  return {
    id: r.id,
    clientId: r.client_id,
    name: r.name,
    digest: r.digest,
    repoTags: JSON.parse(r.repo_tags) as string[],
    created: r.created,
    size: r.size,
    blob: r.blob,
  };
}

/** Images per client: ingest of uploaded tars, listing, lookup and deletion. */
export class ImageStore {
  readonly blobs: BlobStore;

  constructor(
    private readonly db: Db,
    workDir: string,
    private readonly limits: ImageLimits,
  ) {
    this.blobs = new BlobStore(workDir);
  }

  /**
   * Streams an upload to disk, validates it as a mim image, and records it for the client.
   * Re-uploading a name replaces that image; mims deployed from the old one keep its blob.
   */
  async ingest(
    clientId: string,
    source: Readable,
    truncated: () => boolean = () => false,
    options: {
      addon?: boolean;
      /** Told when the image's stored blob was damaged and has been rebuilt from this upload. */
      onRepaired?: (blob: string) => void;
    } = {},
  ): Promise<ImageRecord> {
    const tmp = this.blobs.tempPath('.tar');
    try {
      const { size, sha256 } = await spoolToFile(source, tmp, this.limits.maxImageBytes);
      // A multipart parser that cut the part short ends the stream normally: ask it.
      if (truncated())
        throw new MimoeError('ERR_IMAGE_TOO_LARGE', `the image exceeds ${this.limits.maxImageBytes} bytes`);
      const parsed = await readMimImage(tmp, {
        maxBundleBytes: this.limits.maxBundleBytes,
        maxEntries: this.limits.maxTarEntries,
      });
      const record: ImageRecord = {
        id: objectId(clientId, parsed.name),
        clientId,
        name: parsed.name,
        digest: `sha256:${sha256}`,
        repoTags: parsed.repoTags,
        created: parsed.created ?? Math.floor(Date.now() / 1000),
        size,
        blob: sha256,
      };
      const previous = this.get(clientId, record.id);
      const clash = this.db.prepare('SELECT client_id FROM images WHERE id = ?').get(record.id) as
        { client_id: string } | undefined;
      if (clash !== undefined && clash.client_id !== clientId) {
        throw new MimoeError(
          'ERR_IMAGE_INVALID',
          `image id ${record.id} is taken by another client; rename the image`,
        );
      }
      // An upload must not swap the code under an addon's name (the loader alone may).
      if (options.addon !== true) this.assertNotAddonClient(clientId);
      if (previous !== undefined && options.addon !== true) this.assertNotAddon(previous);
      if (this.blobs.commit(sha256, tmp, parsed.bundle)) options.onRepaired?.(sha256);
      this.db
        .prepare(
          `INSERT INTO images (id, client_id, name, digest, repo_tags, created, size, blob)
           VALUES (@id, @clientId, @name, @digest, @repoTags, @created, @size, @blob)
           ON CONFLICT(id) DO UPDATE SET digest = excluded.digest, repo_tags = excluded.repo_tags,
             created = excluded.created, size = excluded.size, blob = excluded.blob`,
        )
        .run({ ...record, repoTags: JSON.stringify(record.repoTags) });
      if (previous !== undefined && previous.blob !== record.blob) this.releaseBlob(previous.blob);
      return record;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  list(clientId: string): ImageRecord[] {
    const rows = this.db
      .prepare('SELECT * FROM images WHERE client_id = ? ORDER BY created, id')
      .all(clientId) as ImageRow[];
    return rows.map(fromRow);
  }

  get(clientId: string, id: string): ImageRecord | undefined {
    const row = this.db.prepare('SELECT * FROM images WHERE client_id = ? AND id = ?').get(clientId, id) as
      ImageRow | undefined;
    return row === undefined ? undefined : fromRow(row);
  }

  /**
   * An image by its full id, whatever its client. Only for callers that hold an authorisation bound
   * to that id (an edge HMAC code for its tarball); everything else looks up within its client.
   */
  byId(id: string): ImageRecord | undefined {
    const row = this.db.prepare('SELECT * FROM images WHERE id = ?').get(id) as ImageRow | undefined;
    return row === undefined ? undefined : fromRow(row);
  }

  /**
   * Opens the uploaded tar of an image, byte for byte as it was uploaded. The open descriptor keeps
   * the file readable even if the image is replaced or deleted while it is being sent.
   */
  /** The image's upload as stored; `gzip` when it was uploaded compressed (the bytes are kept as sent). */
  async openTar(
    record: ImageRecord,
  ): Promise<{ handle: fs.promises.FileHandle; size: number; gzip: boolean } | undefined> {
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(this.blobs.tarPath(record.blob), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const { size } = await handle.stat();
      const magic = Buffer.alloc(2);
      const { bytesRead } = await handle.read(magic, 0, 2, 0);
      return { handle, size, gzip: bytesRead === 2 && magic[0] === 0x1f && magic[1] === 0x8b };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  byName(clientId: string, name: string): ImageRecord | undefined {
    return this.get(clientId, objectId(clientId, name));
  }

  /**
   * The addon whose mims run this image, if any. Addon mims carry the `MCM.ADDON.ID` marker that
   * only the addon loader can set, so an image they use is an addon image (protected).
   */
  addonOf(id: string): string | undefined {
    const rows = this.db.prepare('SELECT env FROM mims WHERE image_id = ?').all(id) as { env: string }[];
    for (const row of rows) {
      const addon = addonMarker(row.env);
      if (addon !== undefined) return addon;
    }
    return undefined;
  }

  /**
   * Whether an addon's mims live under this client id: such a client id is the addon's alone, so
   * the API may not upload or deploy under it (a mim nested in an addon's mount, or squatting it
   * while the addon is replaced at start, would get around the addon's protection).
   */
  isAddonClient(clientId: string): boolean {
    const rows = this.db.prepare('SELECT env FROM mims WHERE client_id = ?').all(clientId) as {
      env: string;
    }[];
    return rows.some((row) => addonMarker(row.env) !== undefined);
  }

  /** The API may not act under an addon's client id (ERR_FORBIDDEN). */
  assertNotAddonClient(clientId: string): void {
    if (this.isAddonClient(clientId)) {
      throw new MimoeError(
        'ERR_FORBIDDEN',
        `client id ${clientId} belongs to an addon: its images and mims come from the node's addon folder`,
      );
    }
  }

  /** Addon images are neither deleted nor replaced through the API (ERR_FORBIDDEN). */
  assertNotAddon(record: ImageRecord): void {
    const addon = this.addonOf(record.id);
    if (addon !== undefined) {
      throw new MimoeError(
        'ERR_FORBIDDEN',
        `image ${record.id} belongs to addon ${addon}; remove the addon from the node's addon folder to uninstall it`,
      );
    }
  }

  /** Deletes the record; the caller has checked that no mim uses it. */
  delete(clientId: string, id: string): ImageRecord {
    const record = this.get(clientId, id);
    if (record === undefined) throw new MimoeError('ERR_IMAGE_NOT_FOUND', `image ${id} not found`);
    this.assertNotAddon(record);
    freeingWrite(this.db, () => this.db.prepare('DELETE FROM images WHERE id = ?').run(id));
    this.releaseBlob(record.blob);
    keepDiskReserve(path.dirname(this.db.name));
    return record;
  }

  /** Removes a blob once neither an image nor a mim refers to it. */
  releaseBlob(blob: string): void {
    const used = this.db
      .prepare('SELECT 1 FROM images WHERE blob = ? UNION ALL SELECT 1 FROM mims WHERE blob = ? LIMIT 1')
      .get(blob, blob);
    if (used === undefined) this.blobs.remove(blob);
  }

  /** At start: drop blobs and temp files left by a crash. */
  sweep(): void {
    const rows = this.db.prepare('SELECT blob FROM images UNION SELECT blob FROM mims').all() as {
      blob: string;
    }[];
    this.blobs.sweep(new Set(rows.map((r) => r.blob)));
  }
}

/** The `MCM.ADDON.ID` marker of a recorded mim env (an unreadable record has none). */
function addonMarker(envText: string): string | undefined {
  try {
    const id = (JSON.parse(envText) as Record<string, unknown> | null)?.['MCM.ADDON.ID'];
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}
