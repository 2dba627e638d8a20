import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestNode } from '../helpers/node-process.js';
import { fixtureImage } from '../helpers/fixtures.js';
import { unsignedJwt } from '../jsonrpc/support.js';

interface RpcAnswer {
  jsonrpc: string;
  id: unknown;
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
}

describe('Account Association JSON-RPC over HTTP', () => {
  let node: TestNode;
  let nodeId: string;

  before(async () => {
    node = await TestNode.start();
  });
  after(async () => {
    await node.stop();
  });

  async function post(body: string, key?: string, contentType = 'application/json'): Promise<Response> {
    const headers: Record<string, string> = { 'content-type': contentType };
    if (key !== undefined) headers['authorization'] = `Bearer ${key}`;
    return fetch(`${node.url}/jsonrpc/v1`, { method: 'POST', headers, body });
  }

  async function rpc(method: string, params: unknown[], key?: string): Promise<RpcAnswer> {
    const res = await post(JSON.stringify({ jsonrpc: '2.0', method, params, id: 1 }), key);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    return (await res.json()) as RpcAnswer;
  }

  const inAMinute = (): number => Math.floor(Date.now() / 1000) + 60;

  it('answers getMe without a key', async () => {
    const res = await fetch(`${node.url}/jsonrpc/v1`, {
      method: 'POST',
      // mimOE's own curl examples send no content type at all, and `"params": [""]`.
      body: '{"jsonrpc": "2.0", "method": "getMe", "params": [""], "id": "1"}',
    });
    assert.equal(res.status, 200);
    const answer = (await res.json()) as RpcAnswer;
    assert.equal(answer.id, '1');
    const me = answer.result as {
      nodeId: string;
      nodeName: string;
      name: string;
      accountId: string;
      version: string;
    };
    assert.match(me.nodeId, /^[0-9a-f-]{36}$/);
    assert.ok(me.nodeName.length > 0);
    assert.equal(me.name, me.nodeName);
    assert.equal(me.accountId, '');
    assert.match(me.version, /^\d+\.\d+\.\d+/);
    const health = (await (await fetch(`${node.url}/healthz`)).json()) as { nodeId: string };
    assert.equal(me.nodeId, health.nodeId);
    nodeId = me.nodeId;
  });

  it('answers a body that is not JSON with -32700 (HTTP 200)', async () => {
    for (const body of ['{"jsonrpc":"2.0","method":', '', 'getMe']) {
      const res = await post(body);
      assert.equal(res.status, 200, JSON.stringify(body));
      const answer = (await res.json()) as RpcAnswer;
      assert.deepEqual([answer.id, answer.error?.code], [null, -32700]);
    }
  });

  it('answers an invalid request with -32600', async () => {
    for (const body of [
      '42',
      '[]',
      '{"jsonrpc":"1.0","method":"getMe","id":1}',
      '{"jsonrpc":"2.0","method":"getMe","id":{}}',
    ]) {
      const answer = (await (await post(body)).json()) as RpcAnswer;
      assert.equal(answer.error?.code, -32600, body);
    }
  });

  it('answers an unknown method with -32601', async () => {
    const answer = await rpc('getEdgeIdTokenX', [], node.accountKey);
    assert.equal(answer.error?.code, -32601);
  });

  it('answers a wrong or missing key with -32001 in an HTTP 200 answer', async () => {
    const token = unsignedJwt({ sub: 'acct-1' });
    for (const key of [undefined, 'wrong', node.mcmKey]) {
      const answer = await rpc('associateAccount', [token], key);
      assert.equal(answer.error?.code, -32001, String(key));
      assert.match(answer.error?.message ?? '', /ACCOUNT_API_KEY/);
    }
    const mint = ['', inAMinute(), nodeId, '/mcm/v1/images/api-x/tarball'];
    assert.equal((await rpc('getEdgeHmacCode', mint)).error?.code, -32001);
    assert.equal((await rpc('getEdgeHmacCode', mint, 'wrong')).error?.code, -32001);
    // The node's log reaches us over a pipe, possibly after the answer: wait for it a little.
    for (let i = 0; i < 40 && !node.logs.some((l) => l.msg.startsWith('JSON-RPC calls refused')); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(node.logs.some((l) => l.msg.startsWith('JSON-RPC calls refused')));
  });

  it('mints a code with the account key or the MCM key', async () => {
    const mint = ['', inAMinute(), nodeId, '/mcm/v1/images/api-x/tarball'];
    for (const key of [node.accountKey, node.mcmKey]) {
      const answer = await rpc('getEdgeHmacCode', mint, key);
      assert.match(String(answer.result?.['edgeHmacCode']), /^\d+\.[A-Za-z0-9_-]{43}$/);
    }
  });

  it("lets a mim on this node mint a code over loopback without a key, and nobody else by the node's mark", async () => {
    assert.equal((await node.upload(await fixtureImage('outbound', 'outbound-img'))).status, 200);
    assert.equal(
      (await node.deploy('caller', 'outbound-img', { 'MCM.BASE_API_PATH': '/caller/v1' })).status,
      201,
    );
    const body = JSON.stringify({
      jsonrpc: '2.0',
      method: 'getEdgeHmacCode',
      params: ['', inAMinute(), nodeId, '/mcm/v1/images/api-outbound-img/tarball'],
      id: 7,
    });
    const viaMim = (await (
      await fetch(
        `${node.url}/api/caller/v1/node?path=${encodeURIComponent('/jsonrpc/v1')}&type=POST&data=${encodeURIComponent(body)}`,
      )
    ).json()) as { status: number; data: string };
    assert.equal(viaMim.status, 200);
    const answer = JSON.parse(viaMim.data) as RpcAnswer;
    assert.match(String(answer.result?.['edgeHmacCode']), /^\d+\.[A-Za-z0-9_-]{43}$/);

    // A mim acts for its own client: no codes for another client's image.
    assert.equal(
      (await node.upload(await fixtureImage('hello-router', 'theirs-v1'), { 'x-client-id': 'other' })).status,
      200,
    );
    const foreign = body.replace(
      '/mcm/v1/images/api-outbound-img/tarball',
      '/mcm/v1/images/other-theirs-v1/tarball',
    );
    const refused = (await (
      await fetch(
        `${node.url}/api/caller/v1/node?path=${encodeURIComponent('/jsonrpc/v1')}&type=POST&data=${encodeURIComponent(foreign)}`,
      )
    ).json()) as { status: number; data: string };
    assert.equal((JSON.parse(refused.data) as RpcAnswer).error?.code, -32001);

    // The mark cannot be forged from outside, and a mim never sees it on a request it receives.
    for (const forged of ['api-caller.AAAA', 'api-caller', '']) {
      const res = await fetch(`${node.url}/jsonrpc/v1`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-mimoe-origin': forged },
        body,
      });
      assert.equal(((await res.json()) as RpcAnswer).error?.code, -32001, forged);
    }
    const seen = (await (
      await fetch(`${node.url}/api/caller/v1/node?path=${encodeURIComponent('/api/caller/v1/headers')}`)
    ).json()) as { status: number; data: string };
    assert.equal(seen.status, 200);
    assert.equal((JSON.parse(seen.data) as Record<string, string>)['x-mimoe-origin'], undefined);
  });

  it('answers bad params with -32602: wrong node id, past or far expiry, unknown resource, non-JWT token', async () => {
    const resource = '/mcm/v1/images/api-x/tarball';
    const now = Math.floor(Date.now() / 1000);
    for (const [params, message] of [
      [['', inAMinute(), '00000000-0000-0000-0000-000000000000', resource], /nodeId/],
      [['', now - 1, nodeId, resource], /future/],
      [['', now + 8 * 86_400, nodeId, resource], /7 days/],
      [['', inAMinute(), nodeId, '/mcm/v1/mims'], /resource/],
      [['', inAMinute(), nodeId], /expected 4/],
    ] as const) {
      const answer = await rpc('getEdgeHmacCode', [...params], node.accountKey);
      assert.equal(answer.error?.code, -32602, JSON.stringify(params));
      assert.match(answer.error?.message ?? '', message);
    }
    const notJwt = await rpc('associateAccount', ['opaque-token'], node.accountKey);
    assert.equal(notJwt.error?.code, -32602);
    const named = (await (
      await post(JSON.stringify({ jsonrpc: '2.0', method: 'getMe', params: { a: 1 }, id: 2 }))
    ).json()) as RpcAnswer;
    assert.equal(named.error?.code, -32602);
  });

  it('records the account on associateAccount and clears it on unassociateAccount; running mims see it', async () => {
    const token = unsignedJwt({ sub: 'acct-42', exp: inAMinute() });
    const associated = await rpc('associateAccount', [token], node.accountKey);
    assert.deepEqual(associated.result, { nodeId, accountId: 'acct-42' });
    assert.equal((await rpc('getMe', [])).result?.['accountId'], 'acct-42');

    assert.equal((await node.upload(await fixtureImage('hello-router', 'hello-v1'))).status, 200);
    assert.equal((await node.deploy('hello', 'hello-v1', { 'MCM.BASE_API_PATH': '/hello/v1' })).status, 201);
    const echo = (await (await fetch(`${node.url}/api/hello/v1/echo`)).json()) as {
      info: { accountId: string };
    };
    assert.equal(echo.info.accountId, 'acct-42');

    const cleared = await rpc('unassociateAccount', [token], node.accountKey);
    assert.deepEqual(cleared.result, { nodeId, accountId: '' });
    assert.equal((await rpc('getMe', [])).result?.['accountId'], '');
    // A mim already running sees the change on its next request.
    const after = (await (await fetch(`${node.url}/api/hello/v1/echo`)).json()) as {
      info: { accountId: string };
    };
    assert.equal(after.info.accountId, '');
  });

  it('answers notifications with 204 and no body, and batches with an array', async () => {
    const note = await post('{"jsonrpc":"2.0","method":"getMe"}');
    assert.equal(note.status, 204);
    assert.equal(await note.text(), '');
    const batch = await post(
      JSON.stringify([
        { jsonrpc: '2.0', method: 'getMe', id: 1 },
        { jsonrpc: '2.0', method: 'getMe' },
        { jsonrpc: '2.0', method: 'nope', id: 2 },
      ]),
    );
    const answers = (await batch.json()) as RpcAnswer[];
    assert.deepEqual(
      answers.map((a) => [a.id, a.error?.code ?? 'ok']),
      [
        [1, 'ok'],
        [2, -32601],
      ],
    );
    const tooMany = JSON.stringify(
      Array.from({ length: 33 }, (_, i) => ({ jsonrpc: '2.0', method: 'getMe', id: i })),
    );
    assert.equal(((await (await post(tooMany)).json()) as RpcAnswer).error?.code, -32600);
  });

  it('refuses a body past 64 KiB with 413 and serves only POST', async () => {
    const big = await post(
      JSON.stringify({ jsonrpc: '2.0', method: 'getMe', id: 1, pad: 'x'.repeat(70_000) }),
    );
    assert.equal(big.status, 413);
    assert.equal(((await big.json()) as { error: string }).error, 'ERR_BODY_TOO_LARGE');
    const get = await fetch(`${node.url}/jsonrpc/v1`);
    assert.equal(get.status, 404);
  });

  it('logs neither keys nor tokens', () => {
    const all = JSON.stringify(node.logs);
    assert.ok(!all.includes(node.accountKey));
    assert.ok(!all.includes(node.mcmKey));
    // Account tokens are JWTs: their base64url JSON header starts with eyJ.
    assert.ok(!all.includes('eyJ'));
  });
});
