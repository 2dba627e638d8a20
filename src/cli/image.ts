import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import type { ImageSummary, McmClient } from '../client/mcm-client.js';
import type { CliIo } from './io.js';
import { API_KEY_SOURCES, type ConnectionFlags } from './connection.js';
import { clientCommand, confirm, printJson, runClientCommand } from './client-command.js';
import { formatBytes, formatTable } from './table.js';

const FOOTER = `
Image ids are {clientId}-{name}, e.g. api-hello-v1 (see \`mimoe image list\`).
${API_KEY_SOURCES}
Exit code 0 when the operation succeeded, 1 otherwise (the reason and the node's error code on stderr).`;

const EXAMPLES = {
  upload: `
Examples:
  $ mimoe image upload hello-v1.tar
  $ mimoe image upload build/agent-v2.tar --url http://10.0.0.5:8083 --api-key "$MCM_API_KEY" --json

The tar (docker save, gzip or OCI layout, or \`mimoe pack\`) is streamed from disk; re-uploading
an image name replaces that image (running mims keep their code until redeployed).${FOOTER}`,
  list: `
Examples:
  $ mimoe image list
  $ mimoe image list --work-dir /var/lib/mimoe --client-id acme
  $ mimoe image list --json | jq -r '.[].id'${FOOTER}`,
  delete: `
Examples:
  $ mimoe image delete api-hello-v1 --yes

Refused (409) while a mim uses the image: delete the mim first. Asks for confirmation on a
terminal; elsewhere --yes is required.${FOOTER}`,
  download: `
Examples:
  $ mimoe image download api-hello-v1 hello-v1.tar
  $ mimoe image download api-hello-v1 /backups/hello-v1.tar --url http://10.0.0.5:8083 --json

The tar comes back byte for byte as uploaded: mimoe mints a short-lived download code with the key
(JSON-RPC getEdgeHmacCode), streams GET /images/{id}/tarball?hmac= to a temporary file beside
<out-file>, checks its size and sha256 digest, then renames it over <out-file>.${FOOTER}`,
};

interface ImageFlags extends ConnectionFlags {
  yes?: boolean;
}

/** `mimoe image upload|list|delete|download`: the images of a running node. */
export function registerImageCommand(program: Command, io: CliIo): void {
  const image = program
    .command('image')
    .description('upload, list, download and delete the mim images of a running node')
    .configureOutput({ writeOut: (t) => io.stdout.write(t), writeErr: (t) => io.stderr.write(t) });

  clientCommand(image, io, 'upload', 'upload an image tar (POST /mcm/v1/images)', EXAMPLES.upload)
    .argument('<file>', 'the image tar')
    .action(async (file: string, flags: ImageFlags) => {
      process.exitCode = await runClientCommand('image upload', flags, io, async (connect) => {
        const tar = await openTar(file);
        const uploaded = await connect().uploadImage(tar, path.basename(file));
        if (flags.json === true) printJson(io, uploaded);
        else io.stdout.write(describeUpload(uploaded));
      });
    });

  clientCommand(image, io, 'list', 'list the images (GET /mcm/v1/images)', EXAMPLES.list).action(
    async (flags: ImageFlags) => {
      process.exitCode = await runClientCommand('image list', flags, io, async (connect) => {
        const images = await connect().listImages();
        if (flags.json === true) printJson(io, images);
        else io.stdout.write(imageTable(images));
      });
    },
  );

  clientCommand(image, io, 'delete', 'delete an image (DELETE /mcm/v1/images/{id})', EXAMPLES.delete)
    .argument('<id>', 'the image id, e.g. api-hello-v1')
    .option('-y, --yes', 'delete without asking')
    .action(async (id: string, flags: ImageFlags) => {
      process.exitCode = await runClientCommand('image delete', flags, io, async (connect) => {
        const client = connect();
        await confirm(flags, io, `Delete image ${id}?`);
        const deleted = await client.deleteImage(id);
        if (flags.json === true) printJson(io, deleted);
        else io.stdout.write(`Deleted image ${deleted.id}\n`);
      });
    });

  clientCommand(
    image,
    io,
    'download',
    'download an image tar as it was uploaded (GET /mcm/v1/images/{id}/tarball)',
    EXAMPLES.download,
  )
    .argument('<id>', 'the image id, e.g. api-hello-v1')
    .argument('<out-file>', 'where to write the tar (replaced if it exists)')
    .action(async (id: string, out: string, flags: ImageFlags) => {
      process.exitCode = await runClientCommand('image download', flags, io, async (connect) => {
        checkOutFile(out);
        const got = await download(connect(), id, out);
        if (flags.json === true) printJson(io, { id, file: out, ...got });
        else io.stdout.write(`Downloaded ${id} to ${out} (${formatBytes(got.size)}, ${got.digest})\n`);
      });
    });
}

/** The tar as a file-backed Blob: fetch streams it from disk in chunks. */
async function openTar(file: string): Promise<Blob> {
  try {
    if (!fs.statSync(file).isFile()) throw new Error(`${file} is not a file`);
    return await fs.openAsBlob(file, { type: 'application/x-tar' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === undefined) throw err;
    throw new Error(`cannot read ${file} (${code})`);
  }
}

function describeUpload(image: ImageSummary): string {
  return (
    `Uploaded image ${image.id}\n` +
    `  name:   ${image.name}${image.repoTags.length > 0 ? ` (${image.repoTags.join(', ')})` : ''}\n` +
    `  size:   ${formatBytes(image.size)} (${image.size} bytes)\n` +
    `  digest: ${image.digest}\n`
  );
}

function imageTable(images: readonly ImageSummary[]): string {
  if (images.length === 0) return 'No images.\n';
  return formatTable(
    ['ID', 'NAME', 'TAGS', 'SIZE', 'CREATED', 'DIGEST'],
    images.map((i) => [
      i.id,
      i.name,
      i.repoTags.join(',') || '-',
      formatBytes(i.size),
      new Date(i.created * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      // Enough of the digest to tell images apart; --json has all of it.
      i.digest.slice(0, 'sha256:'.length + 12),
    ]),
  );
}

/**
 * Refuses, before anything is asked of the node, an <out-file> that cannot be written: a directory
 * (the temporary file would land beside it, and the rename fail), or one whose folder does not
 * exist (the error would name the hidden temporary file, not the user's path).
 */
function checkOutFile(out: string): void {
  const statOf = (p: string): fs.Stats | undefined => {
    try {
      return fs.statSync(p, { throwIfNoEntry: false });
    } catch {
      return undefined; // a parent that is a file (ENOTDIR): told below, by the folder's check
    }
  };
  if (/[/\\]$/.test(out) || statOf(out)?.isDirectory() === true) {
    throw new Error(`${out} is a directory: give the file to write, e.g. ${path.join(out, 'image.tar')}`);
  }
  const folder = path.dirname(path.resolve(out));
  const stat = statOf(folder);
  if (stat === undefined) throw new Error(`cannot write ${out}: the folder ${folder} does not exist`);
  if (!stat.isDirectory()) throw new Error(`cannot write ${out}: ${folder} is not a folder`);
  try {
    fs.accessSync(folder, fs.constants.W_OK);
  } catch {
    throw new Error(`cannot write ${out}: the folder ${folder} is not writable`);
  }
}

/**
 * Streams the image's tar to a temporary file beside `out`, checks it against the length and digest
 * the node announced, and only then renames it into place: a failed or cut download never leaves a
 * partial file under the name the user asked for.
 */
async function download(
  client: McmClient,
  id: string,
  out: string,
): Promise<{ size: number; digest: string }> {
  const code = await client.tarballCode(id);
  const tarball = await client.downloadTarball(id, code);
  const temp = path.join(path.dirname(out), `.${path.basename(out)}.${randomBytes(6).toString('hex')}.part`);
  const hash = createHash('sha256');
  let size = 0;
  try {
    await pipeline(
      Readable.fromWeb(tarball.body),
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          hash.update(chunk);
          size += chunk.length;
          yield chunk;
        }
      },
      fs.createWriteStream(temp, { flags: 'wx', flush: true }),
    );
    const digest = `sha256:${hash.digest('hex')}`;
    if (Number.isFinite(tarball.size) && size !== tarball.size) {
      throw new Error(`download cut short: ${size} of ${tarball.size} bytes`);
    }
    if (tarball.digest !== undefined && digest !== tarball.digest) {
      throw new Error(`download corrupt: digest ${digest}, the node announced ${tarball.digest}`);
    }
    fs.renameSync(temp, out);
    return { size, digest };
  } catch (err) {
    fs.rmSync(temp, { force: true });
    // A file system refusal names the hidden temporary file: say it of the user's path instead.
    const errno = (err as NodeJS.ErrnoException).code;
    if (typeof errno === 'string' && /^E[A-Z]+$/.test(errno))
      throw new Error(`cannot write ${out} (${errno})`);
    throw err;
  }
}
