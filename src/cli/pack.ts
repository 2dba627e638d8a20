import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { DEFAULTS } from '../config/defaults.js';
import { packMimImage } from '../images/pack.js';
import type { CliIo } from './io.js';

interface PackCommandOptions {
  name: string;
  tag: string;
  output?: string;
  created?: string;
  json?: boolean;
}

const EXAMPLES = `
Examples:
  $ mimoe pack build/index.js --name hello-v1
      writes ./hello-v1-latest.tar
  $ mimoe pack build/index.js --name hello-v1 --tag 1.0.0 -o deploy/hello.tar
  $ mimoe pack build/index.js --name acme/hello-v1 --tag 1.0.0 --json
      writes ./acme_hello-v1-1.0.0.tar and prints {"path":...,"sha256":...}
  $ SOURCE_DATE_EPOCH=1700000000 mimoe pack build/index.js --name hello-v1
      reproducible: the same bundle always gives the same bytes

The image is a \`docker save\` tar holding one layer with index.js, ready to upload
(POST /mcm/v1/images, multipart field "image"). No Docker needed:
  $ curl -H "Authorization: Bearer $MCM_API_KEY" -F image=@hello-v1-latest.tar \\
      http://127.0.0.1:8083/mcm/v1/images`;

/** Adds `mimoe pack <bundle.js> --name NAME [--tag TAG] [-o out.tar] [--created TIME] [--json]`. */
export function registerPackCommand(program: Command, io: CliIo): void {
  program
    .command('pack')
    .description('Pack a JavaScript mim bundle into a mim image tar')
    .argument('<bundle.js>', 'the mim bundle to pack (becomes index.js in the image)')
    .requiredOption('--name <name>', 'image name, e.g. hello-v1')
    .option('--tag <tag>', 'image tag', 'latest')
    .option(
      '-o, --output <file>',
      'where to write the tar (default ./<name>-<tag>.tar, "/" in the name → "_")',
    )
    .option(
      '--created <time>',
      'creation time, ISO 8601 or Unix seconds (default $SOURCE_DATE_EPOCH, else now)',
    )
    .option('--json', 'print the result as a JSON object')
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .addHelpText('after', EXAMPLES)
    .action(async (bundlePath: string, options: PackCommandOptions) => {
      try {
        await runPack(bundlePath, options, io);
      } catch (err) {
        io.stderr.write(`mimoe pack: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 1;
      }
    });
}

async function runPack(bundlePath: string, options: PackCommandOptions, io: CliIo): Promise<void> {
  const created = parseCreated(options.created ?? process.env['SOURCE_DATE_EPOCH']);
  const bundle = await readBundle(bundlePath);
  if (bundle.length > DEFAULTS.maxBundleBytes) {
    io.stderr.write(
      `mimoe pack: warning: the bundle is ${bundle.length} bytes; nodes with the default limit ` +
        `(${DEFAULTS.maxBundleBytes} bytes) will refuse it\n`,
    );
  }
  const tar = await packMimImage({ bundle, name: options.name, tag: options.tag, created });
  const outPath = await outputPath(options);
  await writeAtomically(outPath, tar);

  const sha256 = createHash('sha256').update(tar).digest('hex');
  const image = `${options.name}:${options.tag}`;
  if (options.json === true) {
    const result = {
      path: path.resolve(outPath),
      name: options.name,
      tag: options.tag,
      image,
      size: tar.length,
      sha256,
    };
    io.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    io.stdout.write(`Packed ${image} → ${outPath} (${tar.length} bytes, sha256:${sha256})\n`);
  }
}

async function readBundle(bundlePath: string): Promise<Buffer> {
  let bundle: Buffer;
  try {
    bundle = await fs.promises.readFile(bundlePath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`cannot read the bundle: ${bundlePath} does not exist`);
    if (code === 'EISDIR') throw new Error(`cannot read the bundle: ${bundlePath} is a directory`);
    throw new Error(`cannot read the bundle ${bundlePath}: ${(err as Error).message}`);
  }
  if (bundle.length === 0) throw new Error(`the bundle ${bundlePath} is empty`);
  return bundle;
}

/** `--created` (or SOURCE_DATE_EPOCH, the reproducible-builds convention): Unix seconds or ISO 8601. */
function parseCreated(value: string | undefined): Date | undefined {
  if (value === undefined || value === '') return undefined;
  const date = /^\d+$/.test(value) ? new Date(Number(value) * 1000) : new Date(value);
  if (Number.isNaN(date.getTime())) {
    throw new Error(`--created ${JSON.stringify(value)} is not a date (use ISO 8601 or Unix seconds)`);
  }
  return date;
}

async function outputPath(options: PackCommandOptions): Promise<string> {
  const fileName = `${options.name.replaceAll('/', '_')}-${options.tag}.tar`;
  if (options.output === undefined) return `.${path.sep}${fileName}`;
  const stat = await fs.promises.stat(options.output).catch(() => undefined);
  return stat?.isDirectory() === true ? path.join(options.output, fileName) : options.output;
}

/** Write beside the target, then rename: a failed write never leaves half a tar behind. */
async function writeAtomically(target: string, data: Buffer): Promise<void> {
  const temp = `${target}.${process.pid}.partial`;
  try {
    await fs.promises.writeFile(temp, data);
    await fs.promises.rename(temp, target);
  } catch (err) {
    await fs.promises.rm(temp, { force: true });
    throw new Error(`cannot write ${target}: ${(err as Error).message}`);
  }
}
