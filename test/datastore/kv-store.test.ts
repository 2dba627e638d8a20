import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { KvStore, type ItemCallback } from '../../src/datastore/kv-store.js';
import { allItems, assertTypeError, tempDir } from './helpers.js';
import { isMimoeError } from '../../src/errors/index.js';

let dir: string;
let file: string;
let store: KvStore;

beforeEach(() => {
  dir = tempDir('mimoe-kv-');
  file = path.join(dir, 'store.db');
  store = KvStore.open(file);
});
afterEach(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('KvStore value limits', () => {
  it('refuses values over 16 Mi characters and values with unpaired surrogates, with TypeErrors', () => {
    assertTypeError(() => store.setItem('big', 'x'.repeat(16 * 1024 * 1024 + 1)), /longer than/);
    assertTypeError(() => store.setItemWithTag('big', 'x'.repeat(16 * 1024 * 1024 + 1), 't'), /longer than/);
    assertTypeError(() => store.setItem('k', 'a\ud800b'), /surrogate/);
    assert.equal(store.getItem('big'), null);
    store.setItem('ok', 'x'.repeat(16 * 1024 * 1024));
    assert.equal(store.getItem('ok')?.length, 16 * 1024 * 1024);
  });
});

describe('KvStore quota', () => {
  it('refuses writes past its size quota with ERR_DATASTORE_FULL, keeps what it holds, and takes writes again once space is freed', () => {
    const small = KvStore.open(path.join(dir, 'small.db'), { maxBytes: 512 * 1024 });
    try {
      const value = 'v'.repeat(100 * 1024);
      let stored = 0;
      assert.throws(
        () => {
          for (; stored < 100; stored++) small.setItem(`k${stored}`, value);
        },
        (err: unknown) => isMimoeError(err) && err.code === 'ERR_DATASTORE_FULL',
      );
      assert.ok(stored > 0 && stored < 100, `stored ${stored} before the quota`);
      assert.throws(
        () => small.setItemWithTag('tagged', value, 't'),
        (err: unknown) => isMimoeError(err) && err.code === 'ERR_DATASTORE_FULL',
      );
      assert.equal(small.getItem('k0'), value);
      small.removeItem('k0');
      small.setItem('again', value);
      assert.equal(small.getItem('again'), value);
    } finally {
      small.close();
    }
  });
});

describe('KvStore getItem / setItem / removeItem', () => {
  it('returns null for a missing key and the value once set', () => {
    assert.equal(store.getItem('nope'), null);
    store.setItem('a', 'one');
    assert.equal(store.getItem('a'), 'one');
    store.setItem('a', 'two');
    assert.equal(store.getItem('a'), 'two');
  });

  it('stores every value as String(value)', () => {
    store.setItem('n', 42);
    store.setItem('f', 1.5);
    store.setItem('b', true);
    store.setItem('nil', null);
    store.setItem('u', undefined);
    store.setItem('o', { a: 1 });
    store.setItem('arr', [1, 2]);
    store.setItem('custom', { toString: () => 'custom!' });
    assert.deepEqual(allItems(store), [
      ['n', '42'],
      ['f', '1.5'],
      ['b', 'true'],
      ['nil', 'null'],
      ['u', 'undefined'],
      ['o', '[object Object]'],
      ['arr', '1,2'],
      ['custom', 'custom!'],
    ]);
  });

  it('takes any string as key: empty, unicode, NUL, long; numbers are coerced', () => {
    const keys = ['', ' ', 'é', '日本語', '🙂 emoji', 'a\0b', 'a\0c', 'x'.repeat(10_000), 'with\nnewline'];
    keys.forEach((k, i) => store.setItem(k, `v${i}`));
    keys.forEach((k, i) => assert.equal(store.getItem(k), `v${i}`, `key ${JSON.stringify(k.slice(0, 20))}`));
    store.setItem(7, 'seven');
    assert.equal(store.getItem('7'), 'seven');
    assert.equal(store.getItem(7), 'seven');
    assert.equal(allItems(store).length, keys.length + 1);
  });

  it('stores empty and unicode values exactly', () => {
    store.setItem('empty', '');
    store.setItem('uni', 'ü 🙂 \u0000 \u2028');
    assert.equal(store.getItem('empty'), '');
    assert.equal(store.getItem('uni'), 'ü 🙂 \u0000 \u2028');
  });

  it('refuses a missing or non-string key with a TypeError', () => {
    assertTypeError(() => store.getItem(undefined), /getItem: the key is missing/);
    assertTypeError(() => store.setItem(null, 'x'), /setItem: the key is missing/);
    assertTypeError(() => store.setItem({}, 'x'), /setItem: the key must be a string, got an object/);
    assertTypeError(() => store.removeItem(Symbol('s')), /removeItem: the key must be a string/);
    assertTypeError(() => store.setItem('\uD800', 'x'), /unpaired UTF-16 surrogate/);
  });

  it('round-trips 1 MB and 8 MB values', () => {
    const mb = 'a'.repeat(1024 * 1024 - 1) + 'Z';
    const big = '🙂'.repeat(2 * 1024 * 1024);
    store.setItem('mb', mb);
    store.setItem('big', big);
    assert.equal(store.getItem('mb'), mb);
    assert.equal(store.getItem('big'), big);
  });

  it('removeItem deletes, and is a no-op for a missing key', () => {
    store.setItem('a', '1');
    store.removeItem('a');
    store.removeItem('a');
    store.removeItem('never');
    assert.equal(store.getItem('a'), null);
  });

  it('keeps the first-insertion position when a value is replaced; remove + set moves it last', () => {
    for (const k of ['a', 'b', 'c']) store.setItem(k, k);
    store.setItem('a', 'A');
    assert.deepEqual(allItems(store), [
      ['a', 'A'],
      ['b', 'b'],
      ['c', 'c'],
    ]);
    store.removeItem('b');
    store.setItem('b', 'B');
    assert.deepEqual(
      allItems(store).map(([k]) => k),
      ['a', 'c', 'b'],
    );
  });

  it('never reuses the position of a deleted last item', () => {
    store.setItem('a', '1');
    store.setItem('z', '2');
    store.removeItem('z');
    store.setItem('b', '3');
    store.setItem('z', '4');
    assert.deepEqual(
      allItems(store).map(([k]) => k),
      ['a', 'b', 'z'],
    );
  });

  it('stores 100k items one setItem at a time and iterates them in insertion order', (t) => {
    const n = 100_000;
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) store.setItem(`key-${n - i}`, `value-${i}`);
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    t.diagnostic(`100k setItem: ${ms.toFixed(0)} ms (${Math.round(n / (ms / 1000))} ops/s)`);
    let i = 0;
    store.eachItem((k, v) => {
      assert.equal(k, `key-${n - i}`);
      assert.equal(v, `value-${i}`);
      i++;
    });
    assert.equal(i, n);
    assert.equal(store.getItem('key-1'), `value-${n - 1}`);
  });

  it('persists across close and reopen', () => {
    store.setItemWithTag('k', 'v', 't');
    store.close();
    store = KvStore.open(file);
    assert.equal(store.getItem('k'), 'v');
    const tagged: string[] = [];
    store.eachItemByTag('t', (k) => tagged.push(k));
    assert.deepEqual(tagged, ['k']);
  });

  it('sees writes of a second connection to the same file', () => {
    const other = KvStore.open(file);
    try {
      other.setItem('from-other', 'x');
      assert.equal(store.getItem('from-other'), 'x');
      store.setItem('from-first', 'y');
      assert.equal(other.getItem('from-first'), 'y');
    } finally {
      other.close();
    }
  });

  it('close is idempotent, and every later call throws a TypeError', () => {
    store.close();
    store.close();
    assert.equal(store.closed, true);
    assertTypeError(() => store.getItem('a'), /closed/);
    assertTypeError(() => store.setItem('a', 'b'), /closed/);
    assertTypeError(() => store.eachItem(() => undefined), /closed/);
  });

  it('creates the schema version it records', () => {
    store.close();
    const raw = fs.readFileSync(file);
    assert.equal(raw.subarray(0, 16).toString('latin1'), 'SQLite format 3\0');
    // user_version lives at byte offset 60 of the header.
    assert.equal(raw.readUInt32BE(60), 1);
    store = KvStore.open(file);
  });
});

describe('KvStore tags', () => {
  it('setItemWithTag sets a tag, replaces an older one, and keeps the position', () => {
    store.setItemWithTag('m1', 'hello', 'chat-1');
    store.setItemWithTag('m2', 'hi', 'chat-2');
    store.setItemWithTag('m3', 'bye', 'chat-1');
    store.setItemWithTag('m2', 'hi again', 'chat-1');
    const chat1: Array<[string, string]> = [];
    store.eachItemByTag('chat-1', (k, v) => chat1.push([k, v]));
    assert.deepEqual(chat1, [
      ['m1', 'hello'],
      ['m2', 'hi again'],
      ['m3', 'bye'],
    ]);
    const chat2: string[] = [];
    store.eachItemByTag('chat-2', (k) => chat2.push(k));
    assert.deepEqual(chat2, []);
  });

  it('setItem replaces the value of a tagged item and keeps its tag', () => {
    store.setItemWithTag('m1', 'v1', 't');
    store.setItem('m1', 'v2');
    const seen: Array<[string, string]> = [];
    store.eachItemByTag('t', (k, v) => seen.push([k, v]));
    assert.deepEqual(seen, [['m1', 'v2']]);
  });

  it('eachItem visits tagged and untagged items together, in insertion order', () => {
    store.setItem('a', '1');
    store.setItemWithTag('b', '2', 't');
    store.setItem('c', '3');
    assert.deepEqual(
      allItems(store).map(([k]) => k),
      ['a', 'b', 'c'],
    );
  });

  it('accepts empty and unicode tags, and tags are exact (no prefix match)', () => {
    store.setItemWithTag('a', '1', '');
    store.setItemWithTag('b', '2', 'tag');
    store.setItemWithTag('c', '3', 'tag-2');
    store.setItemWithTag('d', '4', '标签');
    const byTag = (tag: string): string[] => {
      const keys: string[] = [];
      store.eachItemByTag(tag, (k) => keys.push(k));
      return keys;
    };
    assert.deepEqual(byTag(''), ['a']);
    assert.deepEqual(byTag('tag'), ['b']);
    assert.deepEqual(byTag('标签'), ['d']);
    assert.deepEqual(byTag('nope'), []);
  });

  it('removeItemsByTag removes exactly the items of that tag', () => {
    store.setItemWithTag('a', '1', 'x');
    store.setItemWithTag('b', '2', 'y');
    store.setItem('c', '3');
    store.setItemWithTag('d', '4', 'x');
    store.removeItemsByTag('x');
    store.removeItemsByTag('no-such-tag');
    assert.deepEqual(allItems(store), [
      ['b', '2'],
      ['c', '3'],
    ]);
  });

  it('refuses a missing tag and a non-function callback with TypeErrors', () => {
    assertTypeError(() => store.setItemWithTag('k', 'v', undefined), /setItemWithTag: the tag is missing/);
    assertTypeError(
      () => store.eachItemByTag(undefined, () => undefined),
      /eachItemByTag: the tag is missing/,
    );
    assertTypeError(
      () => store.eachItemByTag('t', 'nope' as unknown as ItemCallback),
      /eachItemByTag: the callback must be a function/,
    );
    assertTypeError(() => store.removeItemsByTag({}), /removeItemsByTag: the tag must be a string/);
    assert.equal(store.getItem('k'), null);
  });

  it('eachItemByTag walks 1000 tagged items among 1000 others in order', () => {
    for (let i = 0; i < 2000; i++) {
      if (i % 2 === 0) store.setItemWithTag(`k${i}`, `${i}`, 'even');
      else store.setItem(`k${i}`, `${i}`);
    }
    const seen: number[] = [];
    store.eachItemByTag('even', (_k, v) => seen.push(Number(v)));
    assert.equal(seen.length, 1000);
    assert.deepEqual(
      seen,
      Array.from({ length: 1000 }, (_, i) => i * 2),
    );
  });
});

describe('KvStore iteration while writing', () => {
  function fill(n: number): void {
    for (let i = 0; i < n; i++) store.setItem(`k${i}`, `v${i}`);
  }

  it('skips items the callback removes before their turn (also across pages)', () => {
    fill(600);
    const seen: string[] = [];
    store.eachItem((k) => {
      seen.push(k);
      const i = Number(k.slice(1));
      if (i % 2 === 0) store.removeItem(`k${i + 1}`);
    });
    assert.deepEqual(
      seen,
      Array.from({ length: 300 }, (_, i) => `k${i * 2}`),
    );
  });

  it('does not visit items the callback adds', () => {
    fill(300);
    let visits = 0;
    store.eachItem((k) => {
      visits++;
      store.setItem(`new-${k}`, 'x');
    });
    assert.equal(visits, 300);
    assert.equal(allItems(store).length, 600);
  });

  it('shows values the callback replaced ahead of the iteration', () => {
    fill(400);
    const seen = new Map<string, string>();
    store.eachItem((k, v) => {
      seen.set(k, v);
      if (k === 'k0') for (let i = 1; i < 400; i++) store.setItem(`k${i}`, `new${i}`);
    });
    assert.equal(seen.get('k0'), 'v0');
    assert.equal(seen.get('k1'), 'new1');
    assert.equal(seen.get('k399'), 'new399');
    assert.equal(seen.size, 400);
  });

  it('lets the callback remove the current item and tags while iterating by tag', () => {
    for (let i = 0; i < 10; i++) store.setItemWithTag(`k${i}`, `${i}`, 't');
    const seen: string[] = [];
    store.eachItemByTag('t', (k) => {
      seen.push(k);
      store.removeItem(k);
      if (k === 'k3') store.removeItemsByTag('t');
    });
    assert.deepEqual(seen, ['k0', 'k1', 'k2', 'k3']);
    assert.deepEqual(allItems(store), []);
  });

  it('stops at an exception thrown by the callback and propagates it', () => {
    fill(5);
    let visits = 0;
    assert.throws(
      () =>
        store.eachItem((k) => {
          visits++;
          if (k === 'k2') throw new Error('boom');
        }),
      /boom/,
    );
    assert.equal(visits, 3);
    assert.equal(store.getItem('k4'), 'v4');
  });

  it('refuses a non-function callback with a TypeError', () => {
    assertTypeError(
      () => store.eachItem(undefined as unknown as ItemCallback),
      /eachItem: the callback must be a function, got undefined/,
    );
    assertTypeError(
      () => store.eachItem({} as unknown as ItemCallback),
      /eachItem: the callback must be a function, got an object/,
    );
  });
});
