import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestNode } from '../helpers/node-process.js';
import { packMimImage } from '../../src/images/pack.js';

describe('a mim under steady load', () => {
  let node: TestNode;
  before(async () => {
    node = await TestNode.start();
    const bundle = Buffer.from("mimikModule.exports = function (c, req, res) { res.end('ok'); };");
    assert.equal((await node.upload(await packMimImage({ bundle, name: 'one' }))).status, 200);
    assert.equal((await node.deploy('one', 'one', { 'MCM.BASE_API_PATH': '/one' })).status, 201);
  });
  after(async () => {
    await node.stop();
  });

  // V8 frees finished requests' contexts late: without rotating the isolate before its heap limit,
  // about 2% of these requests failed with ERR_MIM_MEMORY.
  it('answers thousands of requests without one memory error', { timeout: 120_000 }, async () => {
    const counts = new Map<number, number>();
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next++ < 4000) {
          const res = await fetch(`${node.url}/api/one/x`);
          await res.arrayBuffer();
          counts.set(res.status, (counts.get(res.status) ?? 0) + 1);
        }
      }),
    );
    assert.deepEqual([...counts], [[200, 4000]]);
  });
});
