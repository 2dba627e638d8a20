import fs from 'node:fs';
import path from 'node:path';
import { packMimImage } from '../../src/images/pack.js';
import { ROOT } from './node-process.js';

/** A test mim bundle built by scripts/build-fixtures.mjs (npm run pretest). */
export function fixtureBundle(name: string): Buffer {
  const file = path.join(ROOT, 'test', 'fixtures', 'mims', 'build', `${name}.js`);
  if (!fs.existsSync(file)) throw new Error(`missing ${file}: run "node scripts/build-fixtures.mjs" first`);
  return fs.readFileSync(file);
}

/** A docker-save image tar of a test mim, made with `mimoe pack`'s code. */
export async function fixtureImage(mim: string, imageName: string, tag = '1.0.0'): Promise<Buffer> {
  return packMimImage({ bundle: fixtureBundle(mim), name: imageName, tag });
}
