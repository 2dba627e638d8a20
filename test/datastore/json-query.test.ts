import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KvStore } from '../../src/datastore/kv-store.js';
import { assertTypeError, tempDir } from './helpers.js';

interface Person {
  name: string;
  age?: number | string;
  active?: boolean;
  nick?: string | null;
  addr?: { city: string; zip?: number };
}

const PEOPLE: Person[] = [
  { name: 'ann', age: 31, active: true, nick: 'a', addr: { city: 'Oslo', zip: 150 } },
  { name: 'bob', age: 25, active: false, nick: null, addr: { city: 'Bergen', zip: 5003 } },
  { name: 'cid', age: 40, active: true, addr: { city: 'Oslo', zip: 151 } },
  { name: 'dee', age: '40', active: true, addr: { city: 'Åsane' } },
  { name: 'eve', age: 25, active: false, nick: 'e' },
  { name: 'fay', age: 52.5, active: true, addr: { city: 'Bergen', zip: 5004 } },
];

let dir: string;
let store: KvStore;

before(() => {
  dir = tempDir('mimoe-json-');
  store = KvStore.open(path.join(dir, 'store.db'));
  PEOPLE.forEach((p, i) => {
    if (i === 2) store.setItem('not-json-1', 'this is { not json');
    store.setItemWithTag(`person-${p.name}`, JSON.stringify(p), i % 2 === 0 ? 'even' : 'odd');
  });
  store.setItem('not-json-2', "{name: 'js object literal'}");
  store.setItem('scalar-num', '7');
  store.setItem('scalar-str', '"seven"');
});
after(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Loose on purpose: the options come from mims, unchecked. */
interface Options {
  tag?: unknown;
  filters?: unknown[];
  orderBy?: unknown[];
}

function names(offset: number, limit: number, options?: Options): { names: unknown[]; totalCount: number } {
  const page = store.getJsonItemsPaginated(offset, limit, options);
  return {
    names: page.items.map((p) => (typeof p === 'object' && p !== null ? (p as Person).name : p)),
    totalCount: page.totalCount,
  };
}

function filtered(jsonPath: string, comparisonOperator: string, value: unknown): unknown[] {
  return names(0, 100, { filters: [{ jsonPath, comparisonOperator, value }] }).names;
}

describe('KvStore.getJsonItemsPaginated', () => {
  it('returns parsed JSON values in insertion order, skipping (and not counting) non-JSON values', () => {
    const page = store.getJsonItemsPaginated(0, 100);
    assert.equal(page.totalCount, 8);
    assert.deepEqual(page.items[0], PEOPLE[0]);
    assert.deepEqual(page.items.slice(6), [7, 'seven']);
  });

  it('pages with offset and limit; totalCount is before paging', () => {
    assert.deepEqual(names(0, 2), { names: ['ann', 'bob'], totalCount: 8 });
    assert.deepEqual(names(2, 2), { names: ['cid', 'dee'], totalCount: 8 });
    assert.deepEqual(names(7, 5), { names: ['seven'], totalCount: 8 });
    assert.deepEqual(names(100, 5), { names: [], totalCount: 8 });
    assert.deepEqual(names(0, 0), { names: [], totalCount: 8 });
    assert.deepEqual(names(1, 1), { names: ['bob'], totalCount: 8 }, 'numeric strings are accepted');
  });

  it('filters by tag', () => {
    assert.deepEqual(names(0, 10, { tag: 'even' }), { names: ['ann', 'cid', 'eve'], totalCount: 3 });
    assert.deepEqual(names(1, 1, { tag: 'odd' }), { names: ['dee'], totalCount: 3 });
    assert.deepEqual(names(0, 10, { tag: 'none' }), { names: [], totalCount: 0 });
  });

  it('applies each comparison operator to numbers, typed (the string "40" is not a number)', () => {
    assert.deepEqual(filtered('$.age', '=', 40), ['cid']);
    assert.deepEqual(filtered('$.age', '!=', 25), ['ann', 'cid', 'dee', 'fay', 7, 'seven']);
    assert.deepEqual(filtered('$.age', '<', 31), ['bob', 'eve']);
    assert.deepEqual(filtered('$.age', '<=', 31), ['ann', 'bob', 'eve']);
    assert.deepEqual(filtered('$.age', '>', 31), ['cid', 'fay']);
    assert.deepEqual(filtered('$.age', '>=', 40), ['cid', 'fay']);
    assert.deepEqual(filtered('$.age', '>', 52.4), ['fay']);
  });

  it('compares strings with strings, booleans with booleans, and null with JSON null', () => {
    assert.deepEqual(filtered('$.age', '=', '40'), ['dee']);
    assert.deepEqual(filtered('$.name', '>', 'cid'), ['dee', 'eve', 'fay']);
    assert.deepEqual(filtered('$.name', '<=', 'bob'), ['ann', 'bob']);
    assert.deepEqual(filtered('$.active', '=', true), ['ann', 'cid', 'dee', 'fay']);
    assert.deepEqual(filtered('$.active', '!=', true), ['bob', 'eve', 7, 'seven']);
    assert.deepEqual(filtered('$.active', '<', true), ['bob', 'eve']);
    assert.deepEqual(filtered('$.nick', '=', null), ['bob']);
    assert.deepEqual(filtered('$.nick', '!=', null), ['ann', 'cid', 'dee', 'eve', 'fay', 7, 'seven']);
  });

  it('filters on nested paths and combines filters with AND', () => {
    assert.deepEqual(filtered('$.addr.city', '=', 'Oslo'), ['ann', 'cid']);
    assert.deepEqual(filtered('$.addr.city', '=', 'Åsane'), ['dee']);
    assert.deepEqual(
      names(0, 10, {
        filters: [
          { jsonPath: '$.addr.city', comparisonOperator: '=', value: 'Bergen' },
          { jsonPath: '$.addr.zip', comparisonOperator: '>', value: 5003 },
        ],
      }),
      { names: ['fay'], totalCount: 1 },
    );
  });

  it('filters and orders on the whole value with $', () => {
    assert.deepEqual(filtered('$', '=', 7), [7]);
    assert.deepEqual(filtered('$', '=', 'seven'), ['seven']);
  });

  it('counts after filtering and before paging', () => {
    const options: Options = { filters: [{ jsonPath: '$.active', comparisonOperator: '=', value: true }] };
    assert.deepEqual(names(1, 2, options), { names: ['cid', 'dee'], totalCount: 4 });
    assert.deepEqual(names(0, 10, { ...options, tag: 'odd' }), { names: ['dee', 'fay'], totalCount: 2 });
  });

  it('orders ascending and descending, on nested paths, with ties in insertion order', () => {
    const people = { tag: undefined, filters: [{ jsonPath: '$.name', comparisonOperator: '>=', value: '' }] };
    assert.deepEqual(names(0, 10, { ...people, orderBy: [{ jsonPath: '$.name', order: -1 }] }).names, [
      'fay',
      'eve',
      'dee',
      'cid',
      'bob',
      'ann',
    ]);
    // age: numbers before the string "40"; ties (25) keep insertion order.
    assert.deepEqual(names(0, 10, { ...people, orderBy: [{ jsonPath: '$.age', order: 1 }] }).names, [
      'bob',
      'eve',
      'ann',
      'cid',
      'fay',
      'dee',
    ]);
    // Missing values sort first ascending, last descending.
    assert.deepEqual(names(0, 10, { ...people, orderBy: [{ jsonPath: '$.addr.zip', order: 1 }] }).names, [
      'dee',
      'eve',
      'ann',
      'cid',
      'bob',
      'fay',
    ]);
    assert.deepEqual(names(0, 10, { ...people, orderBy: [{ jsonPath: '$.addr.zip', order: -1 }] }).names, [
      'fay',
      'bob',
      'cid',
      'ann',
      'dee',
      'eve',
    ]);
  });

  it('orders by several keys, and pages the ordered result', () => {
    const options: Options = {
      filters: [{ jsonPath: '$.age', comparisonOperator: '>', value: 0 }],
      orderBy: [
        { jsonPath: '$.active', order: -1 },
        { jsonPath: '$.age', order: -1 },
      ],
    };
    assert.deepEqual(names(0, 10, options).names, ['fay', 'cid', 'ann', 'bob', 'eve']);
    assert.deepEqual(names(1, 2, options), { names: ['cid', 'ann'], totalCount: 5 });
  });

  it('refuses paths other than $ and $.a.b with a TypeError', () => {
    for (const jsonPath of ['$.a[0]', '$[0]', '$.*', 'a.b', '$.', '$..a', '$."a b"', "$.a'b", '', '$.a b']) {
      assertTypeError(
        () => store.getJsonItemsPaginated(0, 1, { orderBy: [{ jsonPath, order: 1 }] }),
        /is not supported|must be a string/,
      );
      assertTypeError(
        () =>
          store.getJsonItemsPaginated(0, 1, { filters: [{ jsonPath, comparisonOperator: '=', value: 1 }] }),
        /is not supported|must be a string/,
      );
    }
    assertTypeError(
      () => store.getJsonItemsPaginated(0, 1, { orderBy: [{ jsonPath: 5, order: 1 }] }),
      /orderBy\[0\]\.jsonPath must be a string/,
    );
  });

  it('refuses bad operators, values, orders, offsets and options with clear TypeErrors', () => {
    const f = (comparisonOperator: unknown, value: unknown): (() => unknown) => {
      return () =>
        store.getJsonItemsPaginated(0, 1, { filters: [{ jsonPath: '$.a', comparisonOperator, value }] });
    };
    assertTypeError(f('==', 1), /comparisonOperator must be one of = != < <= > >=/);
    assertTypeError(f('like', 1), /comparisonOperator/);
    assertTypeError(f('<', null), /only '=' and '!=' can/);
    assertTypeError(f('=', { a: 1 }), /value must be a string, number, boolean or null/);
    assertTypeError(f('=', NaN), /finite number/);
    assertTypeError(
      () => store.getJsonItemsPaginated(0, 1, { orderBy: [{ jsonPath: '$.a', order: 2 }] }),
      /order must be 1 \(ascending\) or -1/,
    );
    assertTypeError(() => store.getJsonItemsPaginated(-1, 1), /offset must be a non-negative integer/);
    assertTypeError(() => store.getJsonItemsPaginated(0, 1.5), /limit must be a non-negative integer/);
    assertTypeError(() => store.getJsonItemsPaginated(undefined, 1), /offset/);
    assertTypeError(() => store.getJsonItemsPaginated(0, 1, 'x'), /options must be an object/);
    assertTypeError(
      () => store.getJsonItemsPaginated(0, 1, { filters: {} }),
      /options.filters must be an array/,
    );
    assertTypeError(() => store.getJsonItemsPaginated(0, 1, { tag: {} }), /the tag must be a string/);
  });

  it('accepts null options and "asc"/"desc" orders', () => {
    assert.equal(store.getJsonItemsPaginated(0, 1, null).totalCount, 8);
    assert.deepEqual(
      names(0, 2, {
        filters: [{ jsonPath: '$.age', comparisonOperator: '>', value: 0 }],
        orderBy: [{ jsonPath: '$.age', order: 'desc' }],
      }).names,
      ['fay', 'cid'],
    );
  });
});
