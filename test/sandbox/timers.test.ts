// Requests that finish later: immediates, timers (honouring delays), intervals streaming a body,
// promises; and the deadline when nothing ends the response.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixturePath, json, mimSpec, request, startSupervisor, type TestSupervisor } from './support.js';

describe('timers and streaming', () => {
  let t: TestSupervisor;

  before(async () => {
    t = await startSupervisor();
    t.supervisor.deploy(mimSpec('api-async', fixturePath('async'), { timeoutMs: 1000 }));
  });

  after(async () => {
    await t.supervisor.close();
  });

  it('answers from setImmediate, with its extra arguments', async () => {
    assert.deepEqual(json(await request(t.supervisor, 'api-async', '/immediate')), {
      via: 'immediate',
      args: ['x', 'y'],
    });
  });

  it('honours a setTimeout delay', async () => {
    const res = await request(t.supervisor, 'api-async', '/timeout');
    const body = json(res) as { elapsed: number };
    assert.ok(body.elapsed >= 49, `timer fired after ${body.elapsed} ms`);
    assert.ok(res.elapsedMs >= 49 && res.elapsedMs < 900, `answered after ${res.elapsedMs} ms`);
  });

  it('runs timers in due order and immediates first; cleared ones never', async () => {
    assert.deepEqual(json(await request(t.supervisor, 'api-async', '/order')), {
      order: ['immediate', 't5', 't20'],
    });
  });

  it('streams res.write chunks as they are written', async () => {
    const res = await request(t.supervisor, 'api-async', '/stream');
    assert.equal(res.error, undefined);
    assert.equal(res.headers?.['content-type'], 'text/plain');
    assert.ok(res.chunks.length >= 4, `${res.chunks.length} chunks`);
    const lines = res.body.trim().split('\n');
    assert.equal(lines.length, 5);
    assert.equal(lines[4], 'done');
    // Each write arrives on its own, about one interval after the previous one.
    const first = res.chunkTimes[0] ?? 0;
    const last = res.chunkTimes[res.chunkTimes.length - 1] ?? 0;
    assert.ok(last - first >= 90, `chunks spread over ${last - first} ms`);
  });

  it('answers from a promise callback', async () => {
    assert.deepEqual(json(await request(t.supervisor, 'api-async', '/promise')), { via: 'promise' });
  });

  it('streams writes made from promise callbacks, in order', async () => {
    const res = await request(t.supervisor, 'api-async', '/promise-stream');
    assert.equal(res.error, undefined);
    assert.equal(res.body, [1, 2, 3, 4, 5].map((n) => `piece ${n}\n`).join(''));
  });

  it('wakes for a timer set from a promise callback', async () => {
    const body = json(await request(t.supervisor, 'api-async', '/promise-timer')) as {
      via: string;
      elapsed: number;
    };
    assert.equal(body.via, 'timer set in a promise');
    assert.ok(body.elapsed >= 29, `timer fired after ${body.elapsed} ms`);
  });

  it('fails an unhandled promise rejection as an exception', async () => {
    const before = t.logs.length;
    const res = await request(t.supervisor, 'api-async', '/unhandled');
    assert.equal(res.error?.code, 'ERR_MIM_EXCEPTION');
    assert.ok(
      t.logs.slice(before).some((l) => l.level === 'error' && l.message.includes('nobody handles this')),
    );
  });

  it('fails with ERR_MIM_TIMEOUT when the response never ends', async () => {
    const res = await request(t.supervisor, 'api-async', '/never');
    assert.equal(res.error?.code, 'ERR_MIM_TIMEOUT');
    assert.ok(res.elapsedMs >= 950 && res.elapsedMs < 2000, `timed out after ${res.elapsedMs} ms`);
  });
});
