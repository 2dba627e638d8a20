import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { TestNode, tempDir } from '../helpers/node-process.js';
import { fixtureImage } from '../helpers/fixtures.js';
import { alive, childrenOf } from '../helpers/processes.js';

describe('the mimoe daemon', () => {
  it('creates an owner-only key file on first start, logs its path, and reuses it', async () => {
    const workDir = tempDir();
    const first = await TestNode.start({ workDir, keepWorkDir: true });
    const keyFile = path.join(workDir, 'mimoe-api-key.env');
    const stat = fs.statSync(keyFile);
    assert.equal(stat.mode & 0o777, 0o600);
    const text = fs.readFileSync(keyFile, 'utf8');
    assert.match(text, /^# mimOE API Keys/m);
    assert.match(text, /^ACCOUNT_API_KEY=\S{20,}$/m);
    assert.match(text, /^MCM_API_KEY=\S{20,}$/m);
    assert.ok(first.logs.some((l) => l.msg === `API key file: ${keyFile}`));
    assert.equal(await first.stop(), 0);

    const second = await TestNode.start({ workDir });
    assert.equal(second.mcmKey, first.mcmKey);
    assert.equal(fs.readFileSync(keyFile, 'utf8'), text);
    await second.stop();
  });

  it('uses a key file named by --api-key-file', async () => {
    const dir = tempDir();
    const keyFile = path.join(dir, 'my-keys.env');
    fs.writeFileSync(keyFile, 'ACCOUNT_API_KEY=account-secret-1\nMCM_API_KEY=mcm-secret-123\n', {
      mode: 0o600,
    });
    const node = await TestNode.start({ args: ['--api-key-file', keyFile] });
    const ok = await fetch(`${node.url}/mcm/v1/images`, {
      headers: { authorization: 'Bearer mcm-secret-123' },
    });
    assert.equal(ok.status, 200);
    assert.ok(!fs.existsSync(path.join(node.workDir, 'mimoe-api-key.env')));
    await node.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses to start with a key file missing a key', async () => {
    const dir = tempDir();
    const keyFile = path.join(dir, 'bad.env');
    fs.writeFileSync(keyFile, 'MCM_API_KEY=only-one-key\n');
    await assert.rejects(TestNode.start({ args: ['--api-key-file', keyFile] }), /ACCOUNT_API_KEY/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps images and mims across a restart, and they answer again', async () => {
    const workDir = tempDir();
    const first = await TestNode.start({ workDir, keepWorkDir: true });
    assert.equal((await first.upload(await fixtureImage('hello-router', 'hello-v1'))).status, 200);
    assert.equal((await first.deploy('hello', 'hello-v1', { 'MCM.BASE_API_PATH': '/hello/v1' })).status, 201);
    assert.equal((await fetch(`${first.url}/api/hello/v1/hello`)).status, 200);
    assert.equal(await first.stop('SIGINT'), 0);

    const second = await TestNode.start({ workDir });
    const images = (await (await second.mcm('GET', '/images')).json()) as { data: { id: string }[] };
    assert.deepEqual(
      images.data.map((i) => i.id),
      ['api-hello-v1'],
    );
    const mims = (await (await second.mcm('GET', '/mims')).json()) as {
      data: { id: string; status: string }[];
    };
    assert.deepEqual(
      mims.data.map((m) => [m.id, m.status]),
      [['api-hello', 'up']],
    );
    const res = await fetch(`${second.url}/api/hello/v1/hello`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { message: 'hello' });
    await second.stop();
  });

  it('refuses a second node on a work dir in use, and takes over a stale lock', async () => {
    const workDir = tempDir();
    const first = await TestNode.start({ workDir, keepWorkDir: true });
    await assert.rejects(TestNode.start({ workDir, keepWorkDir: true }), /in use by another mimoe/);
    assert.equal(await first.stop(), 0);
    assert.ok(!fs.existsSync(path.join(workDir, 'mimoe.lock')), 'lock removed at stop');
    fs.writeFileSync(path.join(workDir, 'mimoe.lock'), '999999999\n');
    const again = await TestNode.start({ workDir });
    await again.stop();
  });

  it('keeps the work dir and what it writes owner-only', async () => {
    const workDir = tempDir();
    fs.chmodSync(workDir, 0o755);
    const node = await TestNode.start({ workDir, keepWorkDir: true });
    assert.equal((await node.upload(await fixtureImage('raw-exports', 'perm-img'))).status, 200);
    assert.equal(fs.statSync(workDir).mode & 0o777, 0o700);
    for (const rel of ['node.db', 'images', 'images/blobs', 'tmp']) {
      assert.equal(fs.statSync(path.join(workDir, rel)).mode & 0o077, 0, rel);
    }
    await node.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it('stops within its shutdown grace even while a mim request hangs', async () => {
    const node = await TestNode.start();
    assert.equal((await node.upload(await fixtureImage('async', 'slow-img'))).status, 200);
    const env = { 'MCM.BASE_API_PATH': '/slow', 'MCM.MAX_EXECUTION_TIME_SEC': '120' };
    assert.equal((await node.deploy('slow', 'slow-img', env)).status, 201);
    const hanging = fetch(`${node.url}/api/slow/never`).then(
      (r) => r.status,
      () => 'cut',
    );
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    await node.stop();
    const took = Date.now() - t0;
    assert.ok(took < 12_000, `stopped after ${took} ms`);
    const outcome = await hanging;
    assert.ok(outcome === 'cut' || (typeof outcome === 'number' && outcome >= 500), String(outcome));
  });

  it('leaves no sandbox process behind after SIGTERM', async () => {
    const node = await TestNode.start();
    const pid = node.child.pid;
    assert.ok(pid !== undefined);
    const kids = childrenOf(pid);
    assert.ok(kids.length >= 2, `expected sandbox processes, saw ${kids.length}`);
    assert.equal(await node.stop(), 0);
    for (const kid of kids) assert.ok(!alive(kid), `sandbox ${kid} still alive`);
  });
});
