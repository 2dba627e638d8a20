// `mimoe mim backup|restore` against a real node, through the CLI binary.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, TestNode } from '../helpers/node-process.js';
import { deployStorageMim, mimUrl, okOps } from '../helpers/storage-mim.js';

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function mimoe(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    // The caller's own MCM_API_KEY must not leak into the cases that test where the key comes from.
    const base = { ...process.env };
    delete base['MCM_API_KEY'];
    execFile(process.execPath, [BIN, ...args], { env: { ...base, ...env } }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('mimoe mim backup / restore', () => {
  let node: TestNode;
  let conn: string[];
  before(async () => {
    node = await TestNode.start();
    await deployStorageMim(node, 'cli');
    await deployStorageMim(node, 'cli', {}, { 'x-client-id': 'acme' });
    conn = ['--url', node.url, '--work-dir', node.workDir];
  });
  after(async () => {
    await node.stop();
  });

  it('backs up and restores, with readable output and exit code 0', async () => {
    await okOps(mimUrl(node, 'cli'), [['setItem', 'k', 'before']]);
    const backup = await mimoe(['mim', 'backup', 'api-cli', 'cli/one.tar', ...conn]);
    assert.equal(backup.code, 0, backup.stderr);
    assert.match(backup.stdout, /Backed up api-cli: Backup completed successfully \(cli\/one\.tar\)/);
    assert.ok(fs.existsSync(path.join(node.workDir, 'backups', 'api', 'cli', 'one.tar')));

    await okOps(mimUrl(node, 'cli'), [['setItem', 'k', 'after']]);
    const restore = await mimoe(['mim', 'restore', 'api-cli', 'cli/one.tar', ...conn, '--json']);
    assert.equal(restore.code, 0, restore.stderr);
    assert.deepEqual(JSON.parse(restore.stdout), {
      action: 'restore',
      status: 'completed',
      message: 'Restore completed successfully',
      path: 'cli/one.tar',
      percentage: 100,
    });
    assert.deepEqual(await okOps(mimUrl(node, 'cli'), [['getItem', 'k']]), ['before']);
  });

  it('takes the key from --api-key or $MCM_API_KEY, and the client from --client-id', async () => {
    const withKey = await mimoe([
      'mim',
      'backup',
      'api-cli',
      'k.tar',
      '--url',
      node.url,
      '--api-key',
      node.mcmKey,
    ]);
    assert.equal(withKey.code, 0, withKey.stderr);
    const fromEnv = await mimoe(['mim', 'backup', 'api-cli', 'e.tar', '--url', node.url], {
      MCM_API_KEY: node.mcmKey,
    });
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    const acme = await mimoe(['mim', 'backup', 'acme-cli', 'acme.tar', ...conn, '--client-id', 'acme']);
    assert.equal(acme.code, 0, acme.stderr);
    // Each client's backups go to its own folder.
    assert.ok(fs.existsSync(path.join(node.workDir, 'backups', 'acme', 'acme.tar')));
  });

  it('exits 1 with the reason on stderr: failed restore, refused path, unknown mim, bad key, no node', async () => {
    fs.mkdirSync(path.join(node.workDir, 'backups', 'api'), { recursive: true });
    fs.writeFileSync(path.join(node.workDir, 'backups', 'api', 'garbage.tar'), 'garbage');
    const garbage = await mimoe(['mim', 'restore', 'api-cli', 'garbage.tar', ...conn, '--json']);
    assert.equal(garbage.code, 1);
    assert.match(garbage.stderr, /failed: .*\[ERR_BACKUP_INVALID\]/);
    assert.equal((JSON.parse(garbage.stdout) as { status: string }).status, 'failed');

    const escape = await mimoe(['mim', 'backup', 'api-cli', '../../etc/x.tar', ...conn]);
    assert.equal(escape.code, 1);
    assert.match(escape.stderr, /ERR_BACKUP_PATH.*HTTP 400/);

    const unknown = await mimoe(['mim', 'backup', 'api-nosuch', 'x.tar', ...conn]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /ERR_MIM_NOT_FOUND.*HTTP 404/);

    const otherClient = await mimoe(['mim', 'backup', 'acme-cli', 'x.tar', ...conn]);
    assert.equal(otherClient.code, 1, "another client's mim is not found");

    const badKey = await mimoe([
      'mim',
      'backup',
      'api-cli',
      'x.tar',
      '--url',
      node.url,
      '--api-key',
      'wrong-key',
    ]);
    assert.equal(badKey.code, 1);
    assert.match(badKey.stderr, /HTTP 403/);

    const noNode = await mimoe([
      'mim',
      'backup',
      'api-cli',
      'x.tar',
      '--url',
      'http://127.0.0.1:9',
      '--api-key',
      'k',
    ]);
    assert.equal(noNode.code, 1);
    assert.match(noNode.stderr, /cannot reach the node at http:\/\/127\.0\.0\.1:9/);

    const noKey = await mimoe([
      'mim',
      'backup',
      'api-cli',
      'x.tar',
      '--url',
      node.url,
      '--work-dir',
      '/nonexistent',
    ]);
    assert.equal(noKey.code, 1);
    assert.match(noKey.stderr, /no API key/);
  });

  it('explains itself with examples', async () => {
    const help = await mimoe(['mim', 'restore', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Examples:/);
    assert.match(help.stdout, /mimoe mim restore api-my-agent/);
  });
});
