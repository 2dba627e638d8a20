import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestNode } from '../helpers/node-process.js';

describe('MCM API authentication and client scoping', () => {
  let node: TestNode;
  before(async () => {
    node = await TestNode.start();
  });
  after(async () => {
    await node.stop();
  });

  for (const [label, headers] of [
    ['no Authorization header', {}],
    ['a wrong key', { authorization: 'Bearer not-the-key' }],
    ['the key with another scheme', { authorization: '' }],
    ['an empty bearer', { authorization: 'Bearer ' }],
  ] as const) {
    it(`answers 403 with a JSON error for ${label}`, async () => {
      const h: Record<string, string> = { ...headers };
      if (label === 'the key with another scheme') h['authorization'] = `Basic ${node.mcmKey}`;
      const res = await node.mcm('GET', '/images', { auth: false, headers: h });
      assert.equal(res.status, 403);
      const body = (await res.json()) as { code: number; error: string; message: string };
      assert.equal(body.code, 403);
      assert.equal(body.error, 'ERR_UNAUTHORIZED');
      assert.ok(res.headers.get('x-request-id'));
    });
  }

  it('accepts the key from the key file', async () => {
    const res = await node.mcm('GET', '/images');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { data: [] });
  });

  it('protects every MCM route, including unknown ones under the mims resource', async () => {
    for (const [method, p] of [
      ['POST', '/images'],
      ['DELETE', '/images/x'],
      ['GET', '/mims'],
      ['POST', '/mims'],
      ['DELETE', '/mims/x'],
      ['GET', '/containers'],
      ['POST', '/mims/x/dataStore'],
    ] as const) {
      const res = await node.mcm(method, p, { auth: false });
      assert.equal(res.status, 403, `${method} ${p}`);
    }
  });

  it('refuses an invalid or reserved x-client-id with 400', async () => {
    for (const id of ['has space', '../x', 'mcm', 'a/b', 'x'.repeat(200)]) {
      const res = await node.mcm('GET', '/images', { headers: { 'x-client-id': id } });
      assert.equal(res.status, 400, id);
      assert.equal(((await res.json()) as { error: string }).error, 'ERR_CLIENT_ID_INVALID');
    }
  });

  it('serves health and metrics without a key, and leaks nothing secret', async () => {
    const health = await fetch(`${node.url}/healthz`);
    assert.equal(health.status, 200);
    const h = (await health.json()) as { status: string };
    assert.equal(h.status, 'ok');
    const metrics = await (await fetch(`${node.url}/metrics`)).text();
    assert.match(metrics, /mimoe_http_responses_total/);
    assert.ok(!metrics.includes(node.mcmKey));
  });

  it('never logs the key', () => {
    const all = JSON.stringify(node.logs);
    assert.ok(!all.includes(node.mcmKey));
    assert.ok(!all.includes(node.accountKey));
  });

  it('answers malformed JSON with 400 and an unknown route with 404, both JSON', async () => {
    const bad = await node.mcm('POST', '/mims', {
      body: '{"name":',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { code: number }).code, 400);
    const missing = await fetch(`${node.url}/nowhere/at/all`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { code: number }).code, 404);
  });

  it('answers an oversized JSON body with 413', async () => {
    const res = await node.mcm('POST', '/mims', {
      body: JSON.stringify({ name: 'x', image: 'y', env: { big: 'x'.repeat(2 * 1024 * 1024) } }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { error: string }).error, 'ERR_BODY_TOO_LARGE');
  });
});
