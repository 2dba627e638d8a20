import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadOrCreateDataKey } from '../../src/datastore/encryption.js';
import { KvStore } from '../../src/datastore/kv-store.js';
import { KV_STORE_JS, killAndWait, readLinesUntil, spawnNode, tempDir } from './helpers.js';

let dir: string;

before(() => {
  dir = tempDir('mimoe-durable-');
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

// The child acknowledges each key on stdout only after setItem returned, the way a mim answers
// its HTTP request only after its setItem calls. fs.writeSync makes each acknowledgement leave the
// process before the next write starts.
const WRITER = `
  import fs from 'node:fs';
  const { KvStore } = await import(process.argv[1]);
  const [, , file, key] = process.argv;
  const store = KvStore.open(file, key ? { encryptionKey: key } : {});
  for (let i = 0; ; i++) {
    store.setItem('k' + i, 'value-' + i + '-' + 'x'.repeat(i % 500));
    if (i % 3 === 0) store.setItemWithTag('t' + i, String(i), 'tagged');
    fs.writeSync(1, 'k' + i + '\\n');
  }
`;

describe('kill -9 durability', () => {
  for (const encrypted of [false, true]) {
    it(`keeps every acknowledged write when the writer is killed with SIGKILL (${encrypted ? 'encrypted' : 'plain'})`, async (t) => {
      const file = path.join(dir, `store-${encrypted ? 'enc' : 'plain'}.db`);
      const key = encrypted ? loadOrCreateDataKey(dir) : undefined;
      const child = spawnNode(
        WRITER,
        key === undefined ? [KV_STORE_JS, file] : [KV_STORE_JS, file, key],
        'module',
      );
      let acked: string[];
      try {
        acked = await readLinesUntil(child, (lines) => lines.length >= 3000);
      } finally {
        await killAndWait(child, 'SIGKILL');
      }
      assert.equal(child.signalCode, 'SIGKILL');
      assert.ok(fs.existsSync(`${file}-wal`), 'the kill left a WAL to recover from');
      t.diagnostic(
        `${acked.length} acknowledged writes, WAL of ${fs.statSync(`${file}-wal`).size} bytes left by the kill`,
      );

      const store = KvStore.open(file, { encryptionKey: key });
      try {
        for (const k of acked) {
          const i = Number(k.slice(1));
          assert.equal(store.getItem(k), `value-${i}-${'x'.repeat(i % 500)}`, `acknowledged ${k} was lost`);
        }
        const tagged: string[] = [];
        store.eachItemByTag('tagged', (k) => tagged.push(k));
        assert.ok(tagged.length >= Math.floor(acked.length / 3));
      } finally {
        store.close();
      }
    });
  }
});
