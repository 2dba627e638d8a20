// kill -9 of a node in the middle of writes through a mim: every acknowledged setItem is there
// after a restart on the same work dir (WAL, synchronous=NORMAL: a write is in the OS once
// setItem returns), and the node starts cleanly next to the dying sandboxes of the killed one.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { it } from 'node:test';
import { TestNode, tempDir } from '../helpers/node-process.js';
import { deployStorageMim, mimUrl, okOps } from '../helpers/storage-mim.js';
import { alive, childrenOf } from '../helpers/processes.js';

it('loses no acknowledged write when the node is SIGKILLed mid-writes, and restarts cleanly', async () => {
  const workDir = tempDir();
  try {
    let node = await TestNode.start({ workDir, keepWorkDir: true });
    await deployStorageMim(node, 'durable');
    await deployStorageMim(node, 'durable-enc', { 'MCM.DB_ENCRYPTION_SUPPORT': 'true' });
    const acked: Array<[string, string]> = [];
    let stop = false;
    const writer = async (mim: string, w: number): Promise<void> => {
      const base = mimUrl(node, mim);
      for (let i = 0; !stop; i++) {
        const key = `${mim}/w${w}-${i}`;
        try {
          const res = await fetch(`${base}/set?key=${encodeURIComponent(key)}&value=${i}`);
          // Acknowledged = the whole answer arrived.
          if (res.status === 200 && ((await res.json()) as { ok: boolean }).ok) acked.push([mim, key]);
        } catch {
          return; // the node is gone
        }
      }
    };
    const writers = [0, 1, 2].map((w) => writer('durable', w)).concat([writer('durable-enc', 0)]);
    while (acked.length < 400) await new Promise((r) => setTimeout(r, 5));
    const sandboxes = childrenOf(node.child.pid ?? -1);
    assert.ok(sandboxes.length >= 2, 'the node runs sandbox processes');
    node.child.kill('SIGKILL');
    await node.exited();
    stop = true;
    await Promise.all(writers);

    // Start again at once: the killed node's sandboxes may still be exiting.
    node = await TestNode.start({ workDir, keepWorkDir: true });
    try {
      for (const mim of ['durable', 'durable-enc']) {
        const keys = acked.filter(([m]) => m === mim).map(([, k]) => k);
        assert.ok(keys.length > 0, `${mim} acknowledged writes`);
        for (let i = 0; i < keys.length; i += 500) {
          const batch = keys.slice(i, i + 500);
          const values = await okOps(
            mimUrl(node, mim),
            batch.map((k) => ['getItem', k]),
          );
          for (const [j, v] of values.entries()) {
            const key = batch[j] as string;
            assert.equal(v, key.slice(key.lastIndexOf('-') + 1), `acknowledged ${key} survived`);
          }
        }
      }
      // Still writable, and nothing went wrong at start.
      assert.deepEqual(
        await okOps(mimUrl(node, 'durable'), [
          ['setItem', 'after', 'restart'],
          ['getItem', 'after'],
        ]),
        [null, 'restart'],
      );
      const errors = node.logs.filter((l) => l.level >= 50);
      assert.deepEqual(errors, [], 'no error logged by the restarted node');
      assert.ok(node.logs.some((l) => l['restoredMims'] === 2));
      // The killed node's sandboxes noticed their channel closed and left by themselves.
      const deadline = Date.now() + 5000;
      while (sandboxes.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(sandboxes.filter(alive), [], 'orphaned sandboxes exited');
    } finally {
      await node.stop();
    }
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
});
