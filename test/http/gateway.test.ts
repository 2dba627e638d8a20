import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestNode } from '../helpers/node-process.js';
import { fixtureBundle, fixtureImage } from '../helpers/fixtures.js';
import { packWithMimikPackager } from '../helpers/mimik-packager.js';

async function deployFixture(
  node: TestNode,
  mim: string,
  basePath: string,
  env: Record<string, string> = {},
): Promise<void> {
  const up = await node.upload(await fixtureImage(mim, `${mim}-img`));
  assert.equal(up.status, 200, `upload ${mim}`);
  const dep = await node.deploy(mim, `${mim}-img`, { 'MCM.BASE_API_PATH': basePath, ...env });
  assert.equal(dep.status, 201, `deploy ${mim}: ${await dep.clone().text()}`);
}

describe('mims over HTTP: the runtime end to end', () => {
  let node: TestNode;
  before(async () => {
    node = await TestNode.start();
    await deployFixture(node, 'hello-router', '/hello/v1');
    await deployFixture(node, 'raw-exports', '/raw/v1');
    await deployFixture(node, 'async', '/async/v1');
    await deployFixture(node, 'loop', '/loop/v1', { 'MCM.MAX_EXECUTION_TIME_SEC': '2' });
    await deployFixture(node, 'throws', '/throws/v1');
    await deployFixture(node, 'fatal', '/fatal/v1');
  });
  after(async () => {
    await node.stop();
  });

  it("runs an image made by mimik's own packager", async () => {
    const { tar, repoTag } = packWithMimikPackager(fixtureBundle('hello-router'), 'mimikpacked');
    const up = await node.upload(tar);
    assert.equal(up.status, 200);
    const image = (await up.json()) as { name: string; repoTags: string[] };
    assert.deepEqual(image.repoTags, [repoTag]);
    assert.equal(image.name, 'mimikpacked-v1');
    assert.equal(
      (await node.deploy('mimikpacked', 'mimikpacked-v1', { 'MCM.BASE_API_PATH': '/mp/v1' })).status,
      201,
    );
    assert.deepEqual(await (await fetch(`${node.url}/api/mp/v1/hello`)).json(), { message: 'hello' });
  });

  it('gives a mim every global it relies on, and nothing of Node', async () => {
    const globals = (await (await fetch(`${node.url}/api/hello/v1/globals`)).json()) as Record<
      string,
      string
    >;
    for (const name of [
      'mimikModule',
      'Duktape',
      'TextEncoder',
      'TextDecoder',
      'setImmediate',
      'clearImmediate',
      'setTimeout',
      'clearTimeout',
      'setInterval',
      'clearInterval',
      'globalThis',
      'global',
      'console',
      'Buffer',
    ]) {
      assert.notEqual(globals[name], 'undefined', name);
    }
    for (const name of ['require', 'process', 'fetch']) assert.equal(globals[name], 'undefined', name);
  });

  it('answers a raw mimikModule.exports mim, with its status, headers and content type decision', async () => {
    const status = await fetch(`${node.url}/api/raw/v1/status`);
    assert.equal(status.status, 201);
    assert.equal(status.headers.get('x-custom'), 'two');
    assert.equal(status.headers.get('set-cookie'), 'a=1, b=2');
    assert.match(status.headers.get('content-type') ?? '', /application\/json/);
    const text = await fetch(`${node.url}/api/raw/v1/not-json`);
    assert.equal(text.headers.get('content-type'), null);
    assert.equal(await text.text(), 'not json {');
    const buffer = await fetch(`${node.url}/api/raw/v1/buffer`);
    assert.equal(await buffer.text(), 'buffer body');
    const empty = await fetch(`${node.url}/api/raw/v1/empty`);
    assert.equal(empty.status, 204);
  });

  it('gives every request a fresh context: module state does not survive', async () => {
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await (await fetch(`${node.url}/api/raw/v1/counter`)).json(), { counter: 1 });
    }
  });

  it('answers through setImmediate and setTimeout, and streams res.write chunks as they come', async () => {
    for (const route of ['immediate', 'timeout']) {
      const res = await fetch(`${node.url}/api/async/v1/${route}`);
      assert.equal(res.status, 200, route);
    }
    const res = await fetch(`${node.url}/api/async/v1/stream`);
    assert.equal(res.status, 200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const arrivals: number[] = [];
    let text = '';
    const t0 = Date.now();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      arrivals.push(Date.now() - t0);
      text += Buffer.from(value).toString();
    }
    assert.match(text, /chunk 1[\s\S]*chunk 4[\s\S]*done/);
    assert.ok(arrivals.length >= 3, `chunks arrived in ${arrivals.length} reads`);
    assert.ok((arrivals.at(-1) ?? 0) - (arrivals[0] ?? 0) >= 60, `spread over ${arrivals.join(',')} ms`);
  });

  it('answers 500 JSON when a mim sets an invalid status code', async () => {
    const res = await fetch(`${node.url}/api/raw/v1/bad-status`);
    assert.equal(res.status, 500);
  });

  it('answers 500 JSON when the mim throws', async () => {
    const res = await fetch(`${node.url}/api/throws/v1/sync`);
    assert.equal(res.status, 500);
    const body = (await res.json()) as { code: number; error: string; message: string };
    assert.equal(body.code, 500);
    assert.equal(body.error, 'ERR_MIM_EXCEPTION');
    assert.ok(!/at .*\.js:\d+/.test(body.message), 'no stack trace in the response');
  });

  it('stops a looping mim with 504 within its limit + 1 s while other mims keep answering', async () => {
    const started = Date.now();
    const looping = fetch(`${node.url}/api/loop/v1/spin`);
    await new Promise((r) => setTimeout(r, 200));
    const during: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = Date.now();
      const res = await fetch(`${node.url}/api/hello/v1/hello`);
      assert.equal(res.status, 200);
      during.push(Date.now() - t);
    }
    const res = await looping;
    const elapsed = Date.now() - started;
    assert.equal(res.status, 504);
    assert.equal(((await res.json()) as { error: string }).error, 'ERR_MIM_TIMEOUT');
    assert.ok(elapsed < 3000, `504 after ${elapsed} ms, limit 2000 ms`);
    assert.ok(Math.max(...during) < 1000, `other mim answered in ${during.join(', ')} ms during the loop`);
  });

  it('contains a fatal V8 error: 5xx for that request, the MCM API and other mims keep answering', async () => {
    const res = await fetch(`${node.url}/api/fatal/v1/fatal`);
    assert.ok(res.status >= 500 && res.status < 600, `status ${res.status}`);
    const body = (await res.json()) as { code: number };
    assert.equal(body.code, res.status);
    assert.equal((await node.mcm('GET', '/mims')).status, 200);
    for (let i = 0; i < 4; i++) {
      const hello = await fetch(`${node.url}/api/hello/v1/hello`);
      assert.equal(hello.status, 200);
    }
  });

  it('writes the mim console output to the node log tagged with the mim id', async () => {
    assert.equal((await fetch(`${node.url}/api/raw/v1/log`)).status, 200);
    await new Promise((r) => setTimeout(r, 300));
    const lines = node.logs.filter((l) => l['mim'] === 'api-raw-exports');
    assert.ok(
      lines.some((l) => l.msg.includes('hello from the mim')),
      'console.log line tagged with the mim',
    );
    assert.ok(
      lines.some((l) => l.level === 40 && l.msg.includes('careful')),
      'console.warn at warn level',
    );
  });

  it('stops a mim that keeps crashing its sandbox, and reports it in the mims list', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${node.url}/api/fatal/v1/fatal`);
      assert.ok(res.status >= 500);
    }
    const res = await fetch(`${node.url}/api/fatal/v1/ok`);
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { error: string }).error, 'ERR_MIM_STOPPED');
    const mims = (await (await node.mcm('GET', '/mims')).json()) as {
      data: { id: string; state: string; status: string }[];
    };
    const fatal = mims.data.find((m) => m.id === 'api-fatal');
    assert.deepEqual([fatal?.state, fatal?.status], ['stopped', 'crashed']);
    assert.equal((await fetch(`${node.url}/api/hello/v1/hello`)).status, 200);
  });
});
