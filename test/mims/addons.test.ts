import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { MimoeError } from '../../src/errors/index.js';
import { ImageStore } from '../../src/images/store.js';
import { packMimImage } from '../../src/images/pack.js';
import { loadAddons, type AddonReport } from '../../src/mims/addons/loader.js';
import { addonClientId, parseAddonManifest } from '../../src/mims/addons/manifest.js';
import { parseIni } from '../../src/mims/addons/ini.js';
import type { MimRegistry } from '../../src/mims/registry.js';
import { openNodeDb, type Db } from '../../src/state/node-db.js';
import { buildTar } from '../helpers/tar-builder.js';
import { tempDir } from '../helpers/node-process.js';
import { registryFor, StandInHost } from '../helpers/registry.js';
import { checksumOf, runAddonCli, tamperAddon, writeAddonFolder, type AddonSpec } from '../helpers/addons.js';

/**
 * The addon loader on real files, a real node.db and a real image store. The sandbox side is a
 * recording MimHost: these tests are about what gets installed, not about running mims (the
 * HTTP tests in test/http/addons.test.ts run them for real).
 */

interface Line {
  level: string;
  msg: string;
  obj: object;
}

class Node {
  readonly db: Db;
  readonly images: ImageStore;
  readonly host = new StandInHost();
  readonly mims: MimRegistry;
  readonly lines: Line[] = [];

  constructor(readonly workDir: string) {
    fs.mkdirSync(workDir, { recursive: true });
    this.db = openNodeDb(workDir);
    this.images = new ImageStore(this.db, workDir, LIMITS);
    this.images.sweep();
    this.mims = registryFor(workDir, this.db, this.images, this.host);
    this.mims.restoreAll();
  }

  get addonDir(): string {
    return path.join(this.workDir, 'addon');
  }

  load(): Promise<AddonReport> {
    const log =
      (level: string) =>
      (obj: object, msg: string): void => {
        this.lines.push({ level, msg, obj });
      };
    return loadAddons({
      addonDir: this.addonDir,
      tmpDir: this.images.blobs.tmpDir,
      images: this.images,
      mims: this.mims,
      logger: { info: log('info'), warn: log('warn'), error: log('error') },
      limits: {
        maxImageBytes: LIMITS.maxImageBytes,
        maxBundleBytes: LIMITS.maxBundleBytes,
        maxEntries: 1000,
      },
    });
  }

  close(): void {
    this.db.close();
  }
}

const LIMITS = { maxImageBytes: 8 * 1024 * 1024, maxBundleBytes: 1024 * 1024, maxTarEntries: 1000 };

function bundle(tag: string): Buffer {
  return Buffer.from(`mimikModule.exports = function () {}; // ${tag}\n`);
}

function spec(id: string, version = '1.0.0', code = 'v1', env: Record<string, string> = {}): AddonSpec {
  return {
    id,
    version,
    mims: [
      {
        name: 'agent',
        imageName: 'agent-img',
        bundle: bundle(`${id} ${code}`),
        env: { 'MCM.BASE_API_PATH': '/agent/v1', ...env },
      },
    ],
  };
}

function refusedReason(report: AddonReport, source: string): string {
  const found = report.refused.find((r) => r.source === source);
  assert.ok(found !== undefined, `${source} should be refused: ${JSON.stringify(report)}`);
  return found.reason;
}

let root: string;
let node: Node | undefined;

beforeEach(() => {
  root = tempDir('mimoe-addons-');
});
afterEach(() => {
  node?.close();
  node = undefined;
  fs.rmSync(root, { recursive: true, force: true });
});
after(() => {
  process.exitCode = 0;
});

function start(): Node {
  node?.close();
  node = new Node(path.join(root, 'work'));
  return node;
}

/** Builds a `.addon` with the CLI into the node's addon dir. */
async function addonFile(s: AddonSpec, fileName: string): Promise<string> {
  const src = path.join(root, `src-${fileName}`);
  const manifest = await writeAddonFolder(src, s);
  const out = path.join(root, 'work', 'addon', fileName);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const result = await runAddonCli(['build', '--manifest', manifest, '--out', out]);
  assert.equal(result.exitCode, 0, result.stderr);
  return out;
}

describe('addon manifest', () => {
  const good = {
    id: 'mimik.ai',
    name: 'Mimik AI',
    version: '1.2.0',
    mims: [
      {
        name: 'agent',
        image: {
          name: 'agent-v1',
          file: './images/agent.tar',
          indexFileChecksum: `sha256:${'A'.repeat(64)}`,
        },
        env: { 'MCM.BASE_API_PATH': '/agent/v1' },
      },
    ],
  };
  const withImage = (image: Record<string, unknown>): string =>
    JSON.stringify({ ...good, mims: [{ ...good.mims[0], image: { ...good.mims[0]?.image, ...image } }] });

  it('parses a manifest, normalising the file name and the checksum', () => {
    const m = parseAddonManifest(JSON.stringify(good));
    assert.equal(m.id, 'mimik.ai');
    assert.equal(m.mims[0]?.image.file, 'images/agent.tar');
    assert.equal(m.mims[0]?.image.indexFileChecksum, `sha256:${'a'.repeat(64)}`);
  });

  it('maps the addon id to its client id and refuses ids that are no client id', () => {
    assert.equal(addonClientId('mimik.ai'), 'mimik-ai');
    assert.equal(addonClientId('com.example.tools'), 'com-example-tools');
    for (const bad of ['', '../x', 'a..b', '.hidden', 'a b', 'api', 'mcm', 'x'.repeat(101)]) {
      assert.throws(
        () => addonClientId(bad),
        (err: MimoeError) => err.code === 'ERR_ADDON_INVALID',
        bad,
      );
    }
  });

  it('refuses image files that leave the addon, with the reason', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ file: '../agent.tar' }, /climbs out of the addon/],
      [{ file: 'images/../../agent.tar' }, /climbs out of the addon/],
      [{ file: '/etc/passwd' }, /absolute path/],
      [{ file: 'C:/agent.tar' }, /absolute path/],
      [{ file: 'images\\agent.tar' }, /"\/" as the separator/],
      [{ file: './' }, /names no file/],
      [{ file: 'a\u0000b' }, /control characters/],
      [{ file: 7 }, /file is required/],
      [{ indexFileChecksum: 'md5:abc' }, /indexFileChecksum must be "sha256:"/],
      [{ indexFileChecksum: undefined }, /indexFileChecksum must be/],
      [{ name: 'a..b' }, /image.name .* is invalid/],
    ];
    for (const [image, reason] of cases) {
      assert.throws(
        () => parseAddonManifest(withImage(image)),
        (err: MimoeError) => err.code === 'ERR_ADDON_INVALID' && reason.test(err.message),
        JSON.stringify(image),
      );
    }
  });

  it('refuses other shapes with the field named', () => {
    const cases: [unknown, RegExp][] = [
      ['not json', /not valid JSON/],
      [[], /must be an object/],
      [{ ...good, version: undefined }, /version is required/],
      [{ ...good, version: '1 0' }, /version must be/],
      [{ ...good, mims: [] }, /non-empty array/],
      [{ ...good, mims: [good.mims[0], good.mims[0]] }, /appears twice/],
      [{ ...good, mims: [{ ...good.mims[0], name: 'has space' }] }, /mims\[0\]\.name/],
      [{ ...good, mims: [{ ...good.mims[0], env: [] }] }, /mims\[0\]\.env/],
    ];
    for (const [doc, reason] of cases) {
      assert.throws(
        () => parseAddonManifest(typeof doc === 'string' ? doc : JSON.stringify(doc)),
        (err: MimoeError) => err.code === 'ERR_ADDON_INVALID' && reason.test(err.message),
        JSON.stringify(doc),
      );
    }
  });
});

describe('addon .ini', () => {
  it('reads global keys, [mim] sections, comments, = inside values and quotes', () => {
    const ini = parseIni(
      '; comment\n# another\nLEVEL=info\n\n[agent]\n KEY = a=b \nQUOTED="  spaced  "\r\n[other]\nLEVEL=debug\n',
    );
    assert.deepEqual(ini.global, { LEVEL: 'info' });
    assert.deepEqual(ini.sections.get('agent'), { KEY: 'a=b', QUOTED: '  spaced  ' });
    assert.deepEqual(ini.sections.get('other'), { LEVEL: 'debug' });
  });

  it('says which line is wrong', () => {
    assert.throws(() => parseIni('[agent]\nno equals sign\n', 'x.ini'), /x\.ini line 2: expected KEY=value/);
    assert.throws(() => parseIni('[agent\n', 'x.ini'), /x\.ini line 1: a section header/);
    assert.throws(() => parseIni('[a]\n[a]\n', 'x.ini'), /section \[a\] appears twice/);
    assert.throws(() => parseIni('=value\n', 'x.ini'), /line 1/);
  });
});

describe('addon loader', () => {
  it('installs a folder and a .addon file under their client ids, with markers and protection', async () => {
    const n = start();
    await writeAddonFolder(path.join(n.addonDir, 'tools'), spec('com.example.tools'));
    await addonFile(spec('mimik.ai'), 'mimik.ai.addon');
    const report = await n.load();
    assert.deepEqual(report.refused, []);
    assert.deepEqual(report.loaded.sort(), ['com.example.tools', 'mimik.ai']);

    const [mim] = n.mims.list('mimik-ai');
    assert.equal(mim?.id, 'mimik-ai-agent');
    assert.equal(mim?.env['MCM.ADDON.ID'], 'mimik.ai');
    assert.equal(mim?.env['MCM.ADDON.VERSION'], '1.0.0');
    assert.equal(mim?.env['MCM.ADDON.SOURCE'], 'mimik.ai.addon');
    assert.deepEqual(n.mims.mounts.resolve('/mimik-ai/agent/v1/x'), {
      mimId: 'mimik-ai-agent',
      mount: '/mimik-ai/agent/v1',
      rest: '/x',
    });
    assert.equal(n.mims.list('com-example-tools')[0]?.env['MCM.ADDON.SOURCE'], 'tools');
    assert.equal(
      fs.readFileSync(n.host.running.get('mimik-ai-agent')?.bundlePath ?? '', 'utf8'),
      bundle('mimik.ai v1').toString(),
    );

    await assert.rejects(n.mims.delete('mimik-ai', 'mimik-ai-agent'), { code: 'ERR_FORBIDDEN' });
    assert.throws(() => n.images.delete('mimik-ai', 'mimik-ai-agent-img'), { code: 'ERR_FORBIDDEN' });
    const upload = await packMimImage({ bundle: bundle('forged'), name: 'agent-img', tag: '1.0.0' });
    await assert.rejects(n.images.ingest('mimik-ai', Readable.from(upload)), { code: 'ERR_FORBIDDEN' });
    // The unpacked .addon is gone from the node's temp dir.
    assert.deepEqual(fs.readdirSync(n.images.blobs.tmpDir), []);
  });

  it('refuses an addon tampered with after packing, logs why, and loads the others', async () => {
    const n = start();
    const file = await addonFile(spec('mimik.ai'), 'mimik.ai.addon');
    await tamperAddon(file, 'agent-img.tar', 'agent-img', bundle('evil'));
    await writeAddonFolder(path.join(n.addonDir, 'tools'), spec('com.example.tools'));
    const report = await n.load();
    assert.match(
      refusedReason(report, 'mimik.ai.addon'),
      /checksum mismatch: index\.js in agent-img\.tar is sha256:/,
    );
    assert.deepEqual(report.loaded, ['com.example.tools']);
    assert.deepEqual(n.mims.list('mimik-ai'), []);
    assert.deepEqual(n.images.list('mimik-ai'), []);
    const line = n.lines.find((l) => l.level === 'error');
    assert.match(line?.msg ?? '', /addon refused: .*checksum mismatch/);
  });

  it('checks every mim naming an image file already read: its image name and its checksum', async () => {
    const n = start();
    const two = (name: string): AddonSpec => ({
      id: name,
      mims: ['a', 'b'].map((m) => ({
        name: m,
        imageName: 'agent-img',
        file: 'shared.tar',
        bundle: bundle(name),
        env: { 'MCM.BASE_API_PATH': `/${m}` },
      })),
    });
    const edit = (dir: string, change: (image: Record<string, unknown>) => void): void => {
      const file = path.join(dir, 'manifest.json');
      const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as { mims: { image: Record<string, unknown> }[] };
      const second = doc.mims[1];
      if (second !== undefined) change(second.image);
      fs.writeFileSync(file, JSON.stringify(doc));
    };
    await writeAddonFolder(path.join(n.addonDir, 'renamed'), two('renamed'));
    edit(path.join(n.addonDir, 'renamed'), (image) => (image['name'] = 'other'));
    await writeAddonFolder(path.join(n.addonDir, 'resummed'), two('resummed'));
    edit(
      path.join(n.addonDir, 'resummed'),
      (image) => (image['indexFileChecksum'] = checksumOf(bundle('x'))),
    );
    await writeAddonFolder(path.join(n.addonDir, 'fine'), two('fine'));
    const report = await n.load();
    assert.match(
      refusedReason(report, 'renamed'),
      /mims\[1\] \(b\): image file shared\.tar holds image agent-img, not other/,
    );
    assert.match(
      refusedReason(report, 'resummed'),
      /image agent-img is named again with another file or checksum/,
    );
    assert.deepEqual(report.loaded, ['fine']);
  });

  it('refuses files that escape the addon: traversal, absolute names, links', async () => {
    const n = start();
    fs.mkdirSync(n.addonDir, { recursive: true });
    const manifest = (file: string): Buffer =>
      Buffer.from(
        JSON.stringify({
          id: 'x.y',
          name: 'x',
          version: '1',
          mims: [
            {
              name: 'a',
              image: { name: 'a', file, indexFileChecksum: checksumOf(bundle('a')) },
              env: { 'MCM.BASE_API_PATH': '/a' },
            },
          ],
        }),
      );
    const image = await packMimImage({ bundle: bundle('a'), name: 'a', tag: '1' });
    // .addon files: a traversal entry, an absolute entry, a symlink entry, a manifest naming ../
    fs.writeFileSync(
      path.join(n.addonDir, 'climb.addon'),
      await buildTar([
        { name: 'manifest.json', content: manifest('a.tar') },
        { name: '../a.tar', content: image },
      ]),
    );
    fs.writeFileSync(
      path.join(n.addonDir, 'absolute.addon'),
      await buildTar([
        { name: 'manifest.json', content: manifest('a.tar') },
        { name: '/tmp/a.tar', content: image },
      ]),
    );
    fs.writeFileSync(
      path.join(n.addonDir, 'link.addon'),
      await buildTar([
        { name: 'manifest.json', content: manifest('a.tar') },
        { name: 'a.tar', type: 'symlink', linkname: '/etc/passwd' },
      ]),
    );
    fs.writeFileSync(
      path.join(n.addonDir, 'outside.addon'),
      await buildTar([{ name: 'manifest.json', content: manifest('../a.tar') }]),
    );
    // A folder whose image is a symlink to a file outside it.
    const folder = path.join(n.addonDir, 'folder');
    fs.mkdirSync(folder);
    fs.writeFileSync(path.join(root, 'a.tar'), image);
    fs.symlinkSync(path.join(root, 'a.tar'), path.join(folder, 'a.tar'));
    fs.writeFileSync(path.join(folder, 'manifest.json'), manifest('a.tar'));
    // A folder with no manifest, and a file that is no addon.
    fs.mkdirSync(path.join(n.addonDir, 'empty'));
    fs.writeFileSync(path.join(n.addonDir, 'notes.txt'), 'x');

    const report = await n.load();
    assert.deepEqual(report.loaded, []);
    assert.match(refusedReason(report, 'climb.addon'), /climbs out of the archive/);
    assert.match(refusedReason(report, 'absolute.addon'), /absolute path/);
    assert.match(refusedReason(report, 'link.addon'), /holds symlink a\.tar; only files and folders/);
    assert.match(refusedReason(report, 'outside.addon'), /climbs out of the addon/);
    assert.match(refusedReason(report, 'folder'), /leads outside the addon/);
    assert.match(refusedReason(report, 'empty'), /the folder has no manifest\.json at its root/);
    assert.ok(n.lines.some((l) => l.level === 'warn' && (l.obj as { addon?: string }).addon === 'notes.txt'));
    assert.equal(fs.existsSync(path.join(n.workDir, 'a.tar')), false);
    assert.equal(n.mims.count(), 0);
  });

  it('applies the .ini beside the addon per mim, and refuses a bad one', async () => {
    const n = start();
    await addonFile(spec('mimik.ai'), 'mimik.ai.addon');
    fs.writeFileSync(path.join(n.addonDir, 'mimik.ai.addon.ini'), 'SHARED=1\n[agent]\nMODEL=small\n');
    await writeAddonFolder(path.join(n.addonDir, 'tools'), spec('com.example.tools'));
    fs.writeFileSync(path.join(n.addonDir, 'tools.ini'), '[nobody]\nX=1\n');
    await writeAddonFolder(path.join(n.addonDir, 'sneaky'), spec('sneaky'));
    fs.writeFileSync(path.join(n.addonDir, 'sneaky.ini'), '[agent]\nMCM.ADDON.ID=mimik.ai\n');
    const report = await n.load();
    assert.deepEqual(report.loaded, ['mimik.ai']);
    const env = n.mims.list('mimik-ai')[0]?.env ?? {};
    assert.equal(env['MODEL'], 'small');
    assert.equal(env['SHARED'], '1');
    assert.match(refusedReason(report, 'tools'), /tools\.ini: section \[nobody\] names no mim/);
    assert.match(refusedReason(report, 'sneaky'), /reserved for addons/);
  });

  it('refuses an addon whose client id holds mims deployed through the API', async () => {
    const n = start();
    const image = await packMimImage({ bundle: bundle('user'), name: 'user-img', tag: '1' });
    await n.images.ingest('mimik-ai', Readable.from(image));
    n.mims.deploy('mimik-ai', { name: 'agent', image: 'user-img', env: { 'MCM.BASE_API_PATH': '/other' } });
    await addonFile(spec('mimik.ai'), 'mimik.ai.addon');
    const report = await n.load();
    assert.match(
      refusedReason(report, 'mimik.ai.addon'),
      /client id mimik-ai already holds 1 mim\(s\) and 1 image\(s\) deployed through the API/,
    );
    assert.equal(n.mims.byId('mimik-ai-agent')?.image, 'user-img');
  });

  it('restores an installed image edited on disk from the addon, and reloads its mim', async () => {
    let n = start();
    await addonFile(spec('mimik.ai'), 'mimik.ai.addon');
    await n.load();
    const blob = n.mims.byId('mimik-ai-agent')?.blob ?? '';
    const stored = n.images.blobs.bundlePath(blob);
    const original = fs.readFileSync(stored);
    fs.writeFileSync(stored, bundle('edited on disk'));

    n = start();
    const deploysAfterRestore = n.host.deploys;
    const report = await n.load();
    assert.deepEqual(report.loaded, ['mimik.ai']);
    assert.deepEqual(report.kept, []);
    assert.deepEqual(fs.readFileSync(stored), original);
    assert.ok(n.host.deploys > deploysAfterRestore, 'the mim is reloaded');
    assert.ok(n.lines.some((l) => /damaged on disk; restored from the addon/.test(l.msg)));
  });

  it('across restarts: keeps unchanged mims, replaces updated ones with their data, uninstalls removed ones', async () => {
    let n = start();
    await writeAddonFolder(path.join(n.addonDir, 'tools'), spec('com.example.tools'));
    const file = await addonFile(spec('mimik.ai'), 'mimik.ai.addon');
    await n.load();
    const first = n.mims.byId('mimik-ai-agent');
    const dataDir = n.mims.dataDir('mimik-ai-agent');
    fs.mkdirSync(dataDir, { recursive: true });
    fs.writeFileSync(path.join(dataDir, 'kept'), 'data');

    // Restart, nothing changed: the restored mim is left alone.
    n = start();
    const deploysAfterRestore = n.host.deploys;
    let report = await n.load();
    assert.deepEqual(report.loaded.sort(), ['com.example.tools', 'mimik.ai']);
    assert.equal(n.host.deploys, deploysAfterRestore, 'no redeploy of unchanged addons');
    assert.deepEqual(n.mims.byId('mimik-ai-agent'), first);

    // A new version with new code: replaced in place, DataStore kept, old blob gone.
    fs.rmSync(file);
    await addonFile(spec('mimik.ai', '2.0.0', 'v2'), 'mimik.ai.addon');
    n = start();
    report = await n.load();
    const second = n.mims.byId('mimik-ai-agent');
    assert.equal(second?.env['MCM.ADDON.VERSION'], '2.0.0');
    assert.notEqual(second?.blob, first?.blob);
    assert.equal(second?.created, first?.created);
    assert.equal(fs.readFileSync(path.join(dataDir, 'kept'), 'utf8'), 'data');
    assert.equal(fs.existsSync(n.images.blobs.dir(first?.blob ?? '')), false);
    assert.equal(
      fs.readFileSync(n.host.running.get('mimik-ai-agent')?.bundlePath ?? '', 'utf8'),
      bundle('mimik.ai v2').toString(),
    );

    // A damaged update (tampered) is refused; the installed version keeps running.
    await tamperAddon(file, 'agent-img.tar', 'agent-img', bundle('evil'));
    n = start();
    report = await n.load();
    assert.match(refusedReason(report, 'mimik.ai.addon'), /checksum mismatch/);
    assert.deepEqual(report.kept, ['mimik.ai']);
    assert.equal(n.mims.byId('mimik-ai-agent')?.env['MCM.ADDON.VERSION'], '2.0.0');
    assert.ok(n.lines.some((l) => /installed version keeps running/.test(l.msg)));

    // Removed: mims, DataStores and images go.
    fs.rmSync(file);
    fs.rmSync(path.join(n.addonDir, 'tools'), { recursive: true });
    n = start();
    report = await n.load();
    assert.deepEqual(report.uninstalled.sort(), ['com.example.tools', 'mimik.ai']);
    assert.equal(n.mims.count(), 0);
    assert.deepEqual(n.images.list('mimik-ai'), []);
    assert.equal(fs.existsSync(dataDir), false);
    assert.equal(n.host.running.size, 0);
  });

  it('refuses a second addon whose id maps to a client id already taken (mimik.ai, mimik-ai)', async () => {
    const n = start();
    await writeAddonFolder(path.join(n.addonDir, 'a'), spec('mimik.ai'));
    await writeAddonFolder(path.join(n.addonDir, 'b'), spec('mimik-ai'));
    const report = await n.load();
    assert.deepEqual(report.loaded, ['mimik.ai']);
    assert.match(
      refusedReason(report, 'b'),
      /gives client id mimik-ai, already used by addon mimik\.ai \(a\)/,
    );
    // With a's folder present but now refused, a stays installed and b may not take its client.
    fs.writeFileSync(
      path.join(n.addonDir, 'a', 'agent-img.tar'),
      await packMimImage({ bundle: bundle('changed'), name: 'agent-img', tag: '1.0.0' }),
    );
    const again = await start().load();
    assert.match(refusedReason(again, 'a'), /checksum mismatch/);
    assert.match(refusedReason(again, 'b'), /client id mimik-ai is held by the installed addon mimik\.ai/);
    assert.equal(node?.mims.byId('mimik-ai-agent')?.env['MCM.ADDON.ID'], 'mimik.ai');
    // Once a is gone, b takes the client over in the same start.
    fs.rmSync(path.join(n.addonDir, 'a'), { recursive: true });
    const third = await start().load();
    assert.deepEqual(third.uninstalled, ['mimik.ai']);
    assert.deepEqual(third.loaded, ['mimik-ai']);
    assert.equal(node?.mims.byId('mimik-ai-agent')?.env['MCM.ADDON.ID'], 'mimik-ai');
  });

  it('refuses two addons declaring one id, keeping the first by name', async () => {
    const n = start();
    await writeAddonFolder(path.join(n.addonDir, 'a'), spec('mimik.ai'));
    await writeAddonFolder(path.join(n.addonDir, 'b'), spec('mimik.ai'));
    const report = await n.load();
    assert.deepEqual(report.loaded, ['mimik.ai']);
    assert.match(refusedReason(report, 'b'), /addon id mimik\.ai is already declared by a/);
  });
});
