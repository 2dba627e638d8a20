import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { packMimImage } from '../../src/images/pack.js';

let dir: string;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimoe-pack-'));
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const bundle = Buffer.from('mimikModule.exports = function (context, req, res) { res.end("ok"); };\n');
const created = new Date('2025-03-04T05:06:07Z');

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Unpacks with the system's tar, so the archive is checked by a reader other than ours. */
function unpack(tar: Buffer): { root: string; files: string[] } {
  const root = fs.mkdtempSync(path.join(dir, 'x-'));
  fs.writeFileSync(path.join(root, 'image.tar'), tar);
  const files = execFileSync('tar', ['-tf', path.join(root, 'image.tar')], { encoding: 'utf8' })
    .trim()
    .split('\n');
  const out = path.join(root, 'out');
  fs.mkdirSync(out);
  execFileSync('tar', ['-xf', path.join(root, 'image.tar'), '-C', out]);
  return { root: out, files };
}

describe('packMimImage', () => {
  it('writes the layout of the mimik packager (docker save, classic)', async () => {
    const tar = await packMimImage({ bundle, name: 'hello-v1', tag: '1.2.3', created });
    const { root, files } = unpack(tar);
    const read = (name: string): string => fs.readFileSync(path.join(root, name), 'utf8');

    const manifest = JSON.parse(read('manifest.json')) as Array<{
      Config: string;
      RepoTags: string[];
      Layers: string[];
    }>;
    assert.equal(manifest.length, 1);
    const [entry] = manifest;
    assert.ok(entry);
    assert.deepEqual(entry.RepoTags, ['hello-v1:1.2.3']);
    assert.match(entry.Config, /^[0-9a-f]{64}\.json$/);
    assert.equal(entry.Layers.length, 1);
    const layerPath = entry.Layers[0] ?? '';
    assert.match(layerPath, /^[0-9a-f]{64}\/layer\.tar$/);
    const layerId = layerPath.split('/')[0] ?? '';

    assert.deepEqual(JSON.parse(read('repositories')), { 'hello-v1': { '1.2.3': layerId } });
    assert.equal(read(`${layerId}/VERSION`), '1.0');
    assert.equal((JSON.parse(read(`${layerId}/json`)) as { id: string }).id, layerId);

    const configText = read(entry.Config);
    assert.equal(`${sha256(configText)}.json`, entry.Config, 'the config is named by its sha256');
    const config = JSON.parse(configText) as {
      created: string;
      os: string;
      architecture: string;
      rootfs: unknown;
    };
    const layerTar = fs.readFileSync(path.join(root, layerPath));
    assert.deepEqual(config.rootfs, { type: 'layers', diff_ids: [`sha256:${sha256(layerTar)}`] });
    assert.equal(config.created, created.toISOString());
    assert.equal(config.os, 'linux');
    assert.equal(config.architecture, 'amd64');

    const layerFiles = execFileSync('tar', ['-tf', path.join(root, layerPath)], { encoding: 'utf8' }).trim();
    assert.equal(layerFiles, 'index.js');
    assert.deepEqual(execFileSync('tar', ['-xOf', path.join(root, layerPath), 'index.js']), bundle);

    assert.deepEqual(
      [...files].sort(),
      [
        `${layerId}/`,
        `${layerId}/VERSION`,
        `${layerId}/json`,
        layerPath,
        entry.Config,
        'manifest.json',
        'repositories',
      ].sort(),
    );
  });

  it('is reproducible: same inputs and created give the same bytes', async () => {
    const a = await packMimImage({ bundle, name: 'hello-v1', tag: '1', created });
    const b = await packMimImage({ bundle, name: 'hello-v1', tag: '1', created });
    assert.deepEqual(a, b);
    const later = await packMimImage({
      bundle,
      name: 'hello-v1',
      tag: '1',
      created: new Date('2026-01-01T00:00:00Z'),
    });
    assert.notDeepEqual(a, later);
    const other = await packMimImage({ bundle: Buffer.from('other'), name: 'hello-v1', tag: '1', created });
    assert.notDeepEqual(a, other);
  });

  it('tags "latest" by default', async () => {
    const { root } = unpack(await packMimImage({ bundle, name: 'acme/hello' }));
    const manifest = JSON.parse(fs.readFileSync(path.join(root, 'manifest.json'), 'utf8')) as Array<{
      RepoTags: string[];
    }>;
    assert.deepEqual(manifest[0]?.RepoTags, ['acme/hello:latest']);
  });

  it('refuses invalid names and tags', async () => {
    await assert.rejects(packMimImage({ bundle, name: 'has space' }), { code: 'ERR_IMAGE_INVALID' });
    await assert.rejects(packMimImage({ bundle, name: '' }), { code: 'ERR_IMAGE_INVALID' });
    await assert.rejects(packMimImage({ bundle, name: 'a/../b' }), { code: 'ERR_IMAGE_INVALID' });
    await assert.rejects(packMimImage({ bundle, name: 'ok', tag: 'a:b' }), /tag "a:b" is invalid/);
    await assert.rejects(packMimImage({ bundle, name: 'ok', tag: '.hidden' }), /tag ".hidden" is invalid/);
    await assert.rejects(packMimImage({ bundle, name: 'ok', created: new Date('nope') }), /not a valid date/);
  });
});
