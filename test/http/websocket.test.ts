import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';
import { TestNode } from '../helpers/node-process.js';
import { fixtureImage } from '../helpers/fixtures.js';

interface Frame {
  type: string;
  message?: string;
}

/** A real ws client that keeps every frame it receives. */
class Client {
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  /** The client's TCP socket: pausing it stops reading, as a slow client would. */
  socket: net.Socket | undefined;
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      assert.equal(isBinary, false, 'events are text frames');
      this.frames.push(JSON.parse(data.toString('utf8')) as Frame);
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) =>
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  static open(url: string): Promise<Client> {
    let socket: net.Socket | undefined;
    const ws = new WebSocket(url, {
      createConnection: ((options: net.NetConnectOpts) =>
        (socket = net.createConnection(options))) as typeof net.createConnection,
    });
    const client = new Client(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => {
        client.socket = socket;
        resolve(client);
      });
      ws.once('error', reject);
    });
  }

  /** Resolves once `n` frames in all have arrived. */
  async until(n: number, timeoutMs = 10_000): Promise<Frame[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${n} frames, got ${this.frames.length}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.frames;
  }

  close(): void {
    this.ws.terminate();
  }
}

/** Tries an upgrade that the node must refuse: its status and JSON body. */
function refusedUpgrade(url: string): Promise<{ status: number; body: { code: number; error: string } }> {
  const ws = new WebSocket(url);
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.terminate();
      reject(new Error(`the upgrade to ${url} was accepted`));
    });
    ws.once('error', () => undefined);
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        ws.terminate();
        resolve({
          status: res.statusCode ?? 0,
          body: JSON.parse(text) as { code: number; error: string },
        });
      });
    });
  });
}

async function getJson(url: string): Promise<Record<string, unknown>> {
  const res = await fetch(url);
  assert.equal(res.status, 200, `${url}: ${await res.clone().text()}`);
  return (await res.json()) as Record<string, unknown>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('WebSocket events from mims', () => {
  let node: TestNode;
  let ws: string;
  const acme = { 'x-client-id': 'acme' };
  const clients: Client[] = [];
  const open = async (path: string): Promise<Client> => {
    const client = await Client.open(`${ws}${path}`);
    clients.push(client);
    return client;
  };

  before(async () => {
    node = await TestNode.start();
    ws = `ws://127.0.0.1:${node.port}`;
    assert.equal((await node.upload(await fixtureImage('events', 'events-img'))).status, 200);
    assert.equal((await node.upload(await fixtureImage('events', 'events-img'), acme)).status, 200);
    const deploy = async (
      name: string,
      env: Record<string, string>,
      headers: Record<string, string> = {},
    ): Promise<void> => {
      const res = await node.deploy(name, 'events-img', env, headers);
      assert.equal(res.status, 201, `deploy ${name}: ${await res.clone().text()}`);
    };
    // Mim A: the short env name, mounted for client acme and at the /api alias.
    await deploy(
      'a',
      { 'MCM.BASE_API_PATH': '/a/v1', WEBSOCKET_SUPPORT: 'true', 'MCM.API_ALIAS': 'true' },
      acme,
    );
    await deploy('b', { 'MCM.BASE_API_PATH': '/b/v1', 'MCM.WEBSOCKET_SUPPORT': 'true' });
    await deploy('plain', { 'MCM.BASE_API_PATH': '/plain/v1' });
  });

  after(async () => {
    for (const client of clients) client.close();
    await node.stop();
  });

  it('sends each event as one text frame to the clients of the mim, on its mount path and alias', async () => {
    const mount = await open('/acme/a/v1');
    const alias = await open('/api/a/v1/?since=now');
    const other = await open('/api/b/v1');
    await getJson(`${node.url}/acme/a/v1/send?type=greeting&message=hello`);
    await getJson(`${node.url}/api/a/v1/send?type=bare`);
    await getJson(`${node.url}/api/a/v1/object?type=obj`);
    const expected = [
      { type: 'greeting', message: 'hello' },
      { type: 'bare' },
      { type: 'obj', message: '{"n":1,"list":["a"]}' },
    ];
    assert.deepEqual(await mount.until(3), expected);
    assert.deepEqual(await alias.until(3), expected);
    // Mim B's own event reaches its client, and nothing of mim A did before it.
    await getJson(`${node.url}/api/b/v1/send?type=from-b`);
    assert.deepEqual(await other.until(1), [{ type: 'from-b' }]);
    await sleep(100);
    assert.equal(mount.frames.length, 3, "mim B's event must not reach mim A's clients");
    assert.equal(alias.frames.length, 3);
    for (const client of [mount, alias, other]) client.close();
  });

  it('delivers events dispatched after res.end and from timers; a flush without argument is a no-op', async () => {
    const client = await open('/api/b/v1');
    assert.deepEqual(await getJson(`${node.url}/api/b/v1/flush`), { flushed: true });
    await getJson(`${node.url}/api/b/v1/after-end?type=late`);
    await getJson(`${node.url}/api/b/v1/later?type=timer`);
    assert.deepEqual(await client.until(2), [
      { type: 'late', message: 'after end' },
      { type: 'timer', message: 'from a timer' },
    ]);
    await sleep(100);
    assert.equal(client.frames.length, 2, 'the flush sent nothing');
    client.close();
  });

  it('throws a TypeError for a non-string type in a mim with support, and does nothing without support', async () => {
    const supported = await getJson(`${node.url}/api/b/v1/bad`);
    assert.equal(supported['threw'], true);
    assert.equal(supported['isTypeError'], true);
    assert.deepEqual(await getJson(`${node.url}/api/plain/v1/bad`), { threw: false });
    assert.deepEqual(await getJson(`${node.url}/api/plain/v1/send?type=x&count=3`), {
      sent: 3,
      supported: 'false',
    });
    assert.deepEqual(await getJson(`${node.url}/api/plain/v1/flush`), { flushed: true });
  });

  it('refuses upgrades with a JSON error before upgrading: no mim, no support, not the mount', async () => {
    const none = await refusedUpgrade(`${ws}/api/nothing/here`);
    assert.equal(none.status, 404);
    assert.equal(none.body.error, 'ERR_ROUTE_NOT_FOUND');
    const plain = await refusedUpgrade(`${ws}/api/plain/v1`);
    assert.equal(plain.status, 400);
    assert.deepEqual([plain.body.code, plain.body.error], [400, 'ERR_WEBSOCKET_UNSUPPORTED']);
    const below = await refusedUpgrade(`${ws}/api/b/v1/send`);
    assert.equal(below.status, 404);
    const mcm = await refusedUpgrade(`${ws}/mcm/v1/mims`);
    assert.equal(mcm.status, 404);
    // Plain HTTP to the same paths is untouched by the upgrade handling.
    assert.equal((await fetch(`${node.url}/mcm/v1/mims`)).status, 403);
  });

  it('caps events per request and frame size, with one log line each', async () => {
    const client = await open('/api/b/v1');
    await getJson(`${node.url}/api/b/v1/send?type=many&count=150`);
    await getJson(`${node.url}/api/b/v1/send?type=huge&size=70000`);
    // Within the UTF-16 pre-check of the guest, but over 64 KiB once JSON-escaped: the host drops it.
    await getJson(`${node.url}/api/b/v1/send?type=quoted&size=40000&quotes=1`);
    await getJson(`${node.url}/api/b/v1/send?type=last`);
    const frames = await client.until(101);
    assert.equal(frames.filter((f) => f.type === 'many').length, 100);
    assert.deepEqual(frames[100], { type: 'last' });
    const warnings = node.logs.filter((l) => l.mim === 'api-b' && /WebSocket event/.test(l.msg));
    assert.equal(warnings.filter((l) => /limit reached/.test(l.msg)).length, 1);
    assert.equal(warnings.filter((l) => /larger than/.test(l.msg)).length, 2);
    client.close();
  });

  it('closes a client that stops reading with 1013 while a fast client keeps receiving', async (t) => {
    const fast = await open('/api/b/v1');
    const slow = await open('/api/b/v1');
    assert.ok(slow.socket !== undefined);
    slow.socket.pause();
    const slowClosed = (): boolean => node.logs.some((l) => l.msg.startsWith('websocket client too slow'));
    let sent = 0;
    for (let i = 0; i < 200 && !slowClosed(); i++) {
      await getJson(`${node.url}/api/b/v1/send?type=bulk&count=10&size=60000`);
      sent += 10;
      await fast.until(sent, 20_000);
    }
    assert.ok(slowClosed(), 'the slow client was never closed');
    const line = node.logs.find((l) => l.msg.startsWith('websocket client too slow'));
    t.diagnostic(
      `slow client closed after ${sent} events of 60 KB; ${String(line?.['bufferedBytes'])} bytes buffered`,
    );
    // The fast client keeps receiving after the slow one was dropped.
    await getJson(`${node.url}/api/b/v1/send?type=after`);
    const frames = await fast.until(sent + 1);
    assert.deepEqual(frames[sent], { type: 'after' });
    slow.socket.resume();
    const closed = await slow.closed;
    assert.equal(closed.code, 1013);
    assert.ok(slow.frames.length < sent, 'the slow client missed events');
    fast.close();
  });

  it('ignores what clients send, and closes one that sends more than 4 KiB in a frame with 1009', async () => {
    const client = await open('/api/b/v1');
    client.ws.send('hello?');
    await getJson(`${node.url}/api/b/v1/send?type=still-open`);
    assert.deepEqual(await client.until(1), [{ type: 'still-open' }]);
    client.ws.send('x'.repeat(5000));
    assert.equal((await client.closed).code, 1009);
  });

  it('closes the clients of a mim with 1001 when it is undeployed', async () => {
    const dep = await node.deploy('gone', 'events-img', {
      'MCM.BASE_API_PATH': '/gone/v1',
      'MCM.WEBSOCKET_SUPPORT': 'true',
    });
    assert.equal(dep.status, 201);
    const client = await open('/api/gone/v1');
    const survivor = await open('/api/b/v1');
    assert.equal((await node.mcm('DELETE', '/mims/api-gone')).status, 200);
    assert.equal((await client.closed).code, 1001);
    assert.equal((await refusedUpgrade(`${ws}/api/gone/v1`)).status, 404);
    await getJson(`${node.url}/api/b/v1/send?type=still`);
    assert.deepEqual(await survivor.until(1), [{ type: 'still' }]);
    survivor.close();
  });

  it('closes the clients of a mim stopped for crashing, and refuses new ones until it is redeployed', async () => {
    assert.equal((await node.upload(await fixtureImage('fatal', 'fatal-img'))).status, 200);
    const dep = await node.deploy('crashy', 'fatal-img', {
      'MCM.BASE_API_PATH': '/crashy/v1',
      'MCM.WEBSOCKET_SUPPORT': 'true',
    });
    assert.equal(dep.status, 201);
    const client = await open('/api/crashy/v1');
    for (let i = 0; i < 3; i++) assert.ok((await fetch(`${node.url}/api/crashy/v1/fatal`)).status >= 500);
    assert.equal((await client.closed).code, 1001);
    const refused = await refusedUpgrade(`${ws}/api/crashy/v1`);
    assert.deepEqual([refused.status, refused.body.error], [503, 'ERR_MIM_STOPPED']);
  });

  it('counts clients and frames in /metrics', async () => {
    const client = await open('/api/b/v1');
    await sleep(50);
    const text = await (await fetch(`${node.url}/metrics`)).text();
    assert.match(text, /^mimoe_websocket_clients [1-9]\d*$/m);
    assert.match(text, /^mimoe_websocket_frames_sent_total [1-9]\d*$/m);
    assert.match(text, /^mimoe_websocket_frames_dropped_total [1-9]\d*$/m);
    client.close();
  });
});

describe('WebSocket clients at node shutdown', () => {
  it('are closed with 1001 and do not hold the shutdown up', async () => {
    const node = await TestNode.start();
    assert.equal((await node.upload(await fixtureImage('events', 'events-img'))).status, 200);
    const env = { 'MCM.BASE_API_PATH': '/s/v1', 'MCM.WEBSOCKET_SUPPORT': 'true' };
    assert.equal((await node.deploy('s', 'events-img', env)).status, 201);
    const client = await Client.open(`ws://127.0.0.1:${node.port}/api/s/v1`);
    const started = Date.now();
    await node.stop();
    const ms = Date.now() - started;
    assert.equal((await client.closed).code, 1001);
    assert.ok(ms < 5_000, `shutdown took ${ms} ms`);
  });
});
