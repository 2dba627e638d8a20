import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import Database from 'better-sqlite3-multiple-ciphers';
import { extract } from 'tar-stream';
import { backupStore, resolveBackupPath, restoreStore } from '../../src/datastore/backup.js';
import { loadOrCreateDataKey } from '../../src/datastore/encryption.js';
import { FileArea } from '../../src/datastore/file-area.js';
import { KvStore } from '../../src/datastore/kv-store.js';
import { isMimoeError, type ErrorCode } from '../../src/errors/index.js';
import { buildTar } from '../helpers/tar-builder.js';
import { allItems, killAndWait, readLinesUntil, spawnNode, tempDir, treeOf } from './helpers.js';

let dir: string;
let dbFile: string;
let filesDir: string;
let backups: string;

beforeEach(() => {
  dir = tempDir('mimoe-backup-');
  dbFile = path.join(dir, 'mims', 'api-m1.db');
  filesDir = path.join(dir, 'mims', 'api-m1.files');
  backups = path.join(dir, 'backups');
  fs.mkdirSync(path.dirname(dbFile), { recursive: true });
  fs.mkdirSync(backups);
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const b64 = (s: string): string => Buffer.from(s).toString('base64');

function rejectsWith(code: ErrorCode, pattern?: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isMimoeError(err), `expected a MimoeError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (pattern !== undefined) assert.match(err.message, pattern);
    return true;
  };
}

/** Entries of a tar file: name → bytes. */
async function untar(file: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const ex = extract();
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const c of entry as AsyncIterable<Buffer>) chunks.push(c);
      out.set(entry.header.name, Buffer.concat(chunks));
    }
  })();
  ex.end(fs.readFileSync(file));
  await done;
  return out;
}

function seed(key?: string): void {
  const store = KvStore.open(dbFile, { encryptionKey: key });
  store.setItem('a', 'alpha');
  store.setItemWithTag('m1', 'hello', 'chat');
  store.setItem('b', 'beta');
  store.setItemWithTag('m2', 'world', 'chat');
  store.setItem('a', 'alpha2');
  store.close();
  const area = new FileArea(filesDir);
  area.saveFile('top.txt', b64('top'));
  area.saveFile('nested/deep/file.bin', b64('deep'));
}

function liveState(key?: string): {
  items: Array<[string, string]>;
  chat: string[];
  files: Record<string, string>;
} {
  const store = KvStore.open(dbFile, { encryptionKey: key });
  try {
    const chat: string[] = [];
    store.eachItemByTag('chat', (k) => chat.push(k));
    return { items: allItems(store), chat, files: treeOf(filesDir) };
  } finally {
    store.close();
  }
}

/** Leftover staging files or directories next to the live data or the backups. */
function leftovers(): string[] {
  return [path.dirname(dbFile), backups].flatMap((d) =>
    fs.readdirSync(d).filter((n) => n.startsWith('.mimoe-')),
  );
}

describe('backupStore / restoreStore round trip', () => {
  for (const encrypted of [false, true]) {
    it(`restores items, order, tags and files exactly (${encrypted ? 'encrypted' : 'plain'})`, async () => {
      const key = encrypted ? loadOrCreateDataKey(dir) : undefined;
      seed(key);
      const before = liveState(key);
      const dest = path.join(backups, 'b1.tar');
      const { bytes, manifest } = await backupStore(dbFile, filesDir, dest, {
        encryptionKey: key,
        mimId: 'api-m1',
      });
      assert.equal(bytes, fs.statSync(dest).size);
      assert.equal(manifest.mimId, 'api-m1');
      assert.equal(manifest.encrypted, encrypted);
      assert.deepEqual(
        manifest.files.map((f) => f.path),
        ['nested/deep/file.bin', 'top.txt'],
      );

      const entries = await untar(dest);
      assert.deepEqual(
        [...entries.keys()],
        ['backup.json', 'store.db', 'files/nested/deep/file.bin', 'files/top.txt'],
      );
      const db = entries.get('store.db') as Buffer;
      assert.equal(db.includes('alpha2'), !encrypted, 'the store inside stays encrypted');
      assert.equal(db.subarray(0, 15).toString('latin1') === 'SQLite format 3', !encrypted);

      // Change everything, then restore.
      const store = KvStore.open(dbFile, { encryptionKey: key });
      store.removeItemsByTag('chat');
      store.setItem('later', 'x');
      store.close();
      new FileArea(filesDir).saveFile('later.txt', b64('x'));
      new FileArea(filesDir).deleteFile('top.txt');

      await restoreStore(dest, dbFile, filesDir, { encryptionKey: key });
      assert.deepEqual(liveState(key), before);
      assert.deepEqual(leftovers(), []);
    });
  }

  it('backs up a mim that never stored anything (no db, no file area)', async () => {
    const dest = path.join(backups, 'empty.tar');
    await backupStore(dbFile, filesDir, dest);
    await restoreStore(dest, dbFile, filesDir);
    assert.deepEqual(liveState(), { items: [], chat: [], files: {} });
  });

  it('replaces an existing backup file atomically', async () => {
    seed();
    const dest = path.join(backups, 'same.tar');
    fs.writeFileSync(dest, 'old content');
    await backupStore(dbFile, filesDir, dest);
    assert.equal((await untar(dest)).has('store.db'), true);
    assert.deepEqual(leftovers(), []);
  });

  it('refuses a backup path that is a directory', async () => {
    await assert.rejects(
      backupStore(dbFile, filesDir, backups),
      rejectsWith('ERR_BACKUP_PATH', /is a directory/),
    );
  });

  it('restores into a store that was open and written since (WAL and SHM replaced)', async () => {
    seed();
    const dest = path.join(backups, 'b.tar');
    await backupStore(dbFile, filesDir, dest);
    const store = KvStore.open(dbFile);
    for (let i = 0; i < 500; i++) store.setItem(`late-${i}`, 'x'.repeat(100));
    // Simulate a crashed mim: its WAL is left behind with uncheckpointed writes.
    fs.copyFileSync(`${dbFile}-wal`, path.join(dir, 'wal-copy'));
    store.close();
    fs.copyFileSync(path.join(dir, 'wal-copy'), `${dbFile}-wal`);
    await restoreStore(dest, dbFile, filesDir);
    const restored = KvStore.open(dbFile);
    assert.equal(restored.getItem('late-0'), null);
    assert.equal(restored.getItem('a'), 'alpha2');
    restored.close();
  });
});

describe('backup while another process writes', () => {
  // A plain child process writes rows and a counter in one transaction per row, as fast as it can.
  const WRITER = `
    const Database = require('better-sqlite3-multiple-ciphers');
    const [file, key] = process.argv.slice(1);
    const db = new Database(file, { timeout: 5000 });
    if (key) {
      db.pragma("cipher = 'sqlcipher'");
      db.pragma('legacy = 4');
      db.pragma('key = "x\\'' + key + '\\'"');
    }
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    const row = db.prepare('INSERT INTO items (key, value) VALUES (?, ?)');
    const counter = db.prepare("INSERT INTO items (key, value) VALUES ('counter', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    const write = db.transaction((i) => { row.run('row-' + i, 'x'.repeat(300)); counter.run(String(i + 1)); });
    for (let i = 0; ; i++) {
      write(i);
      if (i % 200 === 0) process.stdout.write(i + '\\n');
    }
  `;

  for (const encrypted of [false, true]) {
    it(`takes a consistent snapshot mid-way (${encrypted ? 'encrypted' : 'plain'})`, async (t) => {
      const key = encrypted ? loadOrCreateDataKey(dir) : undefined;
      KvStore.open(dbFile, { encryptionKey: key }).close();
      new FileArea(filesDir).saveFile('f.txt', b64('file'));
      const child = spawnNode(WRITER, key === undefined ? [dbFile] : [dbFile, key]);
      try {
        await readLinesUntil(child, (lines) => lines.length >= 10);
        const dest = path.join(backups, 'mid.tar');
        await backupStore(dbFile, filesDir, dest, { encryptionKey: key });
        const progress = await readLinesUntil(child, (lines) => lines.length >= 5);
        assert.ok(progress.length >= 5, 'the writer kept writing during and after the backup');
        await killAndWait(child, 'SIGKILL');

        const restoredDb = path.join(dir, 'restored', 'store.db');
        const restoredFiles = path.join(dir, 'restored', 'files');
        await restoreStore(dest, restoredDb, restoredFiles, { encryptionKey: key });
        const store = KvStore.open(restoredDb, { encryptionKey: key });
        let rows = 0;
        store.eachItem((k) => {
          if (k.startsWith('row-')) rows++;
        });
        const counter = Number(store.getItem('counter'));
        store.close();
        t.diagnostic(`snapshot holds ${rows} rows; the writer was at ${progress.at(-1)} after the backup`);
        assert.ok(rows >= 1800, `the snapshot holds the rows written before it (${rows})`);
        assert.equal(counter, rows, 'the counter agrees with the rows: the snapshot is one transaction');
        assert.deepEqual(treeOf(restoredFiles), { 'f.txt': 'file' });

        const db = new Database(restoredDb);
        try {
          if (key !== undefined) {
            db.pragma(`cipher = 'sqlcipher'`);
            db.pragma('legacy = 4');
            db.pragma(`key = "x'${key}'"`);
          }
          assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
        } finally {
          db.close();
        }
      } finally {
        await killAndWait(child, 'SIGKILL');
      }
    });
  }
});

describe('restoreStore refuses bad artefacts and leaves the live store untouched', () => {
  let good: string;
  let before: ReturnType<typeof liveState>;

  beforeEach(async () => {
    seed();
    good = path.join(backups, 'good.tar');
    await backupStore(dbFile, filesDir, good);
    // Make the live data differ from the backup, so an accidental restore would show.
    const store = KvStore.open(dbFile);
    store.setItem('live-only', 'still here');
    store.close();
    new FileArea(filesDir).saveFile('live-only.txt', b64('live'));
    before = liveState();
  });

  async function assertRefused(artefact: string, pattern?: RegExp, key?: string): Promise<void> {
    await assert.rejects(
      restoreStore(artefact, dbFile, filesDir, { encryptionKey: key }),
      rejectsWith('ERR_BACKUP_INVALID', pattern),
    );
    assert.deepEqual(liveState(), before);
    assert.deepEqual(leftovers(), []);
    assert.deepEqual(
      fs.readdirSync(path.dirname(filesDir)).filter((n) => n.startsWith('.mimoe-')),
      [],
    );
  }

  async function writeArtefact(
    name: string,
    entries: Array<{ name: string; content: Buffer | string }>,
  ): Promise<string> {
    const file = path.join(backups, name);
    fs.writeFileSync(file, await buildTar(entries));
    return file;
  }

  function manifestFor(db: Buffer, files: Array<{ path: string; content: Buffer }> = [], extra = {}): string {
    const blob = (b: Buffer): { size: number; sha256: string } => ({
      size: b.length,
      sha256: createHash('sha256').update(b).digest('hex'),
    });
    return JSON.stringify({
      format: 'mimoe-datastore-backup',
      version: 1,
      created: new Date().toISOString(),
      encrypted: false,
      schemaVersion: 1,
      db: blob(db),
      files: files.map((f) => ({ path: f.path, ...blob(f.content) })),
      ...extra,
    });
  }

  it('a missing file', async () => {
    await assertRefused(path.join(backups, 'nope.tar'), /there is no backup file nope\.tar/);
  });

  it('garbage bytes', async () => {
    const file = path.join(backups, 'garbage.tar');
    fs.writeFileSync(file, Buffer.from('this is not a tar archive at all, just some text '.repeat(40)));
    await assertRefused(file, /not a readable DataStore backup|not a DataStore backup/);
  });

  it('an empty file', async () => {
    const file = path.join(backups, 'empty.tar');
    fs.writeFileSync(file, '');
    await assertRefused(file, /empty or is not a tar archive/);
  });

  it('a truncated artefact (mid-entry and at a block boundary)', async () => {
    const bytes = fs.readFileSync(good);
    const half = path.join(backups, 'half.tar');
    fs.writeFileSync(half, bytes.subarray(0, Math.floor(bytes.length / 2) + 100));
    await assertRefused(half);
    // Cut after the store: a well-formed tar prefix that lacks the files the manifest lists.
    const entries = await untar(good);
    const cut =
      512 +
      512 * Math.ceil((entries.get('backup.json') as Buffer).length / 512) +
      512 +
      512 * Math.ceil((entries.get('store.db') as Buffer).length / 512);
    const boundary = path.join(backups, 'boundary.tar');
    fs.writeFileSync(boundary, Buffer.concat([bytes.subarray(0, cut), Buffer.alloc(1024)]));
    await assertRefused(boundary, /is incomplete/);
  });

  it('a tar of something else', async () => {
    const file = await writeArtefact('other.tar', [
      { name: 'manifest.json', content: '[]' },
      { name: 'index.js', content: 'console.log(1)' },
    ]);
    await assertRefused(file, /its first entry is not backup\.json/);
  });

  it('a manifest of another format or version', async () => {
    const db = fs.readFileSync(dbFile);
    for (const extra of [{ format: 'other' }, { version: 2 }, { encrypted: 'yes' }, { files: 'x' }]) {
      const file = await writeArtefact('m.tar', [
        { name: 'backup.json', content: manifestFor(db, [], extra) },
        { name: 'store.db', content: db },
      ]);
      await assertRefused(file, /backup\.json/);
    }
    const notJson = await writeArtefact('nj.tar', [{ name: 'backup.json', content: '{nope' }]);
    await assertRefused(notJson, /backup\.json is not JSON/);
  });

  it('an altered store (checksum mismatch)', async () => {
    const entries = await untar(good);
    const db = Buffer.from(entries.get('store.db') as Buffer);
    db[db.length - 10] = (db[db.length - 10] ?? 0) ^ 0xff;
    const file = await writeArtefact('altered.tar', [
      { name: 'backup.json', content: entries.get('backup.json') as Buffer },
      { name: 'store.db', content: db },
    ]);
    await assertRefused(file, /does not match its checksum/);
  });

  it('a foreign SQLite database with a matching manifest', async () => {
    const foreignFile = path.join(dir, 'foreign.db');
    const foreign = new Database(foreignFile);
    foreign.exec(
      "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users VALUES (1, 'x');",
    );
    foreign.pragma('user_version = 1');
    foreign.close();
    const db = fs.readFileSync(foreignFile);
    const file = await writeArtefact('foreign.tar', [
      { name: 'backup.json', content: manifestFor(db) },
      { name: 'store.db', content: db },
    ]);
    await assertRefused(file, /not a valid DataStore: its tables are not those of a DataStore/);
  });

  it('our schema plus a trigger (code a foreign file could smuggle in)', async () => {
    const trapFile = path.join(dir, 'trap.db');
    KvStore.open(trapFile).close();
    const trap = new Database(trapFile);
    trap.exec('CREATE TRIGGER t AFTER INSERT ON items BEGIN DELETE FROM items; END;');
    trap.pragma('journal_mode = DELETE');
    trap.close();
    const db = fs.readFileSync(trapFile);
    const file = await writeArtefact('trap.tar', [
      { name: 'backup.json', content: manifestFor(db) },
      { name: 'store.db', content: db },
    ]);
    await assertRefused(file, /tables are not those of a DataStore/);
  });

  it('a corrupt database with a matching checksum', async () => {
    const entries = await untar(good);
    const db = Buffer.from(entries.get('store.db') as Buffer);
    // Scribble over the second page (the first table's b-tree).
    db.fill(0x5a, 4096 + 8, 4096 + 600);
    const file = await writeArtefact('corrupt.tar', [
      { name: 'backup.json', content: manifestFor(db) },
      { name: 'store.db', content: db },
    ]);
    await assertRefused(file, /not a valid DataStore|cannot be opened/);
  });

  it('a non-database store.db', async () => {
    const db = Buffer.from('definitely not sqlite'.repeat(300));
    const file = await writeArtefact('notdb.tar', [
      { name: 'backup.json', content: manifestFor(db) },
      { name: 'store.db', content: db },
    ]);
    await assertRefused(file);
  });

  it('file paths that escape, entries the manifest does not list, links', async () => {
    const db = fs.readFileSync(path.join(dir, 'mims', 'api-m1.db'));
    const evil = Buffer.from('evil');
    const cases: Array<
      Array<{ name: string; content: Buffer | string; type?: 'symlink'; linkname?: string }>
    > = [
      [
        { name: 'backup.json', content: manifestFor(db, [{ path: '../../escape.txt', content: evil }]) },
        { name: 'store.db', content: db },
        { name: 'files/../../escape.txt', content: evil },
      ],
      [
        { name: 'backup.json', content: manifestFor(db, [{ path: '/abs.txt', content: evil }]) },
        { name: 'store.db', content: db },
      ],
      [
        { name: 'backup.json', content: manifestFor(db) },
        { name: 'store.db', content: db },
        { name: 'files/unlisted.txt', content: evil },
      ],
      [
        { name: 'backup.json', content: manifestFor(db) },
        { name: 'store.db', content: db },
        { name: 'files/link', content: '', type: 'symlink', linkname: '/etc/passwd' },
      ],
    ];
    for (const [i, entries] of cases.entries()) {
      const file = path.join(backups, `evil-${i}.tar`);
      fs.writeFileSync(file, await buildTar(entries));
      await assertRefused(file);
    }
    assert.equal(fs.existsSync(path.join(dir, 'escape.txt')), false);
  });

  it('an encrypted backup into a plain store, and with the wrong key', async () => {
    const encDb = path.join(dir, 'enc', 'store.db');
    const key = loadOrCreateDataKey(path.join(dir, 'node-a'));
    const store = KvStore.open(encDb, { encryptionKey: key });
    store.setItem('x', 'y');
    store.close();
    const encBackup = path.join(backups, 'enc.tar');
    await backupStore(encDb, path.join(dir, 'enc', 'files'), encBackup, { encryptionKey: key });
    await assertRefused(encBackup, /holds an encrypted store, and this mim's store is not encrypted/);
    const otherKey = loadOrCreateDataKey(path.join(dir, 'node-b'));
    await assertRefused(encBackup, /cannot be opened with this node's key/, otherKey);
    await assertRefused(good, /holds an unencrypted store, and this mim's store is encrypted/, otherKey);
  });

  it('the good artefact still restores after all that', async () => {
    await restoreStore(good, dbFile, filesDir);
    const state = liveState();
    assert.equal(
      state.items.some(([k]) => k === 'live-only'),
      false,
    );
    assert.deepEqual(state.files, { 'nested/deep/file.bin': 'deep', 'top.txt': 'top' });
  });
});

describe('resolveBackupPath', () => {
  it('resolves relative paths inside the backup dir, and creates the dir', () => {
    const root = path.join(dir, 'new-backups');
    assert.equal(resolveBackupPath(root, 'b.tar'), path.join(root, 'b.tar'));
    assert.equal(resolveBackupPath(root, 'mims/m1/b.tar'), path.join(root, 'mims', 'm1', 'b.tar'));
    assert.equal(resolveBackupPath(root, './x/../b.tar'), path.join(root, 'b.tar'));
    assert.ok(fs.statSync(root).isDirectory());
  });

  it('accepts an absolute path only when it is already inside', () => {
    assert.equal(resolveBackupPath(backups, path.join(backups, 'abs.tar')), path.join(backups, 'abs.tar'));
    const real = fs.realpathSync(backups);
    assert.equal(resolveBackupPath(backups, path.join(real, 'r.tar')), path.join(real, 'r.tar'));
    assert.throws(() => resolveBackupPath(backups, '/etc/passwd'), rejectsWith('ERR_BACKUP_PATH', /outside/));
    assert.throws(
      () => resolveBackupPath(backups, path.join(dir, 'mims', 'api-m1.db')),
      rejectsWith('ERR_BACKUP_PATH', /outside/),
    );
  });

  it('refuses .. escapes, the dir itself, empty and non-string paths', () => {
    for (const p of ['../x.tar', 'a/../../x.tar', '..', `../${path.basename(backups)}-evil/x.tar`]) {
      assert.throws(() => resolveBackupPath(backups, p), rejectsWith('ERR_BACKUP_PATH', /outside/));
    }
    assert.throws(
      () => resolveBackupPath(backups, '.'),
      rejectsWith('ERR_BACKUP_PATH', /backup directory itself/),
    );
    assert.throws(() => resolveBackupPath(backups, ''), rejectsWith('ERR_BACKUP_PATH', /non-empty string/));
    assert.throws(() => resolveBackupPath(backups, 42), rejectsWith('ERR_BACKUP_PATH', /non-empty string/));
    assert.throws(() => resolveBackupPath(backups, 'a\0b'), rejectsWith('ERR_BACKUP_PATH', /NUL/));
  });

  it('refuses a symlink inside the backup dir that leads out', () => {
    fs.symlinkSync(path.dirname(dbFile), path.join(backups, 'sneaky'));
    fs.symlinkSync(dbFile, path.join(backups, 'sneaky.tar'));
    assert.throws(
      () => resolveBackupPath(backups, 'sneaky/api-m1.db'),
      rejectsWith('ERR_BACKUP_PATH', /symbolic link/),
    );
    assert.throws(
      () => resolveBackupPath(backups, 'sneaky/new.tar'),
      rejectsWith('ERR_BACKUP_PATH', /symbolic link/),
    );
    assert.throws(
      () => resolveBackupPath(backups, 'sneaky.tar'),
      rejectsWith('ERR_BACKUP_PATH', /symbolic link/),
    );
  });
});
