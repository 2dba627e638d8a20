import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { openNodeDb, getMeta, type Db } from '../../src/state/node-db.js';
import {
  EdgeHmac,
  JsonRpcServer,
  RPC_ERRORS,
  accountMethods,
  nodeIdentityStore,
  tarballResource,
  type Caller,
  type RpcResponse,
} from '../../src/jsonrpc/index.js';
import { tempDir } from '../helpers/node-process.js';
import { unsignedJwt } from './support.js';

const NOW = 1_800_000_000;
const keys = { accountApiKey: 'account-key-0123456789', mcmApiKey: 'mcm-key-0123456789' };
const anonymous: Caller = { bearer: undefined, fromLocalMim: false };
const account: Caller = { bearer: keys.accountApiKey, fromLocalMim: false };
const mcm: Caller = { bearer: keys.mcmApiKey, fromLocalMim: false };
const localMim: Caller = { bearer: undefined, fromLocalMim: true, localMimClient: 'api' };
/** A mim of another client: it may not mint codes for client api's images. */
const otherMim: Caller = { bearer: undefined, fromLocalMim: true, localMimClient: 'other' };

type Single = Extract<RpcResponse, object>;

describe('JSON-RPC server and the account methods', () => {
  let dir: string;
  let db: Db;
  let server: JsonRpcServer;
  let hmac: EdgeHmac;
  const internalErrors: string[] = [];

  before(() => {
    dir = tempDir();
    db = openNodeDb(dir);
    const identity = nodeIdentityStore(db, () => 'test-host');
    hmac = new EdgeHmac(
      () => identity.hmacSecret(),
      () => NOW,
    );
    const methods = new Map(
      accountMethods({
        nodeId: 'node-1',
        version: '9.9.9',
        identity,
        hmac,
        // Images of client api exist; nothing else does.
        imageOwner: (id) => (id.startsWith('api-') ? 'api' : undefined),
      }),
    );
    methods.set('boom', {
      access: 'public',
      call: () => {
        throw new Error('secret detail');
      },
    });
    server = new JsonRpcServer({
      keys,
      methods,
      maxBatch: 4,
      onInternalError: (_err, method) => internalErrors.push(method),
    });
  });
  after(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function call(body: unknown, caller: Caller = anonymous): Promise<Single> {
    const answer = await server.handle(typeof body === 'string' ? body : JSON.stringify(body), caller);
    assert.ok(answer !== undefined && !Array.isArray(answer), 'one response expected');
    return answer;
  }

  function req(method: string, params?: unknown, id: unknown = 1): Record<string, unknown> {
    return { jsonrpc: '2.0', method, id, ...(params === undefined ? {} : { params }) };
  }

  function errorCode(answer: Single): number | undefined {
    return 'error' in answer ? answer.error.code : undefined;
  }

  it('answers getMe without a key, whatever params it is given', async () => {
    for (const params of [undefined, [], ['']]) {
      const answer = await call(req('getMe', params, 'a'));
      assert.deepEqual(answer, {
        jsonrpc: '2.0',
        id: 'a',
        result: {
          nodeId: 'node-1',
          nodeName: 'test-host',
          name: 'test-host',
          accountId: '',
          version: '9.9.9',
        },
      });
    }
  });

  it('answers a body that is not JSON with -32700 and id null', async () => {
    for (const body of ['', '{', '{"jsonrpc":"2.0",}', 'getMe']) {
      const answer = await call(body);
      assert.equal(errorCode(answer), RPC_ERRORS.PARSE_ERROR, body);
      assert.equal(answer.id, null);
    }
  });

  it('answers malformed requests with -32600', async () => {
    const cases: [unknown, unknown][] = [
      [42, null],
      ['"text"', null],
      [null, null],
      [{ method: 'getMe', id: 1 }, 1],
      [{ jsonrpc: '1.0', method: 'getMe', id: 2 }, 2],
      [{ jsonrpc: 2, method: 'getMe', id: 3 }, 3],
      [{ jsonrpc: '2.0', id: 4 }, 4],
      [{ jsonrpc: '2.0', method: '', id: 5 }, 5],
      [{ jsonrpc: '2.0', method: 7, id: 6 }, 6],
      [{ jsonrpc: '2.0', method: 'getMe', params: 'x', id: 7 }, 7],
      [{ jsonrpc: '2.0', method: 'getMe', id: { a: 1 } }, null],
      [{ jsonrpc: '2.0', method: 'getMe', id: [1] }, null],
      [{ jsonrpc: '2.0', method: 'getMe', id: true }, null],
      [{ jsonrpc: '2.0', method: 'getMe', id: 'x'.repeat(257) }, null],
      [[], null],
    ];
    for (const [body, id] of cases) {
      const answer = await call(typeof body === 'string' ? body : JSON.stringify(body));
      assert.equal(errorCode(answer), RPC_ERRORS.INVALID_REQUEST, JSON.stringify(body));
      assert.equal(answer.id, id, JSON.stringify(body));
    }
  });

  it('answers an unknown method with -32601, including names from Object.prototype', async () => {
    for (const method of ['nope', 'toString', '__proto__', 'constructor', 'getme']) {
      assert.equal(errorCode(await call(req(method, [], 9), account)), RPC_ERRORS.METHOD_NOT_FOUND, method);
    }
  });

  it('refuses named params with -32602', async () => {
    const answer = await call(req('getMe', { a: 1 }));
    assert.equal(errorCode(answer), RPC_ERRORS.INVALID_PARAMS);
  });

  it('answers -32001 to protected methods without the right key', async () => {
    const token = unsignedJwt({ sub: 'acct-1' });
    for (const caller of [anonymous, mcm, localMim, { bearer: 'wrong', fromLocalMim: false }]) {
      for (const method of ['associateAccount', 'unassociateAccount']) {
        const answer = await call(req(method, [token]), caller);
        assert.equal(errorCode(answer), RPC_ERRORS.UNAUTHORIZED, `${method} ${String(caller.bearer)}`);
        assert.match('error' in answer ? answer.error.message : '', /ACCOUNT_API_KEY/);
      }
    }
    const mint = req('getEdgeHmacCode', ['', NOW + 60, 'node-1', tarballResource('api-x')]);
    for (const caller of [
      anonymous,
      { bearer: 'wrong', fromLocalMim: false },
      { bearer: '', fromLocalMim: false },
    ]) {
      assert.equal(errorCode(await call(mint, caller)), RPC_ERRORS.UNAUTHORIZED);
    }
    assert.equal(getMeta(db, 'accountId'), undefined);
  });

  it('mints codes for the account key, the MCM key and local mims, valid for the resource', async () => {
    const resource = tarballResource('api-x');
    for (const caller of [account, mcm, localMim]) {
      const answer = await call(req('getEdgeHmacCode', ['token', NOW + 60, 'node-1', resource]), caller);
      assert.ok('result' in answer, JSON.stringify(answer));
      const { edgeHmacCode } = answer.result as { edgeHmacCode: string };
      assert.equal(hmac.check(edgeHmacCode, resource), 'ok');
      assert.equal(hmac.check(edgeHmacCode, tarballResource('api-y')), 'invalid');
    }
    // A mim acts for its own client: no codes for other clients' images, nor for unknown ones.
    const refused = await call(req('getEdgeHmacCode', ['token', NOW + 60, 'node-1', resource]), otherMim);
    assert.equal(errorCode(refused), RPC_ERRORS.UNAUTHORIZED);
    const unknown = tarballResource('other-x');
    assert.equal(
      errorCode(await call(req('getEdgeHmacCode', ['token', NOW + 60, 'node-1', unknown]), localMim)),
      RPC_ERRORS.UNAUTHORIZED,
    );
    // A string of digits is read as the same expiry.
    const asString = await call(req('getEdgeHmacCode', ['', String(NOW + 60), 'node-1', resource]), account);
    assert.ok('result' in asString);
    // ...but only in its one spelling: no leading zeros.
    const padded = await call(req('getEdgeHmacCode', ['', `0${NOW + 60}`, 'node-1', resource]), account);
    assert.equal(errorCode(padded), RPC_ERRORS.INVALID_PARAMS);
    // Milliseconds as a string are told as such, like milliseconds as a number.
    const millis = await call(req('getEdgeHmacCode', ['', `${NOW + 60}000`, 'node-1', resource]), account);
    assert.match(JSON.stringify(millis), /seconds, not milliseconds/);
  });

  it('keeps the HMAC secret in node.db: a second store on the same db makes the same codes', () => {
    const again = new EdgeHmac(
      () => nodeIdentityStore(db).hmacSecret(),
      () => NOW,
    );
    const resource = tarballResource('api-x');
    assert.equal(again.mint(resource, NOW + 5), hmac.mint(resource, NOW + 5));
    assert.equal(Buffer.from(getMeta(db, 'edgeHmacSecret') ?? '', 'base64url').length, 32);
  });

  it('validates getEdgeHmacCode params with -32602', async () => {
    const resource = tarballResource('api-x');
    const cases: [unknown[], RegExp][] = [
      [[], /expected 4 positional params/],
      [['', NOW + 60, 'node-1'], /expected 4/],
      [['', NOW + 60, 'node-1', resource, 'extra'], /expected 4/],
      [[7, NOW + 60, 'node-1', resource], /token/],
      [['', NOW, 'node-1', resource], /not in the future/],
      [['', NOW - 10, 'node-1', resource], /not in the future/],
      [['', NOW + 604_801, 'node-1', resource], /7 days/],
      [['', (NOW + 60) * 1000, 'node-1', resource], /milliseconds/],
      [['', NOW + 60.5, 'node-1', resource], /integer/],
      [['', '1e12', 'node-1', resource], /integer/],
      [['', null, 'node-1', resource], /integer/],
      [['', NOW + 60, 'node-2', resource], /nodeId/],
      [['', NOW + 60, 7, resource], /nodeId/],
      [['', NOW + 60, 'node-1', '/mcm/v1/mims/api-x'], /resource/],
      [['', NOW + 60, 'node-1', 42], /resource/],
    ];
    for (const [params, message] of cases) {
      const answer = await call(req('getEdgeHmacCode', params), account);
      assert.equal(errorCode(answer), RPC_ERRORS.INVALID_PARAMS, JSON.stringify(params));
      assert.match('error' in answer ? answer.error.message : '', message, JSON.stringify(params));
    }
  });

  it('associates and unassociates an account, reflected in getMe and the meta table', async () => {
    const token = unsignedJwt({ sub: 'acct-1', exp: NOW + 3600 });
    assert.deepEqual(await call(req('associateAccount', [token]), account), {
      jsonrpc: '2.0',
      id: 1,
      result: { nodeId: 'node-1', accountId: 'acct-1' },
    });
    const me = await call(req('getMe'));
    assert.equal('result' in me && (me.result as { accountId: string }).accountId, 'acct-1');
    assert.equal(getMeta(db, 'accountId'), 'acct-1');

    const other = await call(req('unassociateAccount', [unsignedJwt({ sub: 'acct-2' })]), account);
    assert.equal(errorCode(other), RPC_ERRORS.INVALID_PARAMS);
    assert.equal(getMeta(db, 'accountId'), 'acct-1');

    const done = await call(req('unassociateAccount', [token]), account);
    assert.deepEqual('result' in done && done.result, { nodeId: 'node-1', accountId: '' });
    assert.equal(getMeta(db, 'accountId'), undefined);
    const meAfter = await call(req('getMe'));
    assert.equal('result' in meAfter && (meAfter.result as { accountId: string }).accountId, '');
    // Unassociating a node with no account is not an error.
    assert.ok('result' in (await call(req('unassociateAccount', [token]), account)));
  });

  it('refuses an account token that is not a JWT with -32602 and records nothing', async () => {
    for (const params of [['not-a-jwt'], [], [unsignedJwt({ sub: 'a' }), 'extra'], [unsignedJwt({})]]) {
      const answer = await call(req('associateAccount', params), account);
      assert.equal(errorCode(answer), RPC_ERRORS.INVALID_PARAMS, JSON.stringify(params));
    }
    assert.equal(getMeta(db, 'accountId'), undefined);
  });

  it('gives no answer to notifications, but runs them', async () => {
    assert.equal(
      await server.handle(JSON.stringify({ jsonrpc: '2.0', method: 'getMe' }), anonymous),
      undefined,
    );
    assert.equal(
      await server.handle(JSON.stringify({ jsonrpc: '2.0', method: 'nope' }), anonymous),
      undefined,
    );
    const token = unsignedJwt({ sub: 'acct-n' });
    const body = JSON.stringify({ jsonrpc: '2.0', method: 'associateAccount', params: [token] });
    assert.equal(await server.handle(body, account), undefined);
    assert.equal(getMeta(db, 'accountId'), 'acct-n');
    // Unauthorised notifications do nothing, silently.
    const clear = JSON.stringify({ jsonrpc: '2.0', method: 'unassociateAccount', params: [token] });
    assert.equal(await server.handle(clear, anonymous), undefined);
    assert.equal(getMeta(db, 'accountId'), 'acct-n');
    assert.equal(await server.handle(clear, account), undefined);
    assert.equal(getMeta(db, 'accountId'), undefined);
  });

  it('answers batches in order, leaving out notifications, and bounds their size', async () => {
    const answer = await server.handle(
      JSON.stringify([req('getMe', [], 1), { jsonrpc: '2.0', method: 'getMe' }, 5, req('nope', [], 'z')]),
      anonymous,
    );
    assert.ok(Array.isArray(answer));
    assert.deepEqual(
      answer.map((a) => [a.id, 'error' in a ? a.error.code : 'ok']),
      [
        [1, 'ok'],
        [null, RPC_ERRORS.INVALID_REQUEST],
        ['z', RPC_ERRORS.METHOD_NOT_FOUND],
      ],
    );
    const notes = JSON.stringify([
      { jsonrpc: '2.0', method: 'getMe' },
      { jsonrpc: '2.0', method: 'getMe' },
    ]);
    assert.equal(await server.handle(notes, anonymous), undefined);
    const tooMany = await call(JSON.stringify(Array.from({ length: 5 }, (_, i) => req('getMe', [], i))));
    assert.equal(errorCode(tooMany), RPC_ERRORS.INVALID_REQUEST);
    assert.match('error' in tooMany ? tooMany.error.message : '', /at most 4/);
  });

  it('answers an unexpected failure with a bare -32603 and reports it', async () => {
    const answer = await call(req('boom', [], 3));
    assert.deepEqual(answer, { jsonrpc: '2.0', id: 3, error: { code: -32603, message: 'internal error' } });
    assert.deepEqual(internalErrors, ['boom']);
  });
});
