// POST /mcm/v1/mims/{id}/dataStore (management.md §3) through real nodes: online backups while a
// mim writes, restores validated before they touch live data, paths confined to the backup dir.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestNode, tempDir } from '../helpers/node-process.js';
import { deployStorageMim, getJson, mimUrl, okOps } from '../helpers/storage-mim.js';

interface DataStoreStatus {
  action: string;
  status: string;
  message: string;
  path: string;
  percentage: number;
  error?: string;
}

describe('DataStore backup and restore over the MCM API', () => {
  let node: TestNode;
  let backupDir: string;
  /** The backup directory of the client `api`, where its paths resolve. */
  let apiDir: string;
  let base: string;
  before(async () => {
    backupDir = tempDir('mimoe-backups-');
    apiDir = path.join(backupDir, 'api');
    node = await TestNode.start({ args: ['--backup-dir', backupDir] });
    await deployStorageMim(node, 'data');
    base = mimUrl(node, 'data');
  });
  after(async () => {
    await node.stop();
    fs.rmSync(backupDir, { recursive: true, force: true });
  });

  const call = async (id: string, body: unknown, headers: Record<string, string> = {}) => {
    const res = await node.mcm('POST', `/mims/${id}/dataStore`, { body, headers });
    return {
      status: res.status,
      body: (await res.json()) as DataStoreStatus & { error?: string; code?: number },
    };
  };
  const save = (name: string, text: string) =>
    getJson(`${base}/save?name=${encodeURIComponent(name)}`, {
      method: 'POST',
      body: Buffer.from(text).toString('base64'),
    });
  const fileText = async (name: string) => {
    const res = await fetch(`${base}/file?name=${encodeURIComponent(name)}`);
    return res.status === 200 ? res.text() : undefined;
  };

  it("answers 404 for an unknown mim and for another client's mim", async () => {
    assert.equal((await call('api-nosuch', { action: 'backup', path: 'x.tar' })).status, 404);
    await deployStorageMim(node, 'theirs', {}, { 'x-client-id': 'other' });
    const foreign = await call('other-theirs', { action: 'backup', path: 'x.tar' });
    assert.equal(foreign.status, 404);
    assert.equal(foreign.body.error, 'ERR_MIM_NOT_FOUND');
    const own = await call(
      'other-theirs',
      { action: 'backup', path: 'theirs.tar' },
      { 'x-client-id': 'other' },
    );
    assert.equal(own.status, 200);
  });

  it('answers 400 for a bad action and for paths outside the backup directory', async () => {
    for (const body of [{ action: 'copy', path: 'x.tar' }, { path: 'x.tar' }, 'not json', []]) {
      const r = await call('api-data', body);
      assert.equal(r.status, 400, JSON.stringify(body));
    }
    fs.mkdirSync(apiDir, { recursive: true });
    fs.symlinkSync('/tmp', path.join(apiDir, 'link-out'));
    for (const action of ['backup', 'restore']) {
      for (const p of [
        '../escape.tar',
        '/etc/passwd',
        path.join(path.dirname(backupDir), 'x.tar'),
        // The backup dir's root, and another client's folder, are outside this client's folder.
        path.join(backupDir, 'x.tar'),
        path.join(backupDir, 'other', 'theirs.tar'),
        'link-out/x.tar',
        '',
        42,
      ]) {
        const r = await call('api-data', { action, path: p });
        assert.equal(r.status, 400, `${action} ${String(p)}`);
        assert.equal(r.body.error, 'ERR_BACKUP_PATH', `${action} ${String(p)}`);
      }
    }
    assert.equal(fs.existsSync(path.join(path.dirname(backupDir), 'escape.tar')), false);
    // Paths the file system refuses (under a file, too long) are the client's mistake too.
    fs.writeFileSync(path.join(apiDir, 'plain.tar'), 'x');
    for (const p of ['plain.tar/x.tar', 'a'.repeat(300)]) {
      const r = await call('api-data', { action: 'backup', path: p });
      assert.equal(r.status, 400, p.slice(0, 40));
      assert.equal(r.body.error, 'ERR_BACKUP_PATH', p.slice(0, 40));
    }
  });

  it('backs up the store and the file area, and restores them', async () => {
    await okOps(base, [
      ['setItem', 'a', '1'],
      ['setItemWithTag', 'b', '2', 'tag'],
    ]);
    await save('notes/n.txt', 'version 1');
    const done = await call('api-data', { action: 'backup', path: 'snap.tar' });
    assert.equal(done.status, 200);
    assert.deepEqual(done.body, {
      action: 'backup',
      status: 'completed',
      message: 'Backup completed successfully',
      path: 'snap.tar',
      percentage: 100,
    });
    assert.ok(fs.statSync(path.join(apiDir, 'snap.tar')).size > 0, 'written in --backup-dir');

    await okOps(base, [
      ['setItem', 'a', 'changed'],
      ['removeItem', 'b'],
      ['setItem', 'c', 'new'],
    ]);
    await save('notes/n.txt', 'version 2');
    await save('later.txt', 'later');

    // An absolute path inside the backup dir is accepted, and echoed as given.
    const absolute = path.join(apiDir, 'snap.tar');
    const restored = await call('api-data', { action: 'restore', path: absolute });
    assert.equal(restored.status, 200);
    assert.deepEqual(restored.body, {
      action: 'restore',
      status: 'completed',
      message: 'Restore completed successfully',
      path: absolute,
      percentage: 100,
    });
    assert.deepEqual(
      await okOps(base, [
        ['getItem', 'a'],
        ['getItem', 'c'],
        ['eachItemByTag', 'tag'],
      ]),
      ['1', null, [['b', '2']]],
    );
    assert.equal(await fileText('notes/n.txt'), 'version 1');
    assert.equal(await fileText('later.txt'), undefined);
  });

  it("keeps each client's backups in its own folder: no client restores or overwrites another's", async () => {
    // api's snap.tar exists (previous test); "other" names the same path and gets its own file.
    const before = fs.readFileSync(path.join(apiDir, 'snap.tar'));
    const asOther = { 'x-client-id': 'other' };
    const restore = await call('other-theirs', { action: 'restore', path: 'snap.tar' }, asOther);
    assert.notEqual(restore.body.status, 'completed', JSON.stringify(restore.body));
    const backup = await call('other-theirs', { action: 'backup', path: 'snap.tar' }, asOther);
    assert.equal(backup.body.status, 'completed');
    assert.ok(fs.statSync(path.join(backupDir, 'other', 'snap.tar')).size > 0);
    assert.deepEqual(fs.readFileSync(path.join(apiDir, 'snap.tar')), before, "api's backup untouched");
    for (const p of [path.join(apiDir, 'snap.tar'), '../api/snap.tar']) {
      const r = await call('other-theirs', { action: 'restore', path: p }, asOther);
      assert.equal(r.status, 400, p);
      assert.equal(r.body.error, 'ERR_BACKUP_PATH', p);
    }
  });

  it('refuses garbage, truncated and foreign backups with status failed and leaves the store as it was', async () => {
    await okOps(base, [['setItem', 'live', 'untouched']]);
    await save('live.txt', 'live file');
    const valid = fs.readFileSync(path.join(apiDir, 'snap.tar'));
    fs.writeFileSync(
      path.join(apiDir, 'garbage.tar'),
      Buffer.from('this is not a backup at all'.repeat(100)),
    );
    fs.writeFileSync(path.join(apiDir, 'truncated.tar'), valid.subarray(0, Math.floor(valid.length / 2)));
    const flipped = Buffer.from(valid);
    flipped[flipped.length - 2048] = (flipped[flipped.length - 2048] ?? 0) ^ 0xff;
    fs.writeFileSync(path.join(apiDir, 'altered.tar'), flipped);
    // Foreign: a real SQLite database of another program, and an empty file.
    fs.copyFileSync(path.join(node.workDir, 'node.db'), path.join(apiDir, 'foreign.db'));
    fs.writeFileSync(path.join(apiDir, 'empty.tar'), '');
    for (const name of [
      'garbage.tar',
      'truncated.tar',
      'altered.tar',
      'foreign.db',
      'empty.tar',
      'missing.tar',
    ]) {
      const r = await call('api-data', { action: 'restore', path: name });
      assert.equal(r.status, 200, name);
      assert.equal(r.body.status, 'failed', name);
      assert.equal(r.body.error, 'ERR_BACKUP_INVALID', name);
      assert.equal(r.body.percentage, 0, name);
      assert.equal(r.body.path, name);
      assert.equal(r.body.action, 'restore');
      assert.ok(r.body.message.length > 10, `${name}: ${r.body.message}`);
      assert.deepEqual(await okOps(base, [['getItem', 'live']]), ['untouched'], `${name}: store untouched`);
      assert.equal(await fileText('live.txt'), 'live file', `${name}: files untouched`);
    }
  });

  it('takes a consistent backup while the mim writes continuously, and restores it', async () => {
    await deployStorageMim(node, 'busy');
    const busy = mimUrl(node, 'busy');
    let stop = false;
    let written = 0;
    // Each request writes k<i> then last=i: a snapshot holds k0..k<last>, and maybe k<last+1>.
    const load = (async () => {
      while (!stop) {
        await okOps(busy, [
          ['setItem', `k${written}`, `v${written}`],
          ['setItem', 'last', String(written)],
        ]);
        written++;
      }
    })();
    const until = async (n: number) => {
      while (written < n) await new Promise((r) => setTimeout(r, 10));
    };
    await until(50);
    const backup = await call('api-busy', { action: 'backup', path: 'busy/under-load.tar' });
    assert.equal(backup.status, 200);
    assert.equal(backup.body.status, 'completed');
    const atBackup = written;
    await until(atBackup + 50);

    // Restore while the load goes on: its requests are held during the swap, none fails.
    const restore = await call('api-busy', { action: 'restore', path: 'busy/under-load.tar' });
    assert.equal(restore.body.status, 'completed', JSON.stringify(restore.body));
    stop = true;
    await load;

    // The load kept writing after the restore; look at the backup's own content in a fresh mim.
    await deployStorageMim(node, 'check');
    const check = await call('api-check', { action: 'restore', path: 'busy/under-load.tar' });
    assert.equal(check.body.status, 'completed');
    const [last] = (await okOps(mimUrl(node, 'check'), [['getItem', 'last']])) as [string];
    const L = Number(last);
    assert.ok(L >= 49 && L <= atBackup, `backup taken at ${L}, requested after ${atBackup - 1}`);
    const { body } = await getJson(`${mimUrl(node, 'check')}/scan?prefix=k`);
    const scan = body as { count: number; matching: number; inOrder: boolean };
    assert.equal(scan.inOrder, true);
    assert.ok(scan.matching === L + 1 || scan.matching === L + 2, `${scan.matching} k-items with last=${L}`);
  });

  it('backs up an encrypted store encrypted, and restores only into a store of the same kind', async () => {
    await deployStorageMim(node, 'vault', { 'MCM.DB_ENCRYPTION_SUPPORT': 'true' });
    const vault = mimUrl(node, 'vault');
    const marker = 'VAULT-SECRET-31337';
    await okOps(vault, [['setItem', 'secret', marker.repeat(20)]]);
    assert.equal((await call('api-vault', { action: 'backup', path: 'vault.tar' })).body.status, 'completed');
    const artefact = fs.readFileSync(path.join(apiDir, 'vault.tar'));
    assert.equal(artefact.includes(marker), false, 'the backup does not reveal the value');
    await okOps(vault, [['setItem', 'secret', 'overwritten']]);
    assert.equal(
      (await call('api-vault', { action: 'restore', path: 'vault.tar' })).body.status,
      'completed',
    );
    assert.deepEqual(await okOps(vault, [['getItem', 'secret']]), [marker.repeat(20)]);

    const wrongKind = await call('api-vault', { action: 'restore', path: 'snap.tar' });
    assert.equal(wrongKind.body.status, 'failed');
    assert.equal(wrongKind.body.error, 'ERR_BACKUP_INVALID');
    const intoPlain = await call('api-data', { action: 'restore', path: 'vault.tar' });
    assert.equal(intoPlain.body.status, 'failed');
    assert.deepEqual(await okOps(vault, [['getItem', 'secret']]), [marker.repeat(20)]);
  });
});
