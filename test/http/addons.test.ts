import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { TestNode, tempDir } from '../helpers/node-process.js';
import { fixtureBundle, fixtureImage } from '../helpers/fixtures.js';
import { runAddonCli, tamperAddon, writeAddonFolder } from '../helpers/addons.js';
import { ops } from '../helpers/storage-mim.js';
import type { MimView } from '../../src/mims/mim.js';

/**
 * Addons on a real node: a folder and a `.addon` file built with `mimoe addon build` are loaded
 * at start and answer at `/{addon client}{basePath}`; a `.addon` tampered with after packing is
 * refused while the others load; protection, .ini overrides and uninstall-at-restart.
 */
describe('addons', () => {
  let root: string;
  let workDir: string;
  let addonDir: string;
  let node: TestNode;

  const as = (clientId: string): { headers: Record<string, string> } => ({
    headers: { 'x-client-id': clientId },
  });

  async function mims(clientId: string): Promise<MimView[]> {
    const res = await node.mcm('GET', '/mims', as(clientId));
    assert.equal(res.status, 200);
    return ((await res.json()) as { data: MimView[] }).data;
  }

  async function build(src: string, out: string): Promise<void> {
    const result = await runAddonCli(['build', '--manifest', path.join(src, 'manifest.json'), '--out', out]);
    assert.equal(result.exitCode, 0, result.stderr);
  }

  before(async () => {
    root = tempDir('mimoe-addons-http-');
    workDir = path.join(root, 'work');
    addonDir = path.join(workDir, 'addon');
    fs.mkdirSync(addonDir, { recursive: true });

    // mimik.ai: a .addon file with two mims, and an .ini beside it.
    const mimik = path.join(root, 'mimik');
    await writeAddonFolder(mimik, {
      id: 'mimik.ai',
      noChecksums: true,
      mims: [
        {
          name: 'hello',
          imageName: 'hello-v1',
          bundle: fixtureBundle('hello-router'),
          env: { 'MCM.BASE_API_PATH': '/hello/v1', GREETING: 'from manifest' },
        },
        {
          name: 'store',
          imageName: 'storage-img',
          file: 'images/storage.tar',
          bundle: fixtureBundle('storage'),
          env: { 'MCM.BASE_API_PATH': '/store/v1' },
        },
      ],
    });
    await build(mimik, path.join(addonDir, 'mimik.ai.addon'));
    fs.writeFileSync(
      path.join(addonDir, 'mimik.ai.addon.ini'),
      '# operator settings\n[hello]\nGREETING=from ini\n',
    );

    // com.example.tools: a folder.
    await writeAddonFolder(path.join(addonDir, 'tools'), {
      id: 'com.example.tools',
      mims: [
        {
          name: 'tools',
          imageName: 'tools-v1',
          bundle: fixtureBundle('hello-router'),
          env: { 'MCM.BASE_API_PATH': '/tools/v1' },
        },
      ],
    });

    // evil.corp: built honestly, then index.js inside its image tar changed.
    const evil = path.join(root, 'evil');
    await writeAddonFolder(evil, {
      id: 'evil.corp',
      mims: [
        {
          name: 'evil',
          imageName: 'evil-v1',
          bundle: fixtureBundle('hello-router'),
          env: { 'MCM.BASE_API_PATH': '/evil/v1' },
        },
      ],
    });
    const evilFile = path.join(addonDir, 'evil.corp.addon');
    await build(evil, evilFile);
    await tamperAddon(evilFile, 'evil-v1.tar', 'evil-v1', fixtureBundle('raw-exports'));

    node = await TestNode.start({ workDir, keepWorkDir: true });
  });

  after(async () => {
    await node.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('loads the folder and the .addon file; their mims answer at /{addon client}{basePath}', async () => {
    const hello = await fetch(`${node.url}/mimik-ai/hello/v1/hello`);
    assert.equal(hello.status, 200);
    assert.deepEqual(await hello.json(), { message: 'hello' });
    const tools = await fetch(`${node.url}/com-example-tools/tools/v1/hello`);
    assert.equal(tools.status, 200);
    const listening = node.logs.find((l) => l.msg.startsWith('mimoe listening'));
    assert.deepEqual(listening?.['addons'], ['mimik.ai', 'com.example.tools']);
    // Nothing of the addons shows up for the default client.
    assert.deepEqual(await mims('api'), []);
    assert.equal((await fetch(`${node.url}/api/hello/v1/hello`)).status, 404);
  });

  it('refuses the addon tampered with after packing, with the reason logged; the node runs', async () => {
    const refused = node.logs.find(
      (l) => l['addon'] === 'evil.corp.addon' && l.msg.startsWith('addon refused'),
    );
    assert.ok(refused !== undefined, 'a log line names the refused addon');
    assert.match(
      refused.msg,
      /checksum mismatch: index\.js in evil-v1\.tar is sha256:[0-9a-f]{64}, the manifest says/,
    );
    assert.equal(refused.level, 50);
    assert.deepEqual(await mims('evil-corp'), []);
    const images = (await (await node.mcm('GET', '/images', as('evil-corp'))).json()) as { data: unknown[] };
    assert.deepEqual(images.data, []);
    assert.equal((await fetch(`${node.url}/evil-corp/evil/v1/hello`)).status, 404);
  });

  it("shows the .ini override and the MCM.ADDON markers in the mim's env", async () => {
    const list = await mims('mimik-ai');
    assert.deepEqual(
      list.map((m) => m.id),
      ['mimik-ai-hello', 'mimik-ai-store'],
    );
    const hello = list[0] as MimView;
    assert.equal(hello.clientId, 'mimik-ai');
    assert.equal(hello.env['GREETING'], 'from ini');
    assert.equal(hello.env['MCM.ADDON.ID'], 'mimik.ai');
    assert.equal(hello.env['MCM.ADDON.VERSION'], '1.0.0');
    assert.equal(hello.env['MCM.ADDON.SOURCE'], 'mimik.ai.addon');
    // The mim itself sees it.
    const echo = (await (await fetch(`${node.url}/mimik-ai/hello/v1/echo`)).json()) as {
      env: Record<string, string>;
      info: Record<string, string>;
    };
    assert.equal(echo.env['GREETING'], 'from ini');
    assert.equal(echo.info['apiRoot'], '/mimik-ai/hello/v1');
  });

  it('refuses to delete addon mims and images with 403, even with the MCM key and the right client', async () => {
    for (const route of ['/mims/mimik-ai-hello', '/containers/mimik-ai-hello', '/images/mimik-ai-hello-v1']) {
      const res = await node.mcm('DELETE', route, as('mimik-ai'));
      assert.equal(res.status, 403, route);
      const body = (await res.json()) as { code: number; error: string; message: string };
      assert.equal(body.error, 'ERR_FORBIDDEN');
      assert.match(body.message, /belongs to addon mimik\.ai/);
    }
    // Uploading over an addon image's name is refused too, and so is any upload or deploy under
    // the addon's client id: a mim nested in the addon's mount would get around its protection.
    const upload = await node.upload(await fixtureImage('raw-exports', 'hello-v1'), {
      'x-client-id': 'mimik-ai',
    });
    assert.equal(upload.status, 403);
    const other = await node.upload(await fixtureImage('raw-exports', 'squat-v1'), {
      'x-client-id': 'mimik-ai',
    });
    assert.equal(other.status, 403);
    const nested = await node.mcm('POST', '/mims', {
      ...as('mimik-ai'),
      body: { name: 'squat', image: 'hello-v1', env: { 'MCM.BASE_API_PATH': '/hello/v1/admin' } },
    });
    assert.equal(nested.status, 403);
    assert.equal(((await nested.json()) as { error: string }).error, 'ERR_FORBIDDEN');
    const composed = await node.mcm('POST', '/compositions', {
      ...as('mimik-ai'),
      body: { mims: [{ name: 'squat', image: 'hello-v1', env: { 'MCM.BASE_API_PATH': '/squat' } }] },
    });
    assert.equal(composed.status, 403);
    assert.equal((await fetch(`${node.url}/mimik-ai/hello/v1/hello`)).status, 200);
    // Another client does not even see them.
    assert.equal((await node.mcm('DELETE', '/mims/mimik-ai-hello')).status, 404);
  });

  it('refuses deploys that carry MCM.ADDON.* env with 400', async () => {
    assert.equal((await node.upload(await fixtureImage('hello-router', 'hello-v1'))).status, 200);
    for (const resource of ['/mims', '/containers']) {
      const res = await node.mcm('POST', resource, {
        body: {
          name: 'fake',
          image: 'hello-v1',
          env: { 'MCM.BASE_API_PATH': '/fake', 'MCM.ADDON.ID': 'mimik.ai' },
        },
      });
      assert.equal(res.status, 400);
      assert.equal(((await res.json()) as { error: string }).error, 'ERR_MIM_INVALID');
    }
    assert.deepEqual(await mims('api'), []);
  });

  it('keeps DataStores across restarts and uninstalls a removed addon at the next start', async () => {
    const store = `${node.url}/mimik-ai/store/v1`;
    assert.deepEqual(await ops(store, [['setItem', 'k', 'kept']]), [{ ok: null }]);

    await node.stop();
    fs.rmSync(path.join(addonDir, 'tools'), { recursive: true });
    node = await TestNode.start({ workDir, keepWorkDir: true });

    assert.deepEqual(await ops(`${node.url}/mimik-ai/store/v1`, [['getItem', 'k']]), [{ ok: 'kept' }]);
    assert.deepEqual(await mims('com-example-tools'), []);
    const images = (await (await node.mcm('GET', '/images', as('com-example-tools'))).json()) as {
      data: unknown[];
    };
    assert.deepEqual(images.data, []);
    assert.equal((await fetch(`${node.url}/com-example-tools/tools/v1/hello`)).status, 404);
    assert.ok(node.logs.some((l) => l['addon'] === 'com.example.tools' && /uninstalled/.test(l.msg)));
    assert.equal((await fetch(`${node.url}/mimik-ai/hello/v1/hello`)).status, 200);
  });
});
