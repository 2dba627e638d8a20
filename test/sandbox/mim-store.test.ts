// The DataStore as a sandbox process holds it: quotas from the mim's spec, and a file area whose
// usage is counted from disk again once the store was closed (as the node does before a restore).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isMimoeError } from '../../src/errors/index.js';
import { MimStore, type StoreSpec } from '../../src/sandbox/host/mim-store.js';
import { tempDir } from '../helpers/node-process.js';

const KiB = 1024;
const isFull = (err: unknown): boolean => isMimoeError(err) && err.code === 'ERR_DATASTORE_FULL';

let dataDir: string;
let spec: StoreSpec;
beforeEach(() => {
  dataDir = tempDir('mimoe-mim-store-');
  spec = {
    mimId: 'api-m',
    dataDir,
    encryptionKey: undefined,
    quota: { storeBytes: 256 * KiB, filesBytes: 10 * KiB },
  };
});
afterEach(() => {
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('MimStore', () => {
  it('opens the key/value store and the file area with the quotas of its spec', () => {
    const store = new MimStore(spec);
    try {
      store.kv.setItem('small', 'v');
      assert.throws(() => store.kv.setItem('big', 'x'.repeat(300 * KiB)), isFull);
      assert.equal(store.files.maxBytes, 10 * KiB);
      assert.throws(() => store.files.writeFile('big.bin', Buffer.alloc(11 * KiB)), isFull);
    } finally {
      store.close();
    }
  });

  it('counts the file area from disk again after close(): files put back by a restore count', () => {
    const store = new MimStore(spec);
    store.files.writeFile('a.bin', Buffer.alloc(4 * KiB));
    assert.equal(store.files.usage(), 4 * KiB);
    // What a restore does while the store is closed: the files change under it.
    fs.writeFileSync(path.join(dataDir, 'files', 'restored.bin'), Buffer.alloc(5 * KiB));
    store.close();
    assert.equal(store.files.usage(), 9 * KiB);
    assert.throws(() => store.files.writeFile('b.bin', Buffer.alloc(2 * KiB)), isFull);
    store.files.writeFile('b.bin', Buffer.alloc(KiB));
    store.close();
  });

  it('a redeploy with other quotas drops the open handles', () => {
    const store = new MimStore(spec);
    const area = store.files;
    store.update({ ...spec });
    assert.equal(store.files, area);
    store.update({ ...spec, quota: { storeBytes: 256 * KiB, filesBytes: 20 * KiB } });
    assert.notEqual(store.files, area);
    assert.equal(store.files.maxBytes, 20 * KiB);
    store.close();
  });
});
