import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { extract, pack } from 'tar-stream';
import { registerAddonCommand } from '../../src/cli/addon.js';
import { runCli, type CliRun } from './cli.js';
import { packMimImage } from '../../src/images/pack.js';

/** Addon folders and `.addon` files for tests, made the way operators make them. */

export interface AddonMimSpec {
  name: string;
  imageName: string;
  /** The image's index.js. */
  bundle: Buffer;
  env: Record<string, string>;
  /** Where the image tar goes in the addon (default `<imageName>.tar`). */
  file?: string;
}

export interface AddonSpec {
  id: string;
  version?: string;
  mims: AddonMimSpec[];
  /** Leave out the checksums (for `mimoe addon build` to fill in). */
  noChecksums?: boolean;
}

export function checksumOf(bundle: Buffer): string {
  return `sha256:${createHash('sha256').update(bundle).digest('hex')}`;
}

/** Writes manifest.json and one image tar per mim into `dir`; returns the manifest path. */
export async function writeAddonFolder(dir: string, spec: AddonSpec): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  const mims = [];
  for (const m of spec.mims) {
    const file = m.file ?? `${m.imageName}.tar`;
    const tar = await packMimImage({
      bundle: m.bundle,
      name: m.imageName,
      tag: '1.0.0',
      created: new Date(0),
    });
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), tar);
    mims.push({
      name: m.name,
      image: {
        name: m.imageName,
        file,
        ...(spec.noChecksums === true ? {} : { indexFileChecksum: checksumOf(m.bundle) }),
      },
      env: m.env,
    });
  }
  const manifest = { id: spec.id, name: `${spec.id} addon`, version: spec.version ?? '1.0.0', mims };
  const manifestPath = path.join(dir, 'manifest.json');
  fs.writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
  return manifestPath;
}

/** Runs `mimoe addon <args>` in-process with captured output. */
export async function runAddonCli(args: string[]): Promise<CliRun> {
  return runCli(registerAddonCommand, ['addon', ...args]);
}

/** Every file of a tar, in order. */
export async function readTarFiles(file: string): Promise<{ name: string; content: Buffer }[]> {
  const files: { name: string; content: Buffer }[] = [];
  const ex = extract();
  ex.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => chunks.push(c as Buffer));
    stream.on('end', () => {
      files.push({ name: header.name, content: Buffer.concat(chunks) });
      next();
    });
  });
  await pipeline(fs.createReadStream(file), ex);
  return files;
}

/** Writes a plain tar of the given files. */
export async function writeTarFiles(file: string, files: { name: string; content: Buffer }[]): Promise<void> {
  const archive = pack();
  const done = pipeline(archive, fs.createWriteStream(file));
  for (const f of files) archive.entry({ name: f.name, mode: 0o644, mtime: new Date(0) }, f.content);
  archive.finalize();
  await done;
}

/**
 * Tampers with a built `.addon`: the image tar at `imageFile` is replaced by one of the same
 * image name whose index.js is `bundle`, the manifest (and its checksum) left as built.
 */
export async function tamperAddon(
  addonFile: string,
  imageFile: string,
  imageName: string,
  bundle: Buffer,
): Promise<void> {
  const files = await readTarFiles(addonFile);
  const forged = await packMimImage({ bundle, name: imageName, tag: '1.0.0', created: new Date(0) });
  const target = files.find((f) => f.name === imageFile);
  if (target === undefined) throw new Error(`${imageFile} is not in ${addonFile}`);
  target.content = forged;
  await writeTarFiles(addonFile, files);
}
