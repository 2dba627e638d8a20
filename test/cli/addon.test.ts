import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAddonManifest } from '../../src/mims/addons/manifest.js';
import { readMimImage } from '../../src/images/read-image.js';
import { tempDir } from '../helpers/node-process.js';
import { checksumOf, readTarFiles, runAddonCli, writeAddonFolder } from '../helpers/addons.js';

/** `mimoe addon build`, run in-process through commander with captured output. */

const bundle = Buffer.from('mimikModule.exports = function () {};\n');
let dir: string;

before(() => {
  dir = tempDir('mimoe-addon-cli-');
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

async function source(name: string, noChecksums = true): Promise<string> {
  return writeAddonFolder(path.join(dir, name), {
    id: 'mimik.ai',
    noChecksums,
    mims: [
      {
        name: 'agent',
        imageName: 'agent-v1',
        file: 'images/agent.tar',
        bundle,
        env: { 'MCM.BASE_API_PATH': '/agent/v1' },
      },
      // A second mim on the same image: the file is packed once.
      {
        name: 'agent2',
        imageName: 'agent-v1',
        file: 'images/agent.tar',
        bundle,
        env: { 'MCM.BASE_API_PATH': '/agent2' },
      },
    ],
  });
}

function editManifest(
  file: string,
  edit: (doc: { mims: { image: Record<string, unknown> }[] }) => void,
): void {
  const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as { mims: { image: Record<string, unknown> }[] };
  edit(doc);
  fs.writeFileSync(file, JSON.stringify(doc));
}

describe('mimoe addon build', () => {
  it('packs manifest.json and the image tars, filling in indexFileChecksum; builds repeat byte for byte', async () => {
    const manifest = await source('fill');
    const out = path.join(dir, 'fill.addon');
    const result = await runAddonCli(['build', '--manifest', manifest, '--out', out, '--json']);
    assert.equal(result.exitCode, 0, result.stderr);
    const printed = JSON.parse(result.stdout) as {
      id: string;
      clientId: string;
      mims: { indexFileChecksum: string }[];
    };
    assert.equal(printed.id, 'mimik.ai');
    assert.equal(printed.clientId, 'mimik-ai');
    assert.equal(printed.mims[0]?.indexFileChecksum, checksumOf(bundle));

    const files = await readTarFiles(out);
    assert.deepEqual(
      files.map((f) => f.name),
      ['manifest.json', 'images/agent.tar'],
    );
    const packed = parseAddonManifest(files[0]?.content ?? Buffer.alloc(0));
    assert.deepEqual(
      packed.mims.map((m) => m.image.indexFileChecksum),
      [checksumOf(bundle), checksumOf(bundle)],
    );
    const image = path.join(dir, 'fill-image.tar');
    fs.writeFileSync(image, files[1]?.content ?? Buffer.alloc(0));
    assert.equal(
      (await readMimImage(image, { maxBundleBytes: 1 << 20, maxEntries: 100 })).bundle.toString(),
      bundle.toString(),
    );

    const again = path.join(dir, 'fill-again.addon');
    assert.equal((await runAddonCli(['build', '--manifest', manifest, '--out', again])).exitCode, 0);
    assert.deepEqual(fs.readFileSync(again), fs.readFileSync(out));
  });

  it('accepts a correct checksum and refuses a mismatch, writing nothing', async () => {
    const manifest = await source('sums', false);
    const ok = await runAddonCli(['build', '--manifest', manifest, '--out', path.join(dir, 'sums.addon')]);
    assert.equal(ok.exitCode, 0, ok.stderr);
    assert.match(ok.stdout, /Built addon mimik\.ai 1\.0\.0 → .*sums\.addon \(\d+ bytes, 2 mims\)/);

    editManifest(manifest, (doc) => {
      for (const m of doc.mims) m.image['indexFileChecksum'] = `sha256:${'0'.repeat(64)}`;
    });
    const out = path.join(dir, 'bad.addon');
    const bad = await runAddonCli(['build', '--manifest', manifest, '--out', out]);
    assert.equal(bad.exitCode, 1);
    assert.match(
      bad.stderr,
      /mims\[0\] \(agent\): indexFileChecksum sha256:0{64} does not match index\.js in images\/agent\.tar \(sha256:/,
    );
    assert.equal(fs.existsSync(out), false);
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.includes('partial')),
      [],
    );
  });

  it('refuses image files outside the manifest folder, missing files and mismatched image names', async () => {
    const manifest = await source('escape');
    fs.writeFileSync(
      path.join(dir, 'outside.tar'),
      fs.readFileSync(path.join(dir, 'escape', 'images', 'agent.tar')),
    );
    fs.symlinkSync(path.join(dir, 'outside.tar'), path.join(dir, 'escape', 'link.tar'));
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ file: '../outside.tar' }, /climbs out of the addon/],
      [{ file: path.join(dir, 'outside.tar') }, /absolute path/],
      [{ file: 'link.tar' }, /leads outside the addon/],
      [{ file: 'missing.tar' }, /missing\.tar does not exist in the addon/],
      [{ name: 'other-v1' }, /holds image agent-v1, not other-v1/],
    ];
    for (const [image, reason] of cases) {
      const copy = path.join(dir, 'escape', 'case.json');
      fs.copyFileSync(manifest, copy);
      editManifest(copy, (doc) => {
        for (const m of doc.mims) Object.assign(m.image, image);
      });
      const result = await runAddonCli([
        'build',
        '--manifest',
        copy,
        '--out',
        path.join(dir, 'escape.addon'),
      ]);
      assert.equal(result.exitCode, 1, JSON.stringify(image));
      assert.match(result.stderr, reason);
    }
    const missing = await runAddonCli(['build', '--manifest', path.join(dir, 'nope.json')]);
    assert.equal(missing.exitCode, 1);
    assert.match(missing.stderr, /cannot read .*nope\.json: ENOENT/);
    assert.equal(fs.existsSync(path.join(dir, 'escape.addon')), false);
  });

  it('checks the image name of every entry, also a second one naming the same file', async () => {
    const manifest = await source('twice');
    editManifest(manifest, (doc) => {
      const second = doc.mims[1];
      if (second !== undefined) second.image['name'] = 'agent-v2';
    });
    const result = await runAddonCli([
      'build',
      '--manifest',
      manifest,
      '--out',
      path.join(dir, 'twice.addon'),
    ]);
    assert.equal(result.exitCode, 1);
    assert.match(
      result.stderr,
      /mims\[1\] \(agent2\): image file images\/agent\.tar holds image agent-v1, not agent-v2/,
    );
    assert.equal(fs.existsSync(path.join(dir, 'twice.addon')), false);
  });

  it('warns of a mim without MCM.BASE_API_PATH (the .ini may set it) and still builds', async () => {
    const manifest = await source('nobase');
    const doc = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { mims: { env: Record<string, string> }[] };
    const first = doc.mims[0];
    if (first !== undefined) first.env = {};
    fs.writeFileSync(manifest, JSON.stringify(doc));
    const result = await runAddonCli([
      'build',
      '--manifest',
      manifest,
      '--out',
      path.join(dir, 'nobase.addon'),
    ]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stderr, /warning: mims\[0\] \(agent\) has no MCM\.BASE_API_PATH/);
    assert.doesNotMatch(result.stderr, /agent2/);
    assert.ok(fs.existsSync(path.join(dir, 'nobase.addon')));
  });
});
