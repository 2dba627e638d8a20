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

function send(agent: http.Agent, url: string, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { agent, method: body === undefined ? 'GET' : 'POST' }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function get(agent: http.Agent, url: string): Promise<Answer> {
  return send(agent, url);
}

/** A local server that holds every request until release() is called, then answers them all. */
async function startGate(): Promise<{
  url: string;
  arrived: () => number;
  release: () => void;
  close: () => Promise<void>;
}> {
  const held: http.ServerResponse[] = [];
  let arrivals = 0;
  let open = false;
  const server = http.createServer((_req, res) => {
    arrivals++;
    if (open) res.end('released');
    else held.push(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/`,
    arrived: () => arrivals,
    release: () => {
      open = true;
      for (const res of held.splice(0)) res.end('released');
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
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
    assert.equal((await node.upload(await fixtureImage('hostile', 'hostile-img'))).status, 200);
    assert.equal((await node.upload(await fixtureImage('outbound', 'outbound-img'))).status, 200);
    for (const [name, image] of [
      ['hello', 'hello-img'],
      ['hostile', 'hostile-img'],
      ['held', 'outbound-img'],
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
    // Each request to "held" waits on a gate server until the test opens it, so however slowly the
    // 50 requests arrive, 8 run, 20 wait and the other 22 are refused at once.
    const gate = await startGate();
    try {
      let refused = 0;
      let opened: () => void = () => undefined;
      const allRefused = new Promise<void>((resolve) => (opened = resolve));
      const body = JSON.stringify({ url: gate.url });
      const answers = Promise.all(
        Array.from({ length: 50 }, () =>
          send(agent, `${node.url}/api/held/call`, body).then((a) => {
            if (a.status === 503 && ++refused === 22) opened();
            return a;
          }),
        ),
      );
      // A node that refused fewer would hang here: open the gate after a while anyway and let
      // the tally below say what went wrong.
      const fallback = setTimeout(opened, 15_000);
      await allRefused;
      clearTimeout(fallback);
      // The refusals may come back before the running requests have reached the gate.
      for (let waited = 0; gate.arrived() < 8 && waited < 10_000; waited += 20) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(gate.arrived(), 8, 'the mim runs 8 requests at once');
      gate.release();
      const all = await answers;
      const ok = all.filter((a) => a.status === 200).length;
      const busy = all.filter((a) => a.status === 503 && errorOf(a) === 'ERR_MIM_BUSY');
      assert.equal(ok + busy.length, 50, all.map((a) => `${a.status} ${a.body}`).join('\n'));
      assert.equal(ok, 28);
      assert.equal(gate.arrived(), 28);
      assert.match((JSON.parse(busy[0]?.body ?? '{}') as { message: string }).message, /retry later/);
      // Other mims are not held by one mim's queue.
      assert.equal((await get(agent, `${node.url}/api/hello/echo`)).status, 200);
    } finally {
      await gate.close();
    }
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
