import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import Database from 'better-sqlite3-multiple-ciphers';
import { DATA_KEY_FILE, loadOrCreateDataKey } from '../../src/datastore/encryption.js';
import { KvStore } from '../../src/datastore/kv-store.js';
import { isMimoeError } from '../../src/errors/index.js';
import { tempDir } from './helpers.js';

let dir: string;

beforeEach(() => {
  dir = tempDir('mimoe-enc-');
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');
const DISTINCTIVE = 'DISTINCTIVE-SECRET-VALUE-4f1c9a';

function unreadable(pattern: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isMimoeError(err), `expected a MimoeError, got ${String(err)}`);
    assert.equal(err.code, 'ERR_DATASTORE_UNREADABLE');
    assert.match(err.message, pattern);
    return true;
  };
}

describe('loadOrCreateDataKey', () => {
  it('creates 32 random bytes as hex in <workDir>/datastore.key, owner-only, once', () => {
    const key = loadOrCreateDataKey(dir);
    assert.match(key, /^[0-9a-f]{64}$/);
    const file = path.join(dir, DATA_KEY_FILE);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.readFileSync(file, 'utf8').trim(), key);
    assert.equal(loadOrCreateDataKey(dir), key, 'the second call reads the same key');
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f !== DATA_KEY_FILE),
      [],
      'no temp files are left',
    );
  });

  it('refuses to make a new key while encrypted stores exist without one', () => {
    const key = loadOrCreateDataKey(dir);
    const store = KvStore.open(path.join(dir, 'datastore', 'api-x', 'store.db'), { encryptionKey: key });
    store.setItem('k', DISTINCTIVE);
    store.close();
    fs.renameSync(path.join(dir, DATA_KEY_FILE), path.join(dir, 'moved-away.key'));
    assert.throws(() => loadOrCreateDataKey(dir), unreadable(/missing.*encrypted stores exist \(api-x\)/));
    assert.equal(fs.existsSync(path.join(dir, DATA_KEY_FILE)), false, 'no new key was made');
    fs.renameSync(path.join(dir, 'moved-away.key'), path.join(dir, DATA_KEY_FILE));
    assert.equal(loadOrCreateDataKey(dir), key);
  });

  it('creates the work dir if needed, and different nodes get different keys', () => {
    const a = loadOrCreateDataKey(path.join(dir, 'a', 'nested'));
    const b = loadOrCreateDataKey(path.join(dir, 'b'));
    assert.notEqual(a, b);
  });

  it('tightens a key file readable by others', () => {
    const key = loadOrCreateDataKey(dir);
    const file = path.join(dir, DATA_KEY_FILE);
    fs.chmodSync(file, 0o644);
    assert.equal(loadOrCreateDataKey(dir), key);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  });

  it('refuses a damaged key file instead of replacing it', () => {
    const file = path.join(dir, DATA_KEY_FILE);
    fs.writeFileSync(file, 'not-a-key\n', { mode: 0o600 });
    assert.throws(() => loadOrCreateDataKey(dir), unreadable(/datastore\.key is damaged/));
    assert.equal(fs.readFileSync(file, 'utf8'), 'not-a-key\n');
  });
});

describe('encrypted KvStore', () => {
  it('leaves neither the values, the key nor the SQLite header in the file or its WAL', () => {
    const key = loadOrCreateDataKey(dir);
    const file = path.join(dir, 'store.db');
    const store = KvStore.open(file, { encryptionKey: key });
    store.setItem('secret-key-name', DISTINCTIVE);
    store.setItemWithTag('other', DISTINCTIVE.repeat(100), 'tag-' + DISTINCTIVE);
    // While open, the newest pages live in the WAL: it must be encrypted too.
    const wal = fs.readFileSync(`${file}-wal`);
    assert.ok(wal.length > 0);
    assert.equal(wal.includes(DISTINCTIVE), false, 'value visible in the WAL');
    store.close();

    const raw = fs.readFileSync(file);
    assert.ok(raw.length >= 4096);
    assert.equal(raw.includes(DISTINCTIVE), false, 'value visible in the file');
    assert.equal(raw.includes('secret-key-name'), false, 'key name visible in the file');
    assert.equal(raw.includes(key), false, 'hex key in the file');
    assert.equal(raw.includes(Buffer.from(key, 'hex')), false, 'binary key in the file');
    assert.equal(raw.includes(SQLITE_HEADER), false, 'SQLite header in the file');
    assert.equal(raw.includes('CREATE TABLE'), false, 'schema visible in the file');

    const again = KvStore.open(file, { encryptionKey: key });
    assert.equal(again.getItem('secret-key-name'), DISTINCTIVE);
    again.close();
  });

  it('is a SQLCipher 4 file: opens with the sqlcipher cipher, legacy=4 and the raw key', () => {
    const key = loadOrCreateDataKey(dir);
    const file = path.join(dir, 'store.db');
    const store = KvStore.open(file, { encryptionKey: key });
    store.setItem('k', 'v');
    store.close();
    const db = new Database(file);
    try {
      db.pragma(`cipher = 'sqlcipher'`);
      db.pragma('legacy = 4');
      db.pragma(`key = "x'${key}'"`);
      assert.deepEqual(db.prepare('SELECT key, value FROM items').all(), [{ key: 'k', value: 'v' }]);
    } finally {
      db.close();
    }
  });

  it('accepts the key as a 32-byte Buffer, the same key as its hex form', () => {
    const key = crypto.randomBytes(32);
    const file = path.join(dir, 'store.db');
    const a = KvStore.open(file, { encryptionKey: key });
    a.setItem('k', 'v');
    a.close();
    const b = KvStore.open(file, { encryptionKey: key.toString('hex').toUpperCase() });
    assert.equal(b.getItem('k'), 'v');
    b.close();
  });

  it('fails to open with a wrong key, without a key, or a plain store with a key: clear errors', () => {
    const file = path.join(dir, 'store.db');
    const store = KvStore.open(file, { encryptionKey: loadOrCreateDataKey(dir) });
    store.setItem('k', 'v');
    store.close();
    const wrong = crypto.randomBytes(32).toString('hex');
    assert.throws(() => KvStore.open(file, { encryptionKey: wrong }), unreadable(/wrong encryption key/));
    assert.throws(() => KvStore.open(file), unreadable(/it is encrypted \(an encryption key is needed\)/));

    const plainFile = path.join(dir, 'plain.db');
    KvStore.open(plainFile).close();
    assert.throws(
      () => KvStore.open(plainFile, { encryptionKey: wrong }),
      unreadable(/wrong encryption key/),
    );
  });

  it('refuses keys that are not 32 bytes or 64 hex characters, before creating any file', () => {
    const file = path.join(dir, 'store.db');
    for (const bad of ['secret passphrase', 'ab'.repeat(31), Buffer.alloc(16), 'g'.repeat(64)]) {
      assert.throws(() => KvStore.open(file, { encryptionKey: bad }), TypeError);
    }
    assert.equal(fs.existsSync(file), false);
  });
});
