import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { pack } from 'tar-stream';
import { DEFAULTS } from '../config/defaults.js';
import { ENV_BASE_API_PATH } from '../mims/env.js';
import { MANIFEST_FILE, addonClientId, addonInvalid, parseAddonManifest } from '../mims/addons/manifest.js';
import { AddonImageFiles } from '../mims/addons/image-files.js';
import { resolveInside } from '../mims/addons/source.js';
import type { CliIo } from './io.js';

interface BuildOptions {
  manifest: string;
  out?: string;
  json?: boolean;
}

const EXAMPLES = `
Examples:
  $ mimoe addon build --manifest my-addon/manifest.json --out mimik.ai.addon
      packs manifest.json and the image tars it names into mimik.ai.addon
  $ mimoe addon build --manifest manifest.json --json

manifest.json: { "id": "mimik.ai", "name": "...", "version": "1.0.0",
  "mims": [{ "name": "agent", "image": { "name": "agent-v1", "file": "agent-v1.tar" },
             "env": { "MCM.BASE_API_PATH": "/agent/v1" } }] }
Each image "file" is relative to the manifest's folder and must stay inside it. A missing
"indexFileChecksum" is filled in (sha256 of the image's index.js); a present one must match.
Install: copy the .addon file into <work-dir>/addon/ and restart the node; its mims answer at
/<id with dots turned into dashes><MCM.BASE_API_PATH>, e.g. /mimik-ai/agent/v1.`;

/** `mimoe addon build --manifest FILE [--out FILE.addon] [--json]`. */
export function registerAddonCommand(program: Command, io: CliIo): void {
  const addon = program
    .command('addon')
    .description('build addons: pre-installed, protected mims a node loads from <work-dir>/addon')
    .configureOutput({ writeOut: (t) => io.stdout.write(t), writeErr: (t) => io.stderr.write(t) });
  addon
    .command('build')
    .description('pack a manifest.json and the image tars it names into a .addon file')
    .requiredOption('--manifest <file>', 'the addon manifest.json')
    .option('-o, --out <file>', 'where to write the addon (default ./<id>.addon)')
    .option('--json', 'print the result as a JSON object')
    .configureOutput({ writeOut: (t) => io.stdout.write(t), writeErr: (t) => io.stderr.write(t) })
    .addHelpText('after', EXAMPLES)
    .action(async (options: BuildOptions) => {
      try {
        await buildAddon(options, io);
      } catch (err) {
        io.stderr.write(`mimoe addon build: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 1;
      }
    });
}

async function buildAddon(options: BuildOptions, io: CliIo): Promise<void> {
  let raw: Buffer;
  try {
    raw = fs.readFileSync(options.manifest);
  } catch (err) {
    throw new Error(`cannot read ${options.manifest}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const manifest = parseAddonManifest(raw, { requireChecksums: false });
  const root = path.dirname(path.resolve(options.manifest));
  const doc = JSON.parse(raw.toString()) as { mims: { image: Record<string, unknown> }[] };

  const images = new AddonImageFiles({
    maxBundleBytes: DEFAULTS.maxBundleBytes,
    maxEntries: DEFAULTS.maxTarEntries,
  });
  // The tar's entries: each manifest path once, with the file it names.
  const files = new Map<string, { real: string }>();
  const checksums: string[] = [];
  for (const [i, entry] of manifest.mims.entries()) {
    const at = `mims[${i}] (${entry.name})`;
    const real =
      files.get(entry.image.file)?.real ?? resolveInside(root, entry.image.file, `${at} image file`);
    files.set(entry.image.file, { real });
    const found = await images.forEntry(real, entry, at);
    checksums.push(found.checksum);
    if (entry.env[ENV_BASE_API_PATH] === undefined) {
      // Not an error here: the .ini beside the installed addon may supply it.
      io.stderr.write(
        `mimoe addon build: warning: ${at} has no ${ENV_BASE_API_PATH}; the node refuses the addon unless its .ini sets one\n`,
      );
    }
    const given = entry.image.indexFileChecksum;
    if (given !== undefined && given !== found.checksum) {
      throw addonInvalid(
        `${at}: indexFileChecksum ${given} does not match index.js in ${entry.image.file} (${found.checksum})`,
      );
    }
    const image = doc.mims[i]?.image;
    if (image !== undefined) image['indexFileChecksum'] = found.checksum;
  }
  const manifestOut = Buffer.from(`${JSON.stringify(doc, null, 2)}\n`);
  // What the node will check, checked here too.
  parseAddonManifest(manifestOut);

  const out = options.out ?? `${manifest.id}.addon`;
  if (!fs.statSync(path.dirname(path.resolve(out)), { throwIfNoEntry: false })?.isDirectory())
    throw new Error(`the folder of ${out} does not exist`);
  const temp = `${out}.${process.pid}.partial`;
  try {
    await writeAddonTar(temp, manifestOut, files);
    fs.renameSync(temp, out);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw err;
  }
  const size = fs.statSync(out).size;
  const result = {
    path: path.resolve(out),
    id: manifest.id,
    clientId: addonClientId(manifest.id),
    version: manifest.version,
    size,
    mims: manifest.mims.map((m, i) => ({
      name: m.name,
      image: m.image.name,
      indexFileChecksum: checksums[i],
    })),
  };
  if (options.json === true) io.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    io.stdout.write(
      `Built addon ${manifest.id} ${manifest.version} → ${out} (${size} bytes, ${manifest.mims.length} mim${manifest.mims.length === 1 ? '' : 's'})\n`,
    );
  }
}

/** manifest.json, then each image tar at its manifest path; fixed times, so builds repeat. */
async function writeAddonTar(
  target: string,
  manifest: Buffer,
  files: ReadonlyMap<string, { real: string }>,
): Promise<void> {
  const archive = pack();
  const written = pipeline(archive, fs.createWriteStream(target, { flags: 'wx', mode: 0o644 }));
  const mtime = new Date(0);
  archive.entry({ name: MANIFEST_FILE, mode: 0o644, mtime }, manifest);
  for (const [name, { real }] of files) {
    const size = fs.statSync(real).size;
    await new Promise<void>((resolve, reject) => {
      const entry = archive.entry({ name, size, mode: 0o644, mtime }, (err) =>
        err ? reject(err) : resolve(),
      );
      fs.createReadStream(real).on('error', reject).pipe(entry);
    });
  }
  archive.finalize();
  await written;
}
