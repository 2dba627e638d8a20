import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { packMimImage } from '../../src/images/pack.js';
import { readMimImage, type ImageReadLimits } from '../../src/images/read-image.js';
import {
  DEFAULT_BUNDLE,
  buildDockerSave,
  buildTar,
  paxGlobalHeader,
  paxHeader,
  sha256Hex,
} from '../helpers/tar-builder.js';

const LIMITS: ImageReadLimits = { maxBundleBytes: 1024 * 1024, maxEntries: 1000 };

let dir: string;
let counter = 0;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimoe-read-image-'));
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function writeTemp(data: Buffer): string {
  counter += 1;
  const file = path.join(dir, `image-${counter}.tar`);
  fs.writeFileSync(file, data);
  return file;
}

async function read(data: Buffer, limits: ImageReadLimits = LIMITS) {
  return readMimImage(writeTemp(data), limits);
}

describe('readMimImage accepts what real producers write', () => {
  it('round-trips an image written by packMimImage', async () => {
    const bundle = Buffer.from('mimikModule.exports = function () {};\n');
    const created = new Date('2025-06-07T08:09:10Z');
    const tar = await packMimImage({ bundle, name: 'hello-v1', tag: '1.0.0', created });
    const image = await read(tar);
    assert.equal(image.name, 'hello-v1');
    assert.deepEqual(image.repoTags, ['hello-v1:1.0.0']);
    assert.equal(image.created, Math.floor(created.getTime() / 1000));
    assert.deepEqual(image.bundle, bundle);
  });

  it('keeps a registry port in the name: localhost:5000/a/b:1 is named localhost:5000/a/b', async () => {
    const tar = await packMimImage({ bundle: Buffer.from('x'), name: 'localhost:5000/a/b', tag: '1' });
    const image = await read(tar);
    assert.equal(image.name, 'localhost:5000/a/b');
    assert.deepEqual(image.repoTags, ['localhost:5000/a/b:1']);
  });

  it('reads a classic docker save archive', async () => {
    const image = await read(await buildDockerSave());
    assert.equal(image.name, 'hello');
    assert.deepEqual(image.repoTags, ['hello:1.0']);
    assert.equal(image.created, Date.parse('2024-01-02T03:04:05Z') / 1000);
    assert.equal(image.bundle.toString(), DEFAULT_BUNDLE);
  });

  it('strips ./ prefixes and skips the ./ root entry (tar-fs, GNU tar)', async () => {
    const tar = await buildDockerSave({
      prefix: './',
      before: [{ name: './', type: 'directory' }],
      layers: [
        [
          { name: './', type: 'directory' },
          { name: './index.js', content: DEFAULT_BUNDLE },
        ],
      ],
    });
    const image = await read(tar);
    assert.equal(image.name, 'hello');
    assert.equal(image.bundle.toString(), DEFAULT_BUNDLE);
  });

  it('reads an archive written by GNU tar from a directory (./ names)', async () => {
    const root = fs.mkdtempSync(path.join(dir, 'gnu-'));
    const layerDir = path.join(root, 'src');
    const imageDir = path.join(root, 'image');
    fs.mkdirSync(layerDir);
    fs.mkdirSync(path.join(imageDir, 'abc'), { recursive: true });
    fs.writeFileSync(path.join(layerDir, 'index.js'), DEFAULT_BUNDLE);
    execFileSync('tar', ['-cf', path.join(imageDir, 'abc', 'layer.tar'), '-C', layerDir, '.']);
    fs.writeFileSync(path.join(imageDir, 'cfg.json'), JSON.stringify({ created: '2024-05-06T00:00:00Z' }));
    const manifest = [{ Config: 'cfg.json', RepoTags: ['gnu-made:2'], Layers: ['abc/layer.tar'] }];
    fs.writeFileSync(path.join(imageDir, 'manifest.json'), JSON.stringify(manifest));
    const out = path.join(root, 'image.tar');
    execFileSync('tar', ['--format=pax', '-cf', out, '-C', imageDir, '.']);
    const image = await readMimImage(out, LIMITS);
    assert.equal(image.name, 'gnu-made');
    assert.equal(image.created, Date.parse('2024-05-06T00:00:00Z') / 1000);
    assert.equal(image.bundle.toString(), DEFAULT_BUNDLE);
  });

  it('reads a gzip-compressed image, detected by magic bytes not by name', async () => {
    const tar = await buildDockerSave({}, { gzip: true });
    assert.equal(tar[0], 0x1f);
    const image = await read(tar);
    assert.equal(image.bundle.toString(), DEFAULT_BUNDLE);
  });

  it('reads gzip-compressed layers', async () => {
    const image = await read(await buildDockerSave({ gzipLayers: true }));
    assert.equal(image.bundle.toString(), DEFAULT_BUNDLE);
  });

  it("reads newer docker save's OCI layout (manifest.json pointing into blobs/sha256, gzip'ed layer blob)", async () => {
    const layer = await buildTar([{ name: 'index.js', content: DEFAULT_BUNDLE }], { gzip: true });
    const layerHex = sha256Hex(layer);
    const config = JSON.stringify({
      created: '2025-01-01T00:00:00Z',
      rootfs: { type: 'layers', diff_ids: [] },
    });
    const configHex = sha256Hex(config);
    const ociManifest = JSON.stringify({
      schemaVersion: 2,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${configHex}` },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${layerHex}` }],
    });
    const ociManifestHex = sha256Hex(ociManifest);
    const index = JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          digest: `sha256:${ociManifestHex}`,
          annotations: { 'io.containerd.image.name': 'docker.io/library/oci-hello:3' },
        },
      ],
    });
    const manifest = JSON.stringify([
      {
        Config: `blobs/sha256/${configHex}`,
        RepoTags: ['oci-hello:3'],
        Layers: [`blobs/sha256/${layerHex}`],
      },
    ]);
    const tar = await buildTar([
      { name: 'blobs/', type: 'directory' },
      { name: 'blobs/sha256/', type: 'directory' },
      { name: `blobs/sha256/${configHex}`, content: config },
      { name: `blobs/sha256/${layerHex}`, content: layer },
      { name: `blobs/sha256/${ociManifestHex}`, content: ociManifest },
      // Docker 25+ also keeps the legacy layer path, as a symlink into blobs/.
      { name: 'legacyid/', type: 'directory' },
      { name: 'legacyid/layer.tar', type: 'symlink', linkname: `../blobs/sha256/${layerHex}` },
      { name: 'index.json', content: index },
      { name: 'manifest.json', content: manifest },
      { name: 'oci-layout', content: '{"imageLayoutVersion":"1.0.0"}' },
    ]);
    const image = await read(tar);
    assert.equal(image.name, 'oci-hello');
    assert.equal(image.created, Date.parse('2025-01-01T00:00:00Z') / 1000);
    assert.equal(image.bundle.toString(), DEFAULT_BUNDLE);
  });

  it('follows a symlinked layer path that stays inside the archive (repositories fallback)', async () => {
    const layer = await buildTar([{ name: 'index.js', content: DEFAULT_BUNDLE }]);
    const tar = await buildTar([
      { name: 'blobs/sha256/aaaa', content: layer },
      { name: 'top/layer.tar', type: 'symlink', linkname: '../blobs/sha256/aaaa' },
      { name: 'repositories', content: JSON.stringify({ linked: { v2: 'top' } }) },
    ]);
    const image = await read(tar);
    assert.equal(image.name, 'linked');
    assert.deepEqual(image.repoTags, ['linked:v2']);
  });

  it('falls back to repositories when manifest.json is missing', async () => {
    const image = await read(
      await buildDockerSave({ manifest: null, repositories: true, repoTag: 'old-style:7' }),
    );
    assert.equal(image.name, 'old-style');
    assert.deepEqual(image.repoTags, ['old-style:7']);
    assert.equal(image.created, undefined, 'no manifest, so no config');
    assert.equal(image.bundle.toString(), DEFAULT_BUNDLE);
  });

  it('takes the name from repositories when manifest.json has no RepoTags', async () => {
    const base = await buildDockerSave();
    const manifestText = await manifestOf(base);
    const manifest = JSON.parse(manifestText) as Array<Record<string, unknown>>;
    const first = manifest[0];
    assert.ok(first);
    first['RepoTags'] = null;
    const image = await read(
      await buildDockerSave({ manifest, repositories: { 'from-repos': { latest: 'x' } } }),
    );
    assert.equal(image.name, 'from-repos');
    assert.deepEqual(image.repoTags, ['from-repos:latest']);
    assert.equal(image.bundle.toString(), DEFAULT_BUNDLE);
  });

  it('ignores AppleDouble entries, PAX headers and PAX global headers', async () => {
    // A single path segment over 100 bytes cannot use the ustar prefix field: tar-stream writes a PAX path.
    const longName = `${'d'.repeat(120)}.txt`;
    const tar = await buildDockerSave({
      before: [
        paxGlobalHeader({ comment: 'made on a Mac' }),
        { name: '._manifest.json', content: 'not json at all' },
        { name: longName, content: 'a name longer than 100 bytes needs a PAX path record' },
      ],
      layers: [
        [
          paxGlobalHeader({ comment: 'layer global header' }),
          { name: '._index.js', content: Buffer.from([0, 5, 22, 7, 0, 2]) },
          { name: 'index.js', content: DEFAULT_BUNDLE, pax: { 'LIBARCHIVE.creationtime': '1700000000' } },
        ],
      ],
      after: [{ name: './._repositories', content: 'junk' }],
    });
    const image = await read(tar);
    assert.equal(image.name, 'hello');
    assert.equal(image.bundle.toString(), DEFAULT_BUNDLE);
  });

  it('names an entry by its PAX path record, not by its ustar name', async () => {
    const tar = await buildDockerSave({
      layers: [
        [
          { name: 'index.js', content: 'the ustar name says index.js, the PAX path says otherwise' },
          paxHeader({ path: 'elsewhere.js' }),
          { name: 'index.js', content: 'not the bundle' },
          paxHeader({ path: 'index.js' }),
          { name: 'PaxHeaders.0/whatever', content: 'the bundle' },
        ],
      ],
    });
    assert.equal((await read(tar)).bundle.toString(), 'the bundle');
  });

  it('takes index.js from the top-most layer that has one', async () => {
    const tar = await buildDockerSave({
      layers: [
        [{ name: 'index.js', content: 'bottom' }],
        [{ name: 'index.js', content: 'middle' }],
        [{ name: 'README', content: 'top layer without index.js' }],
      ],
    });
    assert.equal((await read(tar)).bundle.toString(), 'middle');
  });

  it('lets the last of duplicate entries win', async () => {
    const tar = await buildDockerSave({
      layers: [
        [
          { name: 'index.js', content: 'first' },
          { name: 'index.js', content: 'second' },
        ],
      ],
      before: [{ name: 'manifest.json', content: 'garbage that a later copy replaces' }],
    });
    assert.equal((await read(tar)).bundle.toString(), 'second');
  });
});

describe('readMimImage rejects what is not a valid mim image', () => {
  async function rejects(data: Buffer, reason: RegExp, limits: ImageReadLimits = LIMITS): Promise<void> {
    await assert.rejects(read(data, limits), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.equal((err as { code?: unknown }).code, 'ERR_IMAGE_INVALID', err.message);
      assert.match(err.message, reason);
      return true;
    });
  }

  it('an entry that climbs out with ../', async () => {
    await rejects(
      await buildDockerSave({ before: [{ name: '../x', content: 'evil' }] }),
      /climbs out.*"\.\.\/x"/,
    );
  });

  it('an absolute entry name', async () => {
    await rejects(
      await buildDockerSave({ before: [{ name: '/etc/x', content: 'evil' }] }),
      /absolute path.*"\/etc\/x"/,
    );
  });

  it('a traversal written with backslashes', async () => {
    await rejects(
      await buildDockerSave({ before: [{ name: 'a\\..\\..\\x', content: 'evil' }] }),
      /climbs out/,
    );
  });

  it('a traversal inside a layer', async () => {
    const layers = [
      [
        { name: 'index.js', content: DEFAULT_BUNDLE },
        { name: '../../etc/passwd', content: 'evil' },
      ],
    ];
    await rejects(await buildDockerSave({ layers }), /layer .*climbs out.*etc\/passwd/);
  });

  it('a symlinked layer that points outside the archive', async () => {
    const tar = await buildTar([
      { name: 'top/layer.tar', type: 'symlink', linkname: '../../outside.tar' },
      { name: 'repositories', content: JSON.stringify({ linked: { v2: 'top' } }) },
    ]);
    await rejects(tar, /climbs out|outside the archive/);
  });

  it('more entries than the limit', async () => {
    const many = Array.from({ length: 30 }, (_, i) => ({ name: `junk/${i}`, content: 'x' }));
    await rejects(await buildDockerSave({ before: many }), /more than 20 entries/, {
      ...LIMITS,
      maxEntries: 20,
    });
  });

  it('more entries than the limit inside a layer', async () => {
    const many = Array.from({ length: 30 }, (_, i) => ({ name: `junk/${i}`, content: 'x' }));
    const tar = await buildDockerSave({ layers: [[...many, { name: 'index.js', content: 'x' }]] });
    await rejects(tar, /layer .* has more than 25 entries/, { ...LIMITS, maxEntries: 25 });
  });

  it('a truncated tar (cut in half) rejects instead of hanging', { timeout: 10_000 }, async () => {
    const tar = await buildDockerSave();
    await rejects(tar.subarray(0, Math.floor(tar.length / 2)), /truncated/);
  });

  it('a tar cut inside its first header', { timeout: 10_000 }, async () => {
    await rejects((await buildDockerSave()).subarray(0, 300), /not a tar archive/);
  });

  it('a truncated gzip stream', { timeout: 10_000 }, async () => {
    const gz = await buildDockerSave({}, { gzip: true });
    await rejects(gz.subarray(0, Math.floor(gz.length / 2)), /truncated gzip/);
  });

  it('random bytes', async () => {
    const random = Buffer.alloc(4096);
    for (let i = 0; i < random.length; i += 1) random[i] = (i * 7919 + 13) % 251;
    await rejects(random, /not a tar archive/);
  });

  it('an empty file', async () => {
    await rejects(Buffer.alloc(0), /empty tar archive/);
  });

  it('zstd compression', async () => {
    await rejects(
      Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(100)]),
      /zstd-compressed/,
    );
  });

  it('a gzip bomb', async () => {
    const bomb = gzipSync(Buffer.alloc(8 * 1024 * 1024));
    await rejects(bomb, /decompresses to more than/, { ...LIMITS, maxExpandedBytes: 1024 * 1024 });
  });

  it('an index.js larger than maxBundleBytes', async () => {
    const tar = await buildDockerSave({
      layers: [[{ name: 'index.js', content: Buffer.alloc(5000, 0x61) }]],
    });
    await rejects(tar, /index\.js is 5000 bytes, more than the 4096-byte limit/, {
      ...LIMITS,
      maxBundleBytes: 4096,
    });
  });

  it('index.wasm without index.js names the WASM runtime as unsupported', async () => {
    const tar = await buildDockerSave({
      layers: [[{ name: 'index.wasm', content: Buffer.from([0, 0x61, 0x73, 0x6d]) }]],
    });
    await rejects(tar, /index\.wasm.*WASM runtime is not supported/);
  });

  it('no index.js in any layer', async () => {
    await rejects(await buildDockerSave({ layers: [[{ name: 'main.js', content: 'x' }]] }), /no index\.js/);
  });

  it('an index.js removed by a whiteout in a later layer', async () => {
    const layers = [[{ name: 'index.js', content: 'x' }], [{ name: '.wh.index.js', content: '' }]];
    await rejects(await buildDockerSave({ layers }), /no index\.js/);
  });

  it('a symlink index.js', async () => {
    const tar = await buildDockerSave({
      layers: [
        [
          { name: 'real.js', content: 'x' },
          { name: 'index.js', type: 'symlink', linkname: '/etc/passwd' },
        ],
      ],
    });
    await rejects(tar, /index\.js .* is a symlink; only a regular file counts/);
  });

  it('a hardlink index.js', async () => {
    const tar = await buildDockerSave({
      layers: [
        [
          { name: 'real.js', content: 'x' },
          { name: 'index.js', type: 'link', linkname: 'real.js' },
        ],
      ],
    });
    await rejects(tar, /index\.js .* is a link; only a regular file counts/);
  });

  it('a manifest that names a missing layer', async () => {
    const manifest = [{ Config: 'nope.json', RepoTags: ['hello:1'], Layers: ['deadbeef/layer.tar'] }];
    await rejects(
      await buildDockerSave({ manifest }),
      /layer "deadbeef\/layer\.tar", which is not in the image/,
    );
  });

  it('a manifest whose layer path climbs out', async () => {
    const manifest = [{ RepoTags: ['hello:1'], Layers: ['../layer.tar'] }];
    await rejects(await buildDockerSave({ manifest }), /manifest\.json holds a path that climbs out/);
  });

  it('a manifest.json that is not JSON', async () => {
    await rejects(await buildDockerSave({ manifest: '[{"Config": ' }), /manifest\.json is not valid JSON/);
  });

  it('a manifest.json of the wrong shape', async () => {
    await rejects(await buildDockerSave({ manifest: { Config: 'x' } }), /non-empty JSON array/);
    await rejects(await buildDockerSave({ manifest: [{ RepoTags: ['a:1'] }] }), /"Layers"/);
    await rejects(await buildDockerSave({ manifest: [{ RepoTags: 'a:1', Layers: ['x'] }] }), /"RepoTags"/);
  });

  it('a manifest.json over the JSON size cap', async () => {
    await rejects(
      await buildDockerSave({ manifest: ' '.repeat(1024 * 1024 + 1) }),
      /manifest\.json is larger than/,
    );
  });

  it('a manifest.json that is a symlink', async () => {
    const tar = await buildDockerSave({
      manifest: null,
      after: [{ name: 'manifest.json', type: 'symlink', linkname: '/etc/passwd' }],
    });
    await rejects(tar, /manifest\.json is a symlink/);
  });

  it('neither manifest.json nor repositories', async () => {
    await rejects(await buildDockerSave({ manifest: null }), /no manifest\.json or repositories/);
    const ociOnly = await buildTar([
      { name: 'oci-layout', content: '{}' },
      { name: 'index.json', content: '{}' },
    ]);
    await rejects(ociOnly, /OCI layout without docker's manifest\.json is not supported/);
  });

  it('a repositories file of the wrong shape', async () => {
    await rejects(
      await buildDockerSave({ manifest: null, repositories: { a: 'b' } }),
      /repositories must look like/,
    );
    await rejects(
      await buildDockerSave({ manifest: null, repositories: { a: { b: '../x' } } }),
      /invalid layer id/,
    );
  });

  it('no name at all', async () => {
    await rejects(await buildDockerSave({ manifest: [{ Layers: ['x/layer.tar'] }] }), /has no name/);
  });

  it('an invalid image name', async () => {
    await rejects(await buildDockerSave({ repoTag: 'has space:1' }), /image name "has space" is invalid/);
    await rejects(await buildDockerSave({ repoTag: 'a/../b:1' }), /image name "a\/\.\.\/b" is invalid/);
    await rejects(await buildDockerSave({ repoTag: ':1' }), /image name "" is invalid/);
    await rejects(await buildDockerSave({ repoTag: `${'n'.repeat(129)}:1` }), /longer than 128/);
  });

  it('a traversal inside a gzip layer of a gzip image', { timeout: 10_000 }, async () => {
    const layers = [
      [
        { name: '../evil', content: 'x' },
        { name: 'index.js', content: DEFAULT_BUNDLE },
      ],
    ];
    await rejects(await buildDockerSave({ layers, gzipLayers: true }, { gzip: true }), /layer .*climbs out/);
  });

  it('a truncated gzip layer', { timeout: 10_000 }, async () => {
    const layer = await buildTar([{ name: 'index.js', content: Buffer.alloc(20_000, 0x62) }], { gzip: true });
    const tar = await buildTar([
      { name: 'l/layer.tar', content: layer.subarray(0, Math.floor(layer.length / 2)) },
      { name: 'manifest.json', content: JSON.stringify([{ RepoTags: ['a:1'], Layers: ['l/layer.tar'] }]) },
    ]);
    await rejects(tar, /layer l\/layer\.tar is a truncated gzip stream/);
  });

  it('a layer that is not a tar', async () => {
    const base = await buildDockerSave({ layers: [[{ name: 'index.js', content: 'x' }]] });
    const manifest = JSON.parse(await manifestOf(base)) as unknown;
    const [first] = manifest as Array<{ Layers: string[] }>;
    const layerPath = first?.Layers[0] ?? '';
    const tar = await buildDockerSave({
      layers: [[{ name: 'index.js', content: 'x' }]],
      after: [{ name: layerPath, content: 'this is not a tar, but it is long enough: '.repeat(20) }],
    });
    await rejects(tar, /layer .* is not a tar archive/);
  });
});

describe('readMimImage and file errors', () => {
  it('passes a missing file through as the file error, not as an invalid image', async () => {
    await assert.rejects(readMimImage(path.join(dir, 'does-not-exist.tar'), LIMITS), { code: 'ENOENT' });
  });
});

/** The manifest.json text of an archive built by buildDockerSave (it is the last entry but one). */
async function manifestOf(tar: Buffer): Promise<string> {
  const file = writeTemp(tar);
  return execFileSync('tar', ['-xOf', file, 'manifest.json'], { encoding: 'utf8' });
}
