import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3-multiple-ciphers';
import { TestNode } from '../helpers/node-process.js';
import { fixtureImage } from '../helpers/fixtures.js';

describe('node start-up', () => {
  it('starts even when a recorded mim cannot be restored, and says which', async () => {
    let node = await TestNode.start({ keepWorkDir: true });
    const workDir = node.workDir;
    try {
      assert.equal((await node.upload(await fixtureImage('hello-router', 'hello-v1'))).status, 200);
      assert.equal(
        (await node.deploy('first', 'hello-v1', { 'MCM.BASE_API_PATH': '/hello/v1' })).status,
        201,
      );
      await node.stop();

      // A second record claiming the same mount (as a race at start-up once left behind).
      const db = new Database(path.join(workDir, 'node.db'));
      db.prepare(
        `INSERT INTO mims (id, client_id, name, image, image_id, blob, created, env)
         SELECT 'api-second', client_id, 'second', image, image_id, blob, created + 1, env FROM mims WHERE id = 'api-first'`,
      ).run();
      // And one whose record cannot be read at all.
      db.prepare(
        `INSERT INTO mims (id, client_id, name, image, image_id, blob, created, env)
         SELECT 'api-third', client_id, 'third', image, image_id, blob, created + 2, '{not json' FROM mims WHERE id = 'api-first'`,
      ).run();
      db.close();

      node = await TestNode.start({ workDir });
      assert.equal((await fetch(`${node.url}/api/hello/v1/hello`)).status, 200);
      assert.ok(
        node.logs.some((l) => l['mim'] === 'api-second' && l.msg.startsWith('mim not restored: mount path')),
        'the refused mim is named in the log',
      );
      assert.ok(node.logs.some((l) => l['mim'] === 'api-third' && l.msg.includes('env is unreadable')));
      const health = (await (await fetch(`${node.url}/healthz`)).json()) as { status: string };
      assert.equal(health.status, 'ok');
      // They are listed as not restored, and can be deleted.
      const list = (await (await node.mcm('GET', '/mims')).json()) as {
        data: { id: string; state: string; status: string }[];
      };
      const states = Object.fromEntries(list.data.map((m) => [m.id, `${m.state}/${m.status}`]));
      assert.deepEqual(states, {
        'api-first': 'started/up',
        'api-second': 'stopped/not-restored',
        'api-third': 'stopped/not-restored',
      });
      assert.equal((await node.mcm('DELETE', '/mims/api-second')).status, 200);
      assert.equal((await node.mcm('DELETE', '/mims/api-third')).status, 200);
    } finally {
      await node.stop();
    }
  });
});
