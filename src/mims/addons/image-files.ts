/**
 * The image files an addon's manifest names, each read once however many mims name it, and every
 * mim entry checked against what its file holds. Shared by the node's loader and `mimoe addon
 * build`, so both refuse the same manifests with the same messages.
 */
import { createHash } from 'node:crypto';
import { readMimImage, type ImageReadLimits } from '../../images/read-image.js';
import { addonInvalid, type AddonMimEntry } from './manifest.js';

/** What one image file holds. */
export interface AddonImageFile {
  readonly imageName: string;
  /** `sha256:<hex>` of its index.js: what `indexFileChecksum` must say. */
  readonly checksum: string;
}

export class AddonImageFiles {
  private readonly read = new Map<string, AddonImageFile>();

  constructor(private readonly limits: ImageReadLimits) {}

  /**
   * What the file at `realPath` (resolved and confined by the caller) holds, checked against the
   * image name `entry` expects. `at` names the entry in messages.
   */
  async forEntry(realPath: string, entry: AddonMimEntry, at: string): Promise<AddonImageFile> {
    let file = this.read.get(realPath);
    if (file === undefined) {
      let image;
      try {
        image = await readMimImage(realPath, this.limits);
      } catch (err) {
        throw addonInvalid(
          `${at}: image file ${entry.image.file}: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      file = {
        imageName: image.name,
        checksum: `sha256:${createHash('sha256').update(image.bundle).digest('hex')}`,
      };
      this.read.set(realPath, file);
    }
    // Checked for every entry, also for a second one naming a file already read.
    if (file.imageName !== entry.image.name) {
      throw addonInvalid(
        `${at}: image file ${entry.image.file} holds image ${file.imageName}, not ${entry.image.name}`,
      );
    }
    return file;
  }
}
