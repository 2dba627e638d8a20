// context.storage through real mims over HTTP (runtime.md §3): every method with its edge cases,
// isolation between mims and clients, persistence across restarts, removal with the mim.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestNode, tempDir } from '../helpers/node-process.js';
import { deployStorageMim, getJson, mimUrl, okOps, ops } from '../helpers/storage-mim.js';

describe('context.storage: the DataStore contract through a mim', () => {
  let node: TestNode;
  let base: string;
  before(async () => {
    node = await TestNode.start();
    await deployStorageMim(node, 'store');
    await deployStorageMim(node, 'iter');
    base = mimUrl(node, 'store');
  });
  after(async () => {
    await node.stop();
  });

  it('getItem is null when absent; setItem inserts and replaces; removeItem is quiet when absent', async () => {
    assert.deepEqual(
      await okOps(base, [
        ['getItem', 'basic'],
        ['setItem', 'basic', 'one'],
        ['getItem', 'basic'],
        ['setItem', 'basic', 'two'],
        ['getItem', 'basic'],
        ['removeItem', 'basic'],
        ['removeItem', 'basic'],
        ['getItem', 'basic'],
      ]),
      [null, null, 'one', null, 'two', null, null, null],
    );
  });

  it('stores values as strings: numbers, booleans, null and objects go through String()', async () => {
    assert.deepEqual(
      await okOps(base, [
        ['setItem', 'n', 42],
        ['getItem', 'n'],
        ['setItem', 'b', false],
        ['getItem', 'b'],
        ['setItem', 'z', null],
        ['getItem', 'z'],
        ['setItem', 'o', { a: 1 }],
        ['getItem', 'o'],
        ['objectValue', 'custom-to-string'],
        ['setItem', 7, 'numeric key'],
        ['getItem', '7'],
      ]),
      [null, '42', null, 'false', null, 'null', null, '[object Object]', 'custom', null, 'numeric key'],
    );
  });

  it('keeps empty strings and unicode keys and values exactly', async () => {
    const keys = ['', 'é', 'ключ', '键', '🔑 emoji', 'e\u0301 combining', 'tab\tnew\nline', 'a'.repeat(2000)];
    const sets = keys.map((k, i) => ['setItem', k, i === 0 ? '' : `${k}→值😀`]);
    const gets = keys.map((k) => ['getItem', k]);
    const values = await okOps(base, [...sets, ...gets]);
    assert.deepEqual(
      values.slice(keys.length),
      keys.map((k, i) => (i === 0 ? '' : `${k}→值😀`)),
    );
    // '' is a real key, distinct from a missing one.
    assert.deepEqual(
      await okOps(base, [
        ['getItem', ''],
        ['removeItem', ''],
        ['getItem', ''],
      ]),
      ['', null, null],
    );
  });

  it('refuses keys that cannot be stored faithfully with a TypeError the mim catches', async () => {
    const results = await ops(base, [
      ['undefinedKey', 'setItem'],
      ['undefinedKey', 'getItem'],
      ['objectKey', 'setItem'],
      ['setItem', 'lone \ud800 surrogate', 'x'],
      ['raw', 'setItemWithTag', 'k', 'v'],
      ['raw', 'eachItem', 'not a function'],
      ['raw', 'eachItemByTag', 't'],
      ['raw', 'getJsonItemsPaginated', -1, 10],
      ['raw', 'getJsonItemsPaginated', 0, 10, 'no callback'],
      [
        'getJsonItemsPaginated',
        0,
        10,
        { filters: [{ jsonPath: 'a[0]', comparisonOperator: '=', value: 1 }] },
      ],
      ['getJsonItemsPaginated', 0, 10, { filters: [{ jsonPath: '$.a', comparisonOperator: '~', value: 1 }] }],
      ['getJsonItemsPaginated', 0, 10, { orderBy: [{ jsonPath: '$.a', order: 2 }] }],
      ['functionOption'],
      ['raw', 'saveFile', 'f.txt', 12],
      ['raw', 'deleteFile', { path: 'x' }],
    ]);
    for (const [i, r] of results.entries()) {
      assert.equal(r.error?.isTypeError, true, `call ${i} threw a TypeError: ${JSON.stringify(r)}`);
      assert.ok((r.error?.message.length ?? 0) > 5, `call ${i} says why`);
    }
    assert.match(results[0]?.error?.message ?? '', /setItem: the key is missing/);
    assert.match(results[3]?.error?.message ?? '', /surrogate/);
    assert.match(results[5]?.error?.message ?? '', /eachItem: the callback must be a function/);
  });

  it('has no methods beyond the contract: calling an absent one is a TypeError, not a crash', async () => {
    for (const name of ['getItemsByTag', 'deleteItemsByTag', 'lockExecute']) {
      const { status, body } = await getJson(`${base}/absent?name=${name}`);
      assert.equal(status, 400);
      assert.equal((body as { error: { isTypeError: boolean } }).error.isTypeError, true, name);
    }
    assert.deepEqual(await okOps(base, [['getItem', 'still-works']]), [null]);
  });

  it('round-trips a 1 MB value, and iterates over it', async () => {
    const big = 'ü'.repeat(512 * 1024); // 1 MiB of UTF-8
    const [, got] = await okOps(base, [
      ['setItem', 'big', big],
      ['getItem', 'big'],
    ]);
    assert.equal(got, big);
    const [items] = (await okOps(base, [['eachItem']])) as [Array<[string, string]>];
    assert.equal(items.find(([k]) => k === 'big')?.[1], big);
    await okOps(base, [['removeItem', 'big']]);
  });

  it('iterates every item in insertion order; a replaced value keeps its place, a re-added key moves last', async () => {
    const iter = mimUrl(node, 'iter');
    await okOps(iter, [
      ['setItem', 'c', '1'],
      ['setItemWithTag', 'a', '2', 't'],
      ['setItem', 'b', '3'],
      ['setItem', 'c', '1b'],
      ['removeItem', 'a'],
      ['setItem', 'a', '4'],
    ]);
    const [all] = await okOps(iter, [['eachItem']]);
    assert.deepEqual(all, [
      ['c', '1b'],
      ['b', '3'],
      ['a', '4'],
    ]);
    await okOps(iter, [
      ['removeItem', 'a'],
      ['removeItem', 'b'],
      ['removeItem', 'c'],
    ]);
    assert.deepEqual(await okOps(iter, [['eachItem']]), [[]]);
  });

  it('tags: setItemWithTag replaces an older tag, setItem keeps it, eachItemByTag and removeItemsByTag see only the tag', async () => {
    const results = await okOps(base, [
      ['setItemWithTag', 'm1', 'hello', 'chat-1'],
      ['setItemWithTag', 'm2', 'world', 'chat-1'],
      ['setItemWithTag', 'm3', 'other', 'chat-2'],
      ['setItemWithTag', 'm1', 'hello again', 'chat-2'],
      ['setItem', 'm2', 'world!'],
      ['eachItemByTag', 'chat-1'],
      ['eachItemByTag', 'chat-2'],
      ['eachItemByTag', 'no-such-tag'],
      ['setItemWithTag', 'e', 'empty tag', ''],
      ['eachItemByTag', ''],
      ['removeItemsByTag', 'chat-2'],
      ['getItem', 'm1'],
      ['getItem', 'm3'],
      ['getItem', 'm2'],
      ['removeItemsByTag', 'chat-1'],
      ['removeItemsByTag', ''],
      ['removeItemsByTag', 'never-used'],
    ]);
    assert.deepEqual(results[5], [['m2', 'world!']]);
    assert.deepEqual(results[6], [
      ['m1', 'hello again'],
      ['m3', 'other'],
    ]);
    assert.deepEqual(results[7], []);
    assert.deepEqual(results[9], [['e', 'empty tag']]);
    assert.deepEqual(results.slice(11, 14), [null, null, 'world!']);
  });

  it('lets an iteration callback write: removed items are skipped, replaced values seen, new items not visited', async () => {
    const { status, body } = await getJson(`${mimUrl(node, 'iter')}/iterate-writing`);
    assert.equal(status, 200);
    assert.deepEqual(body, {
      visited: ['w1=v1', 'w2=changed', 'w4=v4', 'w5=v5'],
      all: ['w1=v1', 'w2=changed', 'w4=v4', 'w5=v5', 'w6=new'],
      after: ['w1=v1!', 'w2=changed!', 'w4=v4!', 'w5=v5!', 'w6=new!'],
    });
  });

  it('getJsonItemsPaginated: pages of parsed JSON values, filtered, ordered, with totalCount', async () => {
    const people = [
      { name: 'ann', age: 31, city: 'Oslo', admin: true, ts: 5 },
      { name: 'bob', age: 25, city: 'Lima', admin: false, ts: 3 },
      { name: 'cid', age: 42, city: 'Oslo', admin: false, ts: 9 },
      { name: 'dee', age: 25, city: 'Kyiv', admin: true, ts: 1, extra: null },
      { name: 'eve', age: 37, city: 'Lima', admin: false, ts: 7 },
    ];
    await okOps(base, [
      ...people.map((p) => ['setItemWithTag', `person-${p.name}`, JSON.stringify(p), 'people']),
      ['setItemWithTag', 'not-json', 'plain text {', 'people'],
      ['setItem', 'untagged-json', JSON.stringify({ name: 'zed', age: 99 })],
    ]);
    const page = async (offset: number, limit: number, options: unknown) => {
      const [r] = (await okOps(base, [['getJsonItemsPaginated', offset, limit, options]])) as [
        { items: Array<{ name: string }>; totalCount: number; isArray: boolean },
      ];
      assert.equal(r.isArray, true, 'items is an array');
      return { names: r.items.map((i) => i.name), total: r.totalCount };
    };
    assert.deepEqual(await page(0, 10, { tag: 'people' }), {
      names: ['ann', 'bob', 'cid', 'dee', 'eve'],
      total: 5,
    });
    assert.deepEqual(await page(1, 2, { tag: 'people' }), { names: ['bob', 'cid'], total: 5 });
    assert.deepEqual(await page(10, 2, { tag: 'people' }), { names: [], total: 5 });
    assert.deepEqual(await page(0, 0, { tag: 'people' }), { names: [], total: 5 });
    assert.deepEqual(await page(0, 3, { tag: 'people', orderBy: [{ jsonPath: '$.ts', order: -1 }] }), {
      names: ['cid', 'eve', 'ann'],
      total: 5,
    });
    assert.deepEqual(
      await page(0, 10, {
        tag: 'people',
        orderBy: [
          { jsonPath: '$.age', order: 1 },
          { jsonPath: '$.name', order: -1 },
        ],
      }),
      { names: ['dee', 'bob', 'ann', 'eve', 'cid'], total: 5 },
    );
    const filtered = async (comparisonOperator: string, value: unknown, jsonPath = '$.age') =>
      (await page(0, 10, { tag: 'people', filters: [{ jsonPath, comparisonOperator, value }] })).names;
    assert.deepEqual(await filtered('=', 25), ['bob', 'dee']);
    assert.deepEqual(await filtered('!=', 25), ['ann', 'cid', 'eve']);
    assert.deepEqual(await filtered('<', 31), ['bob', 'dee']);
    assert.deepEqual(await filtered('<=', 31), ['ann', 'bob', 'dee']);
    assert.deepEqual(await filtered('>', 37), ['cid']);
    assert.deepEqual(await filtered('>=', 37), ['cid', 'eve']);
    assert.deepEqual(await filtered('=', 'Oslo', '$.city'), ['ann', 'cid']);
    assert.deepEqual(await filtered('=', true, '$.admin'), ['ann', 'dee']);
    assert.deepEqual(await filtered('=', null, '$.extra'), ['dee']);
    // totalCount counts after filtering, before paging.
    assert.deepEqual(
      await page(1, 1, {
        tag: 'people',
        filters: [
          { jsonPath: '$.city', comparisonOperator: '!=', value: 'Kyiv' },
          { jsonPath: '$.age', comparisonOperator: '<', value: 40 },
        ],
        orderBy: [{ jsonPath: '$.age', order: -1 }],
      }),
      { names: ['ann'], total: 3 },
    );
    // Without a tag every JSON value counts (the non-JSON one never does).
    const all = await page(0, 100, { filters: [{ jsonPath: '$.age', comparisonOperator: '>', value: 90 }] });
    assert.deepEqual(all, { names: ['zed'], total: 1 });
    await okOps(base, [
      ['removeItemsByTag', 'people'],
      ['removeItem', 'untagged-json'],
    ]);
  });

  it('keeps each mim and each client apart', async () => {
    await deployStorageMim(node, 'store', {}, { 'x-client-id': 'other' });
    const mine = base;
    const theirs = mimUrl(node, 'store', 'other');
    const iter = mimUrl(node, 'iter');
    await okOps(mine, [['setItem', 'shared-name', 'api store']]);
    await okOps(theirs, [['setItem', 'shared-name', 'other store']]);
    assert.deepEqual(await okOps(mine, [['getItem', 'shared-name']]), ['api store']);
    assert.deepEqual(await okOps(theirs, [['getItem', 'shared-name']]), ['other store']);
    assert.deepEqual(await okOps(iter, [['getItem', 'shared-name']]), [null]);
    const dirs = fs.readdirSync(path.join(node.workDir, 'datastore')).sort();
    assert.deepEqual(
      dirs.filter((d) => d !== 'api-runaway'),
      ['api-iter', 'api-store', 'other-store'],
    );
  });

  it('stops a mim that loops over storage calls past its deadline, and keeps serving it', async () => {
    await deployStorageMim(node, 'runaway', { 'MCM.MAX_EXECUTION_TIME_SEC': '1' });
    const runaway = mimUrl(node, 'runaway');
    const started = Date.now();
    const res = await fetch(`${runaway}/fill?prefix=r-&from=0&to=1000000000`);
    assert.equal(res.status, 504);
    assert.ok(Date.now() - started < 3000, `stopped after ${Date.now() - started} ms`);
    assert.deepEqual(await okOps(runaway, [['getItem', 'r-0']]), ['v0']);
    // Stopped for real: nothing writes any more.
    const count = async () => ((await getJson(`${runaway}/scan?prefix=r-`)).body as { count: number }).count;
    const first = await count();
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(await count(), first, 'no write after the 504');
  });

  it('stores 100,000 items and iterates them all in order', async () => {
    await deployStorageMim(node, 'bulk');
    const bulk = mimUrl(node, 'bulk');
    const started = Date.now();
    const batch = 25_000;
    for (let from = 0; from < 100_000; from += batch) {
      const { status, body } = await getJson(
        `${bulk}/fill?prefix=item-&from=${from}&to=${from + batch}&value=v`,
      );
      assert.equal(status, 200, JSON.stringify(body));
    }
    const { body } = await getJson(`${bulk}/scan?prefix=item-`);
    assert.deepEqual(body, { count: 100_000, matching: 100_000, inOrder: true });
    const [last] = await okOps(bulk, [['getItem', 'item-99999']]);
    assert.equal(last, 'v99999');
    assert.ok(Date.now() - started < 60_000, `100k items took ${Date.now() - started} ms`);
  });
});

describe('DataStore lifetime: restarts, delete and redeploy, encryption at rest', () => {
  const workDir = tempDir();
  after(() => fs.rmSync(workDir, { recursive: true, force: true }));

  it('survives a node restart, is removed with the mim, and a redeployed mim starts empty', async () => {
    let node = await TestNode.start({ workDir, keepWorkDir: true });
    try {
      await deployStorageMim(node, 'keeper');
      await deployStorageMim(node, 'doomed');
      await okOps(mimUrl(node, 'keeper'), [['setItemWithTag', 'k', 'kept', 't']]);
      await okOps(mimUrl(node, 'doomed'), [['setItem', 'k', 'doomed value']]);
      assert.equal(
        (await fetch(`${mimUrl(node, 'doomed')}/save?name=f.txt`, { method: 'POST', body: 'aGk=' })).status,
        200,
      );
    } finally {
      await node.stop();
    }
    node = await TestNode.start({ workDir, keepWorkDir: true });
    try {
      assert.deepEqual(
        await okOps(mimUrl(node, 'keeper'), [
          ['getItem', 'k'],
          ['eachItemByTag', 't'],
        ]),
        ['kept', [['k', 'kept']]],
      );
      assert.deepEqual(await okOps(mimUrl(node, 'doomed'), [['getItem', 'k']]), ['doomed value']);
      assert.ok(fs.existsSync(path.join(workDir, 'datastore', 'api-doomed', 'files', 'f.txt')));

      assert.equal((await node.mcm('DELETE', '/mims/api-doomed')).status, 200);
      assert.equal(fs.existsSync(path.join(workDir, 'datastore', 'api-doomed')), false, 'store dir removed');
      await deployStorageMim(node, 'doomed');
      assert.deepEqual(await okOps(mimUrl(node, 'doomed'), [['getItem', 'k'], ['eachItem']]), [null, []]);
      const file = await fetch(`${mimUrl(node, 'doomed')}/file?name=f.txt`);
      assert.equal(file.status, 400, 'the file area went with it');
      assert.deepEqual(await okOps(mimUrl(node, 'keeper'), [['getItem', 'k']]), ['kept']);
    } finally {
      await node.stop();
    }
  });

  it('encrypts the store at rest with MCM.DB_ENCRYPTION_SUPPORT: the raw files reveal no stored value', async () => {
    const node = await TestNode.start({ workDir, keepWorkDir: true });
    try {
      await deployStorageMim(node, 'secret', { 'MCM.DB_ENCRYPTION_SUPPORT': 'true' });
      await deployStorageMim(node, 'plain');
      const marker = 'TOP-SECRET-VALUE-8f3a91';
      const keyMarker = 'SECRET-KEY-NAME-77c2';
      for (const name of ['secret', 'plain']) {
        await okOps(mimUrl(node, name), [
          ['setItemWithTag', keyMarker, `${marker} `.repeat(50), 'secret-tag'],
          ['setItem', 'json', JSON.stringify({ marker })],
        ]);
        assert.deepEqual(await okOps(mimUrl(node, name), [['getItem', 'json']]), [
          JSON.stringify({ marker }),
        ]);
      }
      const raw = (name: string): Buffer =>
        Buffer.concat(
          ['store.db', 'store.db-wal']
            .map((f) => path.join(workDir, 'datastore', `api-${name}`, f))
            .filter((f) => fs.existsSync(f))
            .map((f) => fs.readFileSync(f)),
        );
      // The check can see a value: the plain store holds it in clear.
      assert.ok(raw('plain').includes(marker), 'plain store shows the value');
      const secret = raw('secret');
      assert.ok(secret.length > 4096, 'the encrypted store was written');
      for (const needle of [marker, keyMarker, 'secret-tag', 'SQLite format 3']) {
        assert.equal(secret.includes(needle), false, `encrypted files reveal ${needle}`);
      }
      const key = fs.statSync(path.join(workDir, 'datastore.key'));
      assert.equal(key.mode & 0o077, 0, 'the key file is owner-only');
    } finally {
      await node.stop();
    }
  });
});
