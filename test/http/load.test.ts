// Load on one mim: a burst far above its concurrency cap is queued, not run at once (which would
// exceed the isolate's heap limit), and past the queue the node answers 503 ERR_MIM_BUSY.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { TestNode } from '../helpers/node-process.js';
import { fixtureImage } from '../helpers/fixtures.js';

interface Answer {
  status: number;
  body: string;
}

function get(agent: http.Agent, url: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

function errorOf(answer: Answer): string {
  return answer.status === 200 ? '' : ((JSON.parse(answer.body) as { error: string }).error ?? '');
}

describe('concurrent requests to one mim', () => {
  let node: TestNode;
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  before(async () => {
    node = await TestNode.start({ args: ['--mim-concurrency', '8', '--mim-queue', '20'] });
    assert.equal((await node.upload(await fixtureImage('hello-router', 'hello-img'))).status, 200);
    assert.equal((await node.upload(await fixtureImage('async', 'async-img'))).status, 200);
    assert.equal((await node.upload(await fixtureImage('hostile', 'hostile-img'))).status, 200);
    for (const [name, image] of [
      ['hello', 'hello-img'],
      ['slow', 'async-img'],
      ['hostile', 'hostile-img'],
    ] as const) {
      assert.equal((await node.deploy(name, image, { 'MCM.BASE_API_PATH': `/${name}` })).status, 201);
    }
  });
  after(async () => {
    agent.destroy();
    await node.stop();
  });

  it('queues a burst of 1000 keep-alive requests instead of running them all at once', async () => {
    const started = Date.now();
    // The cap of this node (8 running, 20 queued) would refuse most of them: a second node with
    // the defaults (32 running, 1000 queued) takes the whole burst.
    const big = await TestNode.start();
    try {
      assert.equal((await big.upload(await fixtureImage('hello-router', 'hello-img'))).status, 200);
      assert.equal((await big.deploy('hello', 'hello-img', { 'MCM.BASE_API_PATH': '/hello' })).status, 201);
      const burstAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
      try {
        const answers = await Promise.all(
          Array.from({ length: 1000 }, (_, i) => get(burstAgent, `${big.url}/api/hello/echo?i=${i}`)),
        );
        const tally = new Map<string, number>();
        for (const a of answers) {
          const key = `${a.status} ${errorOf(a)}`.trim();
          tally.set(key, (tally.get(key) ?? 0) + 1);
        }
        assert.deepEqual([...tally], [['200', 1000]], 'every request answered 200');
      } finally {
        burstAgent.destroy();
      }
    } finally {
      await big.stop();
    }
    // Guards against a burst that hangs, not a speed figure (bench/ measures speed).
    assert.ok(Date.now() - started < 45_000, `took ${Date.now() - started} ms`);
  });

  it('answers 503 ERR_MIM_BUSY past the queue, and serves the queued ones', async () => {
    // 8 run (each waits 50 ms), 20 wait, the other 22 are refused at once.
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => get(agent, `${node.url}/api/slow/timeout`)),
    );
    const ok = answers.filter((a) => a.status === 200).length;
    const busy = answers.filter((a) => a.status === 503 && errorOf(a) === 'ERR_MIM_BUSY');
    assert.equal(ok + busy.length, 50, answers.map((a) => `${a.status} ${a.body}`).join('\n'));
    assert.equal(ok, 28);
    assert.match((JSON.parse(busy[0]?.body ?? '{}') as { message: string }).message, /retry later/);
    // Other mims are not held by one mim's queue.
    assert.equal((await get(agent, `${node.url}/api/hello/echo`)).status, 200);
  });

  it('offers no WebAssembly to mims', async () => {
    const answer = await get(agent, `${node.url}/api/hostile/wasm`);
    assert.deepEqual(JSON.parse(answer.body), {
      webAssembly: 'undefined',
      inGlobal: false,
      viaFunction: 'undefined',
    });
  });
});
