// The supervisor's lifecycle: crash containment and restarts, stopping a mim that keeps crashing,
// deploy/undeploy/redeploy, close(), and the sandbox entry's refusal to run without the flag.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EXIT_MISSING_FLAG } from '../../src/sandbox/protocol.js';
import {
  ROOT,
  childPids,
  delay,
  fixturePath,
  json,
  mimSpec,
  request,
  startSupervisor,
  type TestSupervisor,
} from './support.js';

describe('crash containment', () => {
  let t: TestSupervisor;

  before(async () => {
    t = await startSupervisor({ crashLimit: 2 });
    // fatal → 0, hello → 1, raw (next to fatal) → 0.
    t.supervisor.deploy(mimSpec('api-fatal', fixturePath('fatal')));
    t.supervisor.deploy(mimSpec('api-hello', fixturePath('hello-router')));
    t.supervisor.deploy(mimSpec('api-raw', fixturePath('raw-exports')));
  });

  after(async () => {
    await t.supervisor.close();
  });

  it('answers ERR_SANDBOX_CRASHED, keeps other processes serving, and restarts the process', async () => {
    assert.equal(t.supervisor.processOf('api-fatal'), t.supervisor.processOf('api-raw'));
    assert.notEqual(t.supervisor.processOf('api-fatal'), t.supervisor.processOf('api-hello'));

    const [crashed, meanwhile] = await Promise.all([
      request(t.supervisor, 'api-fatal', '/fatal'),
      request(t.supervisor, 'api-hello', '/hello'),
    ]);
    assert.equal(crashed.error?.code, 'ERR_SANDBOX_CRASHED');
    assert.deepEqual(json(meanwhile), { message: 'hello' });
    assert.deepEqual(json(await request(t.supervisor, 'api-hello', '/hello')), { message: 'hello' });

    // Mims of the crashed process answer again once it is back (their requests wait for it).
    assert.deepEqual(json(await request(t.supervisor, 'api-raw', '/json')), { ok: true });
    assert.equal((await request(t.supervisor, 'api-fatal', '/ok')).body, 'ok');
    const stats = t.supervisor.stats();
    assert.equal(stats.restarts, 1);
    assert.equal(stats.processes, 2);
    assert.equal(t.supervisor.isStopped('api-fatal'), false);
  });

  it('stops a mim that keeps crashing its sandbox, until it is deployed again', async () => {
    const crashed = await request(t.supervisor, 'api-fatal', '/fatal');
    assert.equal(crashed.error?.code, 'ERR_SANDBOX_CRASHED');
    assert.equal(t.supervisor.isStopped('api-fatal'), true);
    assert.deepEqual(
      t.stopped.map((s) => s.mimId),
      ['api-fatal'],
    );
    assert.equal((await request(t.supervisor, 'api-fatal', '/ok')).error?.code, 'ERR_MIM_STOPPED');
    // Its neighbours were not stopped.
    assert.equal(t.supervisor.isStopped('api-raw'), false);
    assert.deepEqual(json(await request(t.supervisor, 'api-raw', '/json')), { ok: true });

    t.supervisor.deploy(mimSpec('api-fatal', fixturePath('fatal')));
    assert.equal(t.supervisor.isStopped('api-fatal'), false);
    assert.equal((await request(t.supervisor, 'api-fatal', '/ok')).body, 'ok');
  });
});

describe('supervisor lifecycle', () => {
  let t: TestSupervisor;
  let dir: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimoe-sandbox-'));
    t = await startSupervisor();
  });

  after(async () => {
    await t.supervisor.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers ERR_MIM_NOT_FOUND for a mim that is not deployed', async () => {
    assert.equal((await request(t.supervisor, 'api-nobody', '/')).error?.code, 'ERR_MIM_NOT_FOUND');
  });

  it('replaces a mim on redeploy and removes it on undeploy', async () => {
    const file = path.join(dir, 'v.js');
    fs.writeFileSync(file, 'mimikModule.exports = function (c, req, res) { res.end("v1"); };');
    t.supervisor.deploy(mimSpec('api-v', file));
    assert.equal((await request(t.supervisor, 'api-v', '/')).body, 'v1');

    const file2 = path.join(dir, 'v2.js');
    fs.writeFileSync(
      file2,
      'mimikModule.exports = function (c, req, res) { res.end("v2 " + c.env.WHICH); };',
    );
    t.supervisor.deploy(mimSpec('api-v', file2, { env: { WHICH: 'second' } }));
    assert.equal((await request(t.supervisor, 'api-v', '/')).body, 'v2 second');

    await t.supervisor.undeploy('api-v');
    assert.equal((await request(t.supervisor, 'api-v', '/')).error?.code, 'ERR_MIM_NOT_FOUND');
    await t.supervisor.undeploy('api-v');
  });

  it('lets undeploy wait for requests in flight', async () => {
    t.supervisor.deploy(mimSpec('api-slow', fixturePath('async')));
    const inFlight = request(t.supervisor, 'api-slow', '/timeout');
    await delay(10);
    await t.supervisor.undeploy('api-slow');
    const res = await inFlight;
    assert.equal(res.error, undefined);
    assert.equal((json(res) as { via: string }).via, 'timeout');
  });

  it('counts requests in flight', async () => {
    t.supervisor.deploy(mimSpec('api-counted', fixturePath('async')));
    const pending = request(t.supervisor, 'api-counted', '/timeout');
    assert.equal(t.supervisor.stats().inFlight, 1);
    await pending;
    assert.equal(t.supervisor.stats().inFlight, 0);
  });

  it('closes idempotently, failing what comes late, and leaves no child process', async () => {
    assert.equal(childPids().length, 2);
    t.supervisor.deploy(mimSpec('api-last', fixturePath('async')));
    const inFlight = request(t.supervisor, 'api-last', '/timeout');
    await delay(10);
    await Promise.all([t.supervisor.close(), t.supervisor.close()]);
    assert.equal((await inFlight).error, undefined, 'in-flight requests finish within the grace');
    assert.deepEqual(childPids(), []);
    assert.equal((await request(t.supervisor, 'api-last', '/immediate')).error?.code, 'ERR_SHUTTING_DOWN');
    assert.throws(() => t.supervisor.deploy(mimSpec('api-late', fixturePath('async'))), {
      code: 'ERR_SHUTTING_DOWN',
    });
  });
});

describe('stuck sandbox', () => {
  let t: TestSupervisor;

  before(async () => {
    t = await startSupervisor({ processes: 1 });
    t.supervisor.deploy(mimSpec('api-hello', fixturePath('hello-router'), { timeoutMs: 300 }));
    assert.deepEqual(json(await request(t.supervisor, 'api-hello', '/hello')), { message: 'hello' });
  });

  after(async () => {
    await t.supervisor.close();
  });

  it('answers from the backstop deadline and kills a sandbox that went silent', async () => {
    const [pid] = childPids();
    assert.ok(pid !== undefined);
    process.kill(pid, 'SIGSTOP');
    const res = await request(t.supervisor, 'api-hello', '/hello');
    assert.equal(res.error?.code, 'ERR_MIM_TIMEOUT');
    assert.ok(res.elapsedMs >= 1000 && res.elapsedMs < 2500, `answered after ${res.elapsedMs} ms`);
    // Killed (SIGKILL ends a stopped process too) and restarted: the mim answers again.
    while (t.supervisor.stats().processes < 1) await delay(20);
    assert.deepEqual(json(await request(t.supervisor, 'api-hello', '/hello')), { message: 'hello' });
    assert.equal(t.supervisor.stats().restarts, 1);
    assert.ok(!childPids().includes(pid));
  });
});

describe('sandbox entry', () => {
  it('refuses to start without --no-node-snapshot', () => {
    const entry = path.join(ROOT, 'dist', 'src', 'sandbox', 'host', 'main.js');
    const run = spawnSync(process.execPath, [entry], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(run.status, EXIT_MISSING_FLAG);
    assert.match(run.stderr, /--no-node-snapshot/);
  });
});
