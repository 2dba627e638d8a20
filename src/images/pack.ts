import { createHash } from 'node:crypto';
import { pack, type Header } from 'tar-stream';
import { MimoeError } from '../errors/index.js';
import { assertImageName, imageTagProblem } from './image-name.js';

/**
 * Writes a mim image: the classic `docker save` layout that mimik's `@mimik/edge-ms-packager`
 * produces (manifest.json, repositories, `<layer id>/{VERSION,json,layer.tar}`, `<sha256>.json`),
 * holding one layer with `index.js`. The output is a pure function of the inputs: file times are
 * fixed, and the layer id is derived from the content instead of drawn at random, so packing the
 * same bundle with the same name, tag and `created` gives the same bytes.
 */

export interface PackOptions {
  bundle: Buffer;
  name: string;
  /** Default "latest". */
  tag?: string;
  /** The image's creation time; default now. Pass it to make packing reproducible. */
  created?: Date;
}

/** The layer's own entries carry this time, so the layer digest depends on the bundle alone. */
const LAYER_MTIME = new Date(0);

/** The container config mimOE ignores but docker tools expect, as the mimik packager writes it. */
const CONTAINER_CONFIG = {
  Hostname: '',
  Domainname: '',
  User: '',
  AttachStdin: false,
  AttachStdout: false,
  AttachStderr: false,
  Tty: false,
  OpenStdin: false,
  StdinOnce: false,
  Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
  Cmd: [''],
  Image: '',
  Volumes: null,
  WorkingDir: '',
  Entrypoint: null,
  OnBuild: null,
  Labels: null,
};

export async function packMimImage(opts: PackOptions): Promise<Buffer> {
  const { bundle, name } = opts;
  const tag = opts.tag ?? 'latest';
  assertImageName(name);
  const tagProblem = imageTagProblem(tag);
  if (tagProblem !== undefined) {
    throw new MimoeError('ERR_IMAGE_INVALID', `image tag ${JSON.stringify(tag)} is invalid: ${tagProblem}`);
  }
  const created = opts.created ?? new Date();
  if (Number.isNaN(created.getTime()))
    throw new MimoeError('ERR_IMAGE_INVALID', 'the creation time is not a valid date');
  const createdIso = created.toISOString();

  const layerTar = await tarOf([
    { header: { name: 'index.js', mode: 0o444, mtime: LAYER_MTIME }, data: bundle },
  ]);
  const diffId = `sha256:${sha256(layerTar)}`;
  const config = JSON.stringify({
    architecture: 'amd64',
    config: CONTAINER_CONFIG,
    created: createdIso,
    history: [{ created: createdIso, created_by: 'mimoe pack' }],
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [diffId] },
  });
  const configSha = sha256(config);
  const layerId = sha256(`${configSha}\n${diffId}`);
  const layerJson = JSON.stringify({
    id: layerId,
    created: createdIso,
    container_config: CONTAINER_CONFIG,
    config: CONTAINER_CONFIG,
    architecture: 'amd64',
    os: 'linux',
  });
  const manifest = JSON.stringify([
    { Config: `${configSha}.json`, RepoTags: [`${name}:${tag}`], Layers: [`${layerId}/layer.tar`] },
  ]);
  const repositories = JSON.stringify({ [name]: { [tag]: layerId } });

  const mtime = new Date(Math.floor(created.getTime() / 1000) * 1000);
  const file = (entryName: string, data: string | Buffer): TarFile => ({
    header: { name: entryName, mode: 0o644, mtime },
    data: typeof data === 'string' ? Buffer.from(data, 'utf8') : data,
  });
  return tarOf([
    { header: { name: `${layerId}/`, type: 'directory', mode: 0o755, mtime }, data: Buffer.alloc(0) },
    file(`${layerId}/VERSION`, '1.0'),
    file(`${layerId}/json`, layerJson),
    file(`${layerId}/layer.tar`, layerTar),
    file(`${configSha}.json`, config),
    file('manifest.json', manifest),
    file('repositories', repositories),
  ]);
}

interface TarFile {
  header: Partial<Header> & { name: string };
  data: Buffer;
}

async function tarOf(files: TarFile[]): Promise<Buffer> {
  const archive = pack();
  for (const { header, data } of files) {
    // Owner and group are fixed too: the packing user's ids are nobody's business.
    archive.entry({ uid: 0, gid: 0, uname: '', gname: '', ...header }, data);
  }
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
