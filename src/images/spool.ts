import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MimoeError } from '../errors/index.js';

/**
 * Streams an upload to `destPath` (created or truncated; the caller picks a temp path), hashing
 * and counting as it goes, so no upload is ever held in memory. Past `maxBytes` it stops reading
 * and throws ERR_IMAGE_TOO_LARGE; on that or any stream error the partial file is deleted.
 */
export async function spoolToFile(
  source: Readable,
  destPath: string,
  maxBytes: number,
): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
      size += chunk.length;
      if (size > maxBytes) {
        callback(
          new MimoeError('ERR_IMAGE_TOO_LARGE', `the image is larger than the ${maxBytes}-byte limit`),
        );
        return;
      }
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  const out = fs.createWriteStream(destPath);
  try {
    await pipeline(source, meter, out);
  } catch (err) {
    // The file is opened asynchronously: wait until it is closed, or it could reappear after rm.
    if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()));
    await fs.promises.rm(destPath, { force: true });
    throw err;
  }
  return { size, sha256: hash.digest('hex') };
}
