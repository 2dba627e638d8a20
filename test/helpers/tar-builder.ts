import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { pack, type Header } from 'tar-stream';

/**
 * Builds tar archives for tests, hostile ones included: names are written exactly as given
 * (`../x`, `/etc/x`), links may point anywhere, and hand-made raw blocks (a PAX global header, a
 * header with any type flag) can be spliced in between entries.
 */

export interface TarFileSpec {
  name: string;
  content?: string | Buffer;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  linkname?: string;
  mode?: number;
  /** Extra PAX records: tar-stream writes them in an `x` header before the entry. */
  pax?: Record<string, string>;
}

/** Bytes copied into the archive as they are (whole 512-byte blocks, or it is not a tar). */
export interface RawBlocks {
  raw: Buffer;
}

export type TarItem = TarFileSpec | RawBlocks;

export interface BuildOptions {
  gzip?: boolean;
  /** Leave off the two zero blocks that end an archive. */
  noEndMarker?: boolean;
}

const END_OF_ARCHIVE = Buffer.alloc(1024);
const FIXED_MTIME = new Date(1_700_000_000_000);

export async function buildTar(items: TarItem[], options: BuildOptions = {}): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const item of items) parts.push('raw' in item ? item.raw : await entryBlocks(item));
  if (options.noEndMarker !== true) parts.push(END_OF_ARCHIVE);
  const tar = Buffer.concat(parts);
  return options.gzip === true ? gzipSync(tar) : tar;
}

/** One entry as tar-stream writes it (PAX header, header, padded data), without the end marker. */
async function entryBlocks(spec: TarFileSpec): Promise<Buffer> {
  const type = spec.type ?? 'file';
  const header: Partial<Header> & { name: string } = {
    name: spec.name,
    type,
    mode: spec.mode ?? (type === 'directory' ? 0o755 : 0o644),
    mtime: FIXED_MTIME,
    uid: 0,
    gid: 0,
  };
  if (spec.linkname !== undefined) header.linkname = spec.linkname;
  if (spec.pax !== undefined) header.pax = spec.pax;
  const archive = pack();
  const content = spec.content === undefined ? undefined : Buffer.from(spec.content);
  if (content === undefined || type !== 'file') archive.entry(header);
  else archive.entry(header, content);
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive) chunks.push(chunk as Buffer);
  const all = Buffer.concat(chunks);
  return all.subarray(0, all.length - END_OF_ARCHIVE.length);
}

/** A hand-made ustar header with any one-character type flag (`g` PAX global, `V`, `S`, ...). */
export function rawHeader(fields: {
  name: string;
  typeflag: string;
  size?: number;
  linkname?: string;
}): Buffer {
  const block = Buffer.alloc(512);
  block.write(fields.name, 0, 100, 'utf8');
  block.write('0000644\0', 100, 'ascii');
  block.write('0000000\0', 108, 'ascii');
  block.write('0000000\0', 116, 'ascii');
  block.write(`${(fields.size ?? 0).toString(8).padStart(11, '0')}\0`, 124, 'ascii');
  block.write(
    `${Math.floor(FIXED_MTIME.getTime() / 1000)
      .toString(8)
      .padStart(11, '0')}\0`,
    136,
    'ascii',
  );
  block.write(fields.typeflag, 156, 1, 'ascii');
  if (fields.linkname !== undefined) block.write(fields.linkname, 157, 100, 'utf8');
  block.write('ustar\x0000', 257, 'latin1');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return block;
}

/** A PAX global (`g`) header with its records, padded to whole blocks. */
export function paxGlobalHeader(records: Record<string, string>): RawBlocks {
  return paxBlocks('pax_global_header', 'g', records);
}

/** A PAX extended (`x`) header: its records (e.g. `path`) apply to the entry that follows it. */
export function paxHeader(records: Record<string, string>): RawBlocks {
  return paxBlocks('PaxHeaders.0/next', 'x', records);
}

function paxBlocks(name: string, typeflag: string, records: Record<string, string>): RawBlocks {
  const body = Buffer.from(
    Object.entries(records)
      .map(([key, value]) => paxRecord(key, value))
      .join(''),
    'utf8',
  );
  return { raw: Buffer.concat([rawHeader({ name, typeflag, size: body.length }), pad(body)]) };
}

function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(rest) + 1;
  while (Buffer.byteLength(`${length}${rest}`) !== length) length += 1;
  return `${length}${rest}`;
}

function pad(data: Buffer): Buffer {
  const padding = (512 - (data.length % 512)) % 512;
  return Buffer.concat([data, Buffer.alloc(padding)]);
}

/**
 * A classic `docker save` archive, every part of it overridable so tests can break one thing at a
 * time: `manifest.json` last (as docker writes it), layers as `<id>/layer.tar`.
 */
export interface DockerSaveSpec {
  /** Default `hello:1.0`. */
  repoTag?: string;
  /** Each layer's entries, bottom layer first. Default: one layer holding index.js. */
  layers?: TarItem[][];
  /** Put before every outer entry name, e.g. `./`. */
  prefix?: string;
  /** Replaces manifest.json's content (a string is written verbatim); `null` leaves the file out. */
  manifest?: unknown;
  /** Content of `repositories`; `null` (the default) leaves it out, `true` writes the usual one. */
  repositories?: unknown;
  /** Config `created`; default 2024-01-02T03:04:05Z. */
  created?: string;
  gzipLayers?: boolean;
  /** Outer entries added before the layers (e.g. a `./` root entry, AppleDouble files). */
  before?: TarItem[];
  /** Outer entries added after manifest.json. */
  after?: TarItem[];
}

export const DEFAULT_BUNDLE = 'mimikModule.exports = function (context, req, res) { res.end("hi"); };\n';

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function buildDockerSave(
  spec: DockerSaveSpec = {},
  options: BuildOptions = {},
): Promise<Buffer> {
  const prefix = spec.prefix ?? '';
  const repoTag = spec.repoTag ?? 'hello:1.0';
  const layerSpecs = spec.layers ?? [[{ name: 'index.js', content: DEFAULT_BUNDLE }]];
  const items: TarItem[] = [...(spec.before ?? [])];
  const layerPaths: string[] = [];
  const diffIds: string[] = [];
  for (const [i, entries] of layerSpecs.entries()) {
    const layerTar = await buildTar(entries, { gzip: spec.gzipLayers === true });
    const id = sha256Hex(`layer ${i}`);
    layerPaths.push(`${id}/layer.tar`);
    diffIds.push(`sha256:${sha256Hex(layerTar)}`);
    items.push(
      { name: `${prefix}${id}/`, type: 'directory' },
      { name: `${prefix}${id}/VERSION`, content: '1.0' },
      { name: `${prefix}${id}/json`, content: JSON.stringify({ id }) },
      { name: `${prefix}${id}/layer.tar`, content: layerTar },
    );
  }
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    created: spec.created ?? '2024-01-02T03:04:05Z',
    rootfs: { type: 'layers', diff_ids: diffIds },
  });
  const configName = `${sha256Hex(config)}.json`;
  items.push({ name: `${prefix}${configName}`, content: config });
  const manifest =
    spec.manifest === undefined
      ? [{ Config: configName, RepoTags: [repoTag], Layers: layerPaths }]
      : spec.manifest;
  if (manifest !== null) {
    items.push({
      name: `${prefix}manifest.json`,
      content: typeof manifest === 'string' ? manifest : JSON.stringify(manifest),
    });
  }
  if (spec.repositories !== undefined && spec.repositories !== null) {
    const topId = layerPaths[layerPaths.length - 1]?.split('/')[0] ?? '';
    const colon = repoTag.lastIndexOf(':');
    const usual = { [repoTag.slice(0, colon)]: { [repoTag.slice(colon + 1)]: topId } };
    const content = spec.repositories === true ? usual : spec.repositories;
    items.push({
      name: `${prefix}repositories`,
      content: typeof content === 'string' ? content : JSON.stringify(content),
    });
  }
  items.push(...(spec.after ?? []));
  return buildTar(items, options);
}
