import fs from 'node:fs';
import path from 'node:path';

/**
 * Content-addressed image blobs: `<workDir>/images/blobs/<sha256 hex>/{image.tar,index.js}`.
 * A blob directory appears whole (built in tmp, then renamed) and is removed only when no image
 * and no mim refers to it, so a running mim keeps its code when its image is replaced.
 */
export class BlobStore {
  readonly root: string;
  readonly tmpDir: string;

  constructor(workDir: string) {
    this.root = path.join(workDir, 'images', 'blobs');
    this.tmpDir = path.join(workDir, 'tmp');
    fs.mkdirSync(this.root, { recursive: true });
    fs.mkdirSync(this.tmpDir, { recursive: true });
  }

  dir(blob: string): string {
    return path.join(this.root, blob);
  }

  tarPath(blob: string): string {
    return path.join(this.root, blob, 'image.tar');
  }

  bundlePath(blob: string): string {
    return path.join(this.root, blob, 'index.js');
  }

  has(blob: string): boolean {
    return fs.existsSync(this.bundlePath(blob));
  }

  /** A fresh temp path for an upload in progress. */
  tempPath(suffix: string): string {
    return path.join(
      this.tmpDir,
      `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}${suffix}`,
    );
  }

  /**
   * Moves a verified tar and its bundle into place as blob `blob` (atomic: rename of a whole dir).
   * A blob already in place is kept if its index.js is the verified bundle, and rebuilt from this
   * upload if not (damaged or edited on disk): true then, so the caller can reload what runs it.
   */
  commit(blob: string, tarFile: string, bundle: Buffer): boolean {
    const repair = this.has(blob);
    if (repair && this.holds(blob, tarFile, bundle)) {
      fs.rmSync(tarFile, { force: true });
      return false;
    }
    const staging = this.tempPath('.blob');
    fs.mkdirSync(staging);
    try {
      fs.renameSync(tarFile, path.join(staging, 'image.tar'));
      fs.writeFileSync(path.join(staging, 'index.js'), bundle, { flag: 'wx' });
      fs.rmSync(this.dir(blob), { recursive: true, force: true });
      fs.renameSync(staging, this.dir(blob));
    } catch (err) {
      fs.rmSync(staging, { recursive: true, force: true });
      throw err;
    }
    return repair;
  }

  /** Whether blob `blob` holds `bundle` as its index.js and a tar of the size of `tarFile`. */
  private holds(blob: string, tarFile: string, bundle: Buffer): boolean {
    try {
      return (
        fs.statSync(this.tarPath(blob)).size === fs.statSync(tarFile).size &&
        fs.readFileSync(this.bundlePath(blob)).equals(bundle)
      );
    } catch {
      return false;
    }
  }

  remove(blob: string): void {
    fs.rmSync(this.dir(blob), { recursive: true, force: true });
  }

  /** Removes blobs nobody refers to and leftovers of interrupted uploads. */
  sweep(referenced: ReadonlySet<string>): void {
    fs.rmSync(this.tmpDir, { recursive: true, force: true });
    fs.mkdirSync(this.tmpDir, { recursive: true });
    for (const name of fs.readdirSync(this.root)) {
      if (!referenced.has(name)) fs.rmSync(path.join(this.root, name), { recursive: true, force: true });
    }
  }
}
