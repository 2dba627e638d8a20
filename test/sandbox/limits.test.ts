// Hostile and broken mims: busy loops are stopped at the deadline without holding up others,
// exceptions become ERR_MIM_EXCEPTION, memory hogs get a fresh isolate, bad bundles are reported.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  delay,
  fixturePath,
  json,
  mimSpec,
  request,
  startSupervisor,
  type TestSupervisor,
} from './support.js';

describe('limits', () => {
  let t: TestSupervisor;
  let dir: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimoe-sandbox-'));
    t = await startSupervisor();
    // Least-loaded placement: loop → 0, hello-far → 1, hello-near → 0 (next to the loop).
    t.supervisor.deploy(mimSpec('api-loop', fixturePath('loop'), { timeoutMs: 1000 }));
    t.supervisor.deploy(mimSpec('api-hello-far', fixturePath('hello-router')));
    t.supervisor.deploy(mimSpec('api-hello-near', fixturePath('hello-router')));
    t.supervisor.deploy(mimSpec('api-throws', fixturePath('throws')));
    // A generous time limit, so that only the memory limit can stop the hog.
    t.supervisor.deploy(mimSpec('api-hog', fixturePath('hog'), { memoryMb: 24, timeoutMs: 30_000 }));
  });

  after(async () => {
    await t.supervisor.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('places mims on the least-loaded process', () => {
    assert.equal(t.supervisor.processOf('api-loop'), 0);
    assert.equal(t.supervisor.processOf('api-hello-far'), 1);
    assert.equal(t.supervisor.processOf('api-hello-near'), 0);
  });

  it('stops a busy loop at the deadline while other mims keep answering', async () => {
    const looping = request(t.supervisor, 'api-loop', '/spin');
    await delay(200);
    const during = await Promise.all([
      request(t.supervisor, 'api-hello-near', '/hello'),
      request(t.supervisor, 'api-hello-far', '/hello'),
      request(t.supervisor, 'api-hello-near', '/hello'),
    ]);
    for (const res of during) {
      assert.deepEqual(json(res), { message: 'hello' });
      assert.ok(res.elapsedMs < 500, `answered in ${res.elapsedMs} ms during the loop`);
    }
    const res = await looping;
    assert.equal(res.error?.code, 'ERR_MIM_TIMEOUT');
    assert.ok(res.elapsedMs < 2000, `timed out after ${res.elapsedMs} ms`);
    // The loop was really stopped: the same mim answers right away.
    assert.equal((await request(t.supervisor, 'api-loop', '/ok')).body, 'ok');
  });

  it('stops a busy loop inside a timer callback', async () => {
    const res = await request(t.supervisor, 'api-loop', '/spin-timer');
    assert.equal(res.error?.code, 'ERR_MIM_TIMEOUT');
    assert.ok(res.elapsedMs < 2000, `timed out after ${res.elapsedMs} ms`);
    assert.equal((await request(t.supervisor, 'api-loop', '/ok')).body, 'ok');
  });

  it('stops an endless chain of promise callbacks that write', async () => {
    const res = await request(t.supervisor, 'api-loop', '/microtask-writes');
    assert.equal(res.status, 200, 'the first write sent the head');
    assert.ok(
      res.error?.code === 'ERR_MIM_TIMEOUT' || res.error?.code === 'ERR_MIM_MEMORY',
      `failed with ${res.error?.code ?? 'nothing'}`,
    );
    assert.ok(res.elapsedMs < 2000, `stopped after ${res.elapsedMs} ms`);
    assert.equal((await request(t.supervisor, 'api-loop', '/ok')).body, 'ok');
  });

  it('fails a synchronous throw with ERR_MIM_EXCEPTION and logs the message, not the response', async () => {
    const before = t.logs.length;
    const res = await request(t.supervisor, 'api-throws', '/sync');
    assert.equal(res.error?.code, 'ERR_MIM_EXCEPTION');
    assert.ok(!res.error.message.includes('boom'), 'the mim message stays out of the response');
    const logged = t.logs.slice(before).find((l) => l.mimId === 'api-throws');
    assert.equal(logged?.level, 'error');
    assert.match(logged.message, /Error: boom in the handler/);
  });

  it('fails a throw in a timer callback with ERR_MIM_EXCEPTION', async () => {
    const res = await request(t.supervisor, 'api-throws', '/timer');
    assert.equal(res.error?.code, 'ERR_MIM_EXCEPTION');
  });

  it('cuts a streamed response short when the mim throws after the head', async () => {
    const res = await request(t.supervisor, 'api-throws', '/after-write');
    assert.equal(res.status, 200);
    assert.equal(res.body, 'partial');
    assert.equal(res.error?.code, 'ERR_MIM_EXCEPTION');
  });

  it('answers ERR_MIM_MEMORY for a memory hog, then serves from a fresh isolate', async () => {
    const res = await request(t.supervisor, 'api-hog', '/hog');
    assert.equal(res.error?.code, 'ERR_MIM_MEMORY');
    assert.equal((await request(t.supervisor, 'api-hog', '/ok')).body, 'ok');
    assert.equal(t.supervisor.stats().restarts, 0, 'no sandbox process was lost');
  });

  it('answers ERR_MIM_INVALID_BUNDLE for bundles that do not load', async () => {
    const bundles: Record<string, string> = {
      'no-export': 'var notAHandler = 1;',
      'not-function': 'mimikModule.exports = { handler: function () {} };',
      syntax: 'mimikModule.exports = function (context, req, res) {',
      'top-throw': 'throw new Error("cannot start");',
    };
    for (const [name, source] of Object.entries(bundles)) {
      const file = path.join(dir, `${name}.js`);
      fs.writeFileSync(file, source);
      t.supervisor.deploy(mimSpec(`api-${name}`, file));
      const res = await request(t.supervisor, `api-${name}`, '/');
      assert.equal(res.error?.code, 'ERR_MIM_INVALID_BUNDLE', name);
    }
    t.supervisor.deploy(mimSpec('api-missing', path.join(dir, 'absent.js')));
    assert.equal((await request(t.supervisor, 'api-missing', '/')).error?.code, 'ERR_MIM_INVALID_BUNDLE');
  });
});
