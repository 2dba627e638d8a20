// The supervisor's side of the DataStore: pausing a mim's traffic around a store swap (restore),
// the sandbox closing and reopening the store, and unload closing it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
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

describe('DataStore handles in sandbox processes', () => {
  let t: TestSupervisor;
  const spec = mimSpec('api-st', fixturePath('storage'));

  before(async () => {
    t = await startSupervisor();
    t.supervisor.deploy(spec);
  });
  after(async () => {
    await t.supervisor.close();
  });

  it('pauseStore waits for in-flight requests, holds new ones, closes the store; resume lets them through', async () => {
    assert.deepEqual(json(await request(t.supervisor, 'api-st', '/set?key=a&value=1')), { ok: true });
    const slow = request(t.supervisor, 'api-st', '/slow?ms=300&key=slow&value=done');
    await delay(50);
    let slowDone = false;
    void slow.then(() => (slowDone = true));
    const resume = await t.supervisor.pauseStore('api-st');
    assert.equal(slowDone, true, 'the request in flight finished before the pause took effect');

    let heldAnswered = false;
    const held = request(t.supervisor, 'api-st', '/get?key=a');
    void held.then(() => (heldAnswered = true));
    await delay(200);
    assert.equal(heldAnswered, false, 'a request during the pause is held');

    // The handle is closed: the store's files can be replaced (here: removed) under the mim.
    for (const suffix of ['', '-wal', '-shm'])
      fs.rmSync(path.join(spec.dataDir, `store.db${suffix}`), { force: true });
    resume();
    assert.deepEqual(json(await held), { value: null }, 'reopened on the new (empty) store');
    assert.deepEqual(json(await request(t.supervisor, 'api-st', '/set?key=b&value=2')), { ok: true });
    assert.deepEqual(json(await request(t.supervisor, 'api-st', '/get?key=b')), { value: '2' });
  });

  it('a held request still has its deadline', async () => {
    t.supervisor.deploy(mimSpec('api-st-short', fixturePath('storage'), { timeoutMs: 300 }));
    const resume = await t.supervisor.pauseStore('api-st-short');
    const held = await request(t.supervisor, 'api-st-short', '/get?key=a');
    resume();
    assert.equal(held.error?.code, 'ERR_MIM_TIMEOUT');
    assert.deepEqual(json(await request(t.supervisor, 'api-st-short', '/get?key=a')), { value: null });
  });

  it('undeploy during a pause fails the held requests; an unknown mim pauses at once', async () => {
    t.supervisor.deploy(mimSpec('api-st-gone', fixturePath('storage')));
    const resume = await t.supervisor.pauseStore('api-st-gone');
    const held = request(t.supervisor, 'api-st-gone', '/get?key=a');
    await t.supervisor.undeploy('api-st-gone');
    assert.equal((await held).error?.code, 'ERR_MIM_NOT_FOUND');
    resume();
    (await t.supervisor.pauseStore('api-nosuch'))();
  });
});
