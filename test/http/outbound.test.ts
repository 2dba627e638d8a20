import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { TestNode } from '../helpers/node-process.js';
import { fixtureImage } from '../helpers/fixtures.js';

interface CallEvent {
  kind: 'success' | 'error';
  result: {
    data?: string;
    done?: boolean;
    status?: number;
    headers?: Record<string, string>;
    message?: string;
    content?: string;
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The world a mim talks to: a real HTTP server with one route per behaviour under test. */
function startTarget(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      switch (url.pathname) {
        case '/json':
          res.setHeader('content-type', 'application/json');
          res.end('{"hello":"world"}');
          return;
        case '/echo':
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ method: req.method, headers: req.headers, body }));
          return;
        case '/missing':
          res.writeHead(404, { 'x-reason': 'gone' });
          res.end('not here');
          return;
        case '/loop':
          res.writeHead(302, { location: '/loop' });
          res.end();
          return;
        case '/redirect': {
          const n = Number(url.searchParams.get('n'));
          if (n <= 0) return void res.end('landed');
          res.writeHead(302, { location: `/redirect?n=${n - 1}` });
          res.end();
          return;
        }
        case '/stream': {
          res.setHeader('content-type', 'text/plain');
          let i = 0;
          const timer = setInterval(() => {
            res.write(`chunk-${i}`);
            if (++i === 4) {
              clearInterval(timer);
              res.end();
            }
          }, 40);
          return;
        }
        case '/utf8':
          // "é" (c3 a9) split across two writes.
          res.write(Buffer.from([0x63, 0x61, 0x66, 0xc3]));
          setTimeout(() => res.end(Buffer.from([0xa9])), 30);
          return;
        case '/bytes': {
          const n = Number(url.searchParams.get('n'));
          const data = Buffer.alloc(n, 'a');
          res.setHeader('content-length', String(n));
          res.end(data);
          return;
        }
        case '/slow':
          setTimeout(() => res.end('late'), 3000);
          return;
        default:
          res.writeHead(404);
          res.end();
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('context.http.request: outbound HTTP from mims', () => {
  let node: TestNode;
  let target: http.Server;
  let base: string;

  const call = async (options: Record<string, unknown>): Promise<CallEvent[]> => {
    const res = await fetch(`${node.url}/api/out/v1/call`, { method: 'POST', body: JSON.stringify(options) });
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as CallEvent[];
  };

  before(async () => {
    target = await startTarget();
    base = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
    node = await TestNode.start({ args: ['--mim-http-max-body-mb', '1'] });
    assert.equal((await node.upload(await fixtureImage('outbound', 'outbound-img'))).status, 200);
    assert.equal(
      (await node.deploy('outbound', 'outbound-img', { 'MCM.BASE_API_PATH': '/out/v1' })).status,
      201,
    );
  });
  after(async () => {
    await node.stop();
    target.closeAllConnections();
    await new Promise((resolve) => target.close(resolve));
  });

  it('GETs a URL: success gets data, status and lower-case headers', async () => {
    const [event] = await call({ url: `${base}/json` });
    assert.equal(event?.kind, 'success');
    assert.equal(event.result.data, '{"hello":"world"}');
    assert.equal(event.result.status, 200);
    assert.equal(event.result.headers?.['content-type'], 'application/json');
  });

  it('takes a URL without a scheme as http://', async () => {
    const [event] = await call({ url: `${base.slice('http://'.length)}/json` });
    assert.equal(event?.kind, 'success');
    assert.equal(event.result.data, '{"hello":"world"}');
    const [padded] = await call({ url: `  ${base}/json \n` });
    assert.equal(padded?.result.data, '{"hello":"world"}');
  });

  it('sends type, headers, string data, and object data as JSON', async () => {
    const [put] = await call({ url: `${base}/echo`, type: 'put', headers: { 'X-One': '1' }, data: 'plain' });
    const echoed = JSON.parse(put?.result.data ?? '{}') as {
      method: string;
      headers: Record<string, string>;
      body: string;
    };
    assert.equal(echoed.method, 'PUT');
    assert.equal(echoed.headers['x-one'], '1');
    assert.equal(echoed.body, 'plain');
    assert.equal(echoed.headers['content-type'], undefined);

    const [post] = await call({ url: `${base}/echo`, type: 'POST', data: { a: [1, 'two'] } });
    const json = JSON.parse(post?.result.data ?? '{}') as { headers: Record<string, string>; body: string };
    assert.deepEqual(JSON.parse(json.body), { a: [1, 'two'] });
    assert.equal(json.headers['content-type'], 'application/json');
  });

  it('splits extra headers smuggled into authorization after CRLF (the legacy quirk)', async () => {
    const [event] = await call({
      url: `${base}/echo`,
      authorization: 'Bearer abc\r\nx-mimik-port: 8083\r\nx-mimik-routing: node-2',
    });
    const { headers } = JSON.parse(event?.result.data ?? '{}') as { headers: Record<string, string> };
    assert.equal(headers['authorization'], 'Bearer abc');
    assert.equal(headers['x-mimik-port'], '8083');
    assert.equal(headers['x-mimik-routing'], 'node-2');
  });

  it('refuses header smuggling it cannot parse, and headers the node owns', async () => {
    const [noName] = await call({ url: `${base}/echo`, authorization: 'Bearer abc\r\nnot a header' });
    assert.equal(noName?.kind, 'error');
    assert.match(noName.result.message ?? '', /no name/);
    const [host] = await call({ url: `${base}/echo`, headers: { Host: 'evil' } });
    assert.match(host?.result.message ?? '', /header host is set by the node/);
    const [mark] = await call({ url: `${base}/echo`, headers: { 'X-Mimoe-Origin': 'forged' } });
    assert.match(mark?.result.message ?? '', /x-mimoe-origin/);
    const [crlf] = await call({ url: `${base}/echo`, headers: { 'x-a': 'v\r\nx-b: w' } });
    assert.match(crlf?.result.message ?? '', /invalid value for header x-a/);
  });

  it('sends a non-2xx answer to error with status, content and headers', async () => {
    const [event] = await call({ url: `${base}/missing` });
    assert.equal(event?.kind, 'error');
    assert.equal(event.result.status, 404);
    assert.equal(event.result.content, 'not here');
    assert.equal(event.result.headers?.['x-reason'], 'gone');
    assert.match(event.result.message ?? '', /404/);
  });

  it('follows up to 5 redirects, and fails past them', async () => {
    const [ok] = await call({ url: `${base}/redirect?n=5` });
    assert.equal(ok?.kind, 'success');
    assert.equal(ok.result.data, 'landed');
    const [tooMany] = await call({ url: `${base}/redirect?n=6` });
    assert.equal(tooMany?.kind, 'error');
    const [loop] = await call({ url: `${base}/loop` });
    assert.equal(loop?.kind, 'error');
    assert.doesNotMatch(loop.result.message ?? '', /Agent|Pool/);
  });

  it('proxy mode does not follow a redirect: the location is in the headers', async () => {
    const [event] = await call({ url: `${base}/redirect?n=3`, type: 'HEAD', mode: 'proxy' });
    assert.equal(event?.kind, 'success');
    assert.equal(event.result.status, 302);
    assert.equal(event.result.headers?.['location'], '/redirect?n=2');
  });

  it('stream mode calls success per chunk, then with { done: true }', async () => {
    const events = await call({ url: `${base}/stream`, mode: 'stream' });
    const last = events.at(-1);
    assert.deepEqual(last, { kind: 'success', result: { done: true } });
    const chunks = events.slice(0, -1);
    assert.ok(chunks.length >= 2, `chunks arrived one by one (${chunks.length})`);
    for (const e of chunks) {
      assert.equal(e.result.done, false);
      assert.equal(e.result.status, 200);
      assert.equal(e.result.headers?.['content-type'], 'text/plain');
    }
    assert.equal(chunks.map((e) => e.result.data).join(''), 'chunk-0chunk-1chunk-2chunk-3');
  });

  it('never splits a UTF-8 character between chunks', async () => {
    const events = await call({ url: `${base}/utf8`, mode: 'stream' });
    assert.equal(
      events
        .filter((e) => e.result.done === false)
        .map((e) => e.result.data)
        .join(''),
      'café',
    );
  });

  it('writes the body to outputFile in the file area, with progress in stream mode', async () => {
    const n = 300_000;
    const [plain] = await call({ url: `${base}/bytes?n=${n}`, outputFile: 'dl/plain.bin' });
    assert.equal(plain?.kind, 'success');
    assert.deepEqual(JSON.parse(plain.result.data ?? ''), { size: n, totalSize: n });
    const file = await fetch(`${node.url}/api/out/v1/file?path=dl/plain.bin`);
    assert.equal(file.status, 200);
    assert.equal((await file.arrayBuffer()).byteLength, n);

    const events = await call({ url: `${base}/bytes?n=${n}`, outputFile: 'dl/streamed.bin', mode: 'stream' });
    assert.deepEqual(events.at(-1), { kind: 'success', result: { done: true } });
    const progress = events
      .slice(0, -1)
      .map((e) => JSON.parse(e.result.data ?? '') as { size: number; totalSize: number });
    assert.ok(progress.length >= 1);
    assert.deepEqual(progress.at(-1), { size: n, totalSize: n });
    for (let i = 1; i < progress.length; i++)
      assert.ok((progress[i]?.size ?? 0) >= (progress[i - 1]?.size ?? 0));
  });

  it('confines outputFile to the file area', async () => {
    const [event] = await call({ url: `${base}/json`, outputFile: '../../escape.txt' });
    assert.equal(event?.kind, 'error');
    assert.doesNotMatch(event.result.message ?? '', new RegExp(node.workDir));
    // A name the file system refuses is told without the node's own path.
    const [long] = await call({ url: `${base}/json`, outputFile: 'a'.repeat(300) });
    assert.equal(long?.kind, 'error');
    assert.match(long.result.message ?? '', /a name in the path is too long/);
    assert.doesNotMatch(long.result.message ?? '', new RegExp(node.workDir));
  });

  it('caps a body held in memory (--mim-http-max-body-mb)', async () => {
    const [event] = await call({ url: `${base}/bytes?n=${2 * 1024 * 1024}` });
    assert.equal(event?.kind, 'error');
    assert.match(event.result.message ?? '', /exceeds the limit of 1048576 bytes/);
    const [small] = await call({ url: `${base}/bytes?n=1000` });
    assert.equal(small?.result.data?.length, 1000);
  });

  it('reports a refused connection, a socket timeout and bad options through error', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const [refused] = await call({ url: `http://127.0.0.1:${port}/` });
    assert.equal(refused?.kind, 'error');
    assert.match(refused.result.message ?? '', /ECONNREFUSED/);

    const started = Date.now();
    const [slow] = await call({ url: `${base}/slow`, socketTimeout: 300 });
    assert.equal(slow?.kind, 'error');
    assert.match(slow.result.message ?? '', /socket timeout/);
    assert.ok(Date.now() - started < 2500);

    for (const [options, pattern] of [
      [{ url: 'ftp://example.com/' }, /scheme ftp: is not supported/],
      [{ url: 'http://' }, /not a valid URL/],
      [{ url: `${base}/json`, type: 'GET /x' }, /type must be an HTTP method/],
      [{ url: `${base}/json`, mode: 'fast' }, /mode must be/],
      [{ url: `${base}/json`, socketTimeout: -1 }, /socketTimeout must be a positive number/],
      [{ url: `${base}/json`, headers: 'x' }, /headers must be an object/],
    ] as const) {
      const [event] = await call(options);
      assert.equal(event?.kind, 'error', JSON.stringify(options));
      assert.match(event.result.message ?? '', pattern);
    }
  });

  it('throws a TypeError at a call without options, url or with a non-function callback', async () => {
    for (const kind of ['none', 'no-url', 'callback']) {
      const body = (await (await fetch(`${node.url}/api/out/v1/bad?kind=${kind}`)).json()) as {
        threw: boolean;
        name: string;
      };
      assert.deepEqual([body.threw, body.name], [true, 'TypeError'], kind);
    }
  });

  it("never runs a callback after the request's context is gone", async () => {
    await fetch(`${node.url}/api/out/v1/after-end?url=${encodeURIComponent(`${base}/json`)}`);
    await sleep(300);
    const { fired } = (await (await fetch(`${node.url}/api/out/v1/fired`)).json()) as { fired: unknown };
    assert.equal(fired, null);
  });

  it('relays a streamed response to its caller as server-sent events, chunk by chunk', async () => {
    const res = await fetch(`${node.url}/api/out/v1/sse?url=${encodeURIComponent(`${base}/stream`)}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    assert.ok(res.body);
    const arrivals: { at: number; text: string }[] = [];
    const decoder = new TextDecoder();
    for await (const value of res.body as AsyncIterable<Uint8Array>) {
      arrivals.push({ at: Date.now(), text: decoder.decode(value) });
    }
    const text = arrivals.map((a) => a.text).join('');
    // Chunks that arrive together may share an event; their order and content may not change.
    const events = text.split('\n\n').filter((e) => e !== '');
    assert.equal(events.at(-1), 'event: end\ndata: done');
    assert.equal(
      events
        .slice(0, -1)
        .map((e) => e.replace(/^data: /, ''))
        .join(''),
      'chunk-0chunk-1chunk-2chunk-3',
    );
    // The source writes every 40 ms: the events must not all arrive at once at the end.
    assert.ok(arrivals.length >= 2, `${arrivals.length} network reads`);
    assert.ok((arrivals.at(-1)?.at ?? 0) - (arrivals[0]?.at ?? 0) >= 60);
  });

  it('calls its own node over loopback: other mims, itself, the MCM API', async () => {
    const loop = (await (await fetch(`${node.url}/api/out/v1/loop?depth=3`)).json()) as Record<
      string,
      unknown
    >;
    assert.deepEqual(loop, {
      depth: 3,
      inner: { depth: 2, inner: { depth: 1, inner: { depth: 0, node: String(node.port) } } },
    });

    const images = (await (
      await fetch(`${node.url}/api/out/v1/node?path=${encodeURIComponent('/mcm/v1/images')}`, {
        headers: { authorization: `Bearer ${node.mcmKey}` },
      })
    ).json()) as { status: number; data: string };
    assert.equal(images.status, 200);
    assert.match(images.data, /outbound-img/);

    // A mim never sees the node's mark on a call from another mim.
    const echo = (await (
      await fetch(
        `${node.url}/api/out/v1/node?path=${encodeURIComponent('/api/out/v1/call')}&type=POST&data=${encodeURIComponent(JSON.stringify({ url: `${base}/json` }))}`,
      )
    ).json()) as { status: number };
    assert.equal(echo.status, 200);
  });

  it("sends the node's mark only to the node's own address, never to another listener on its port", async () => {
    let seen: http.IncomingHttpHeaders | undefined;
    const impostor = http.createServer((req, res) => {
      seen = req.headers;
      res.end('{}');
    });
    await new Promise<void>((resolve) => impostor.listen(node.port, '127.0.0.2', resolve));
    try {
      const [event] = await call({ url: `http://127.0.0.2:${node.port}/anything` });
      assert.equal(event?.kind, 'success');
      assert.ok(seen !== undefined);
      assert.equal(seen['x-mimoe-origin'], undefined);
    } finally {
      await new Promise((resolve) => impostor.close(resolve));
    }
  });

  it('survives a mim calling itself without end: its requests end by their time limit', async () => {
    const up = await node.deploy('recursive', 'outbound-img', {
      'MCM.BASE_API_PATH': '/rec/v1',
      'MCM.MAX_EXECUTION_TIME_SEC': '2',
    });
    assert.equal(up.status, 201);
    const started = Date.now();
    const res = await fetch(`${node.url}/api/rec/v1/loop?depth=1000`);
    assert.ok([502, 504].includes(res.status), `status ${res.status}`);
    // Ended by the 2 s time limit (a deadlock would hold it until the calls' 20 s socket timeout).
    const took = Date.now() - started;
    assert.ok(took < 15_000, `answered after ${took} ms`);
    // The node still answers at once.
    const [event] = await call({ url: `${base}/json` });
    assert.equal(event?.kind, 'success');
  });

  it('1,000 calls at a dead address hold at most 16 sockets and end with the request', async () => {
    let open = 0;
    let peak = 0;
    let total = 0;
    const sockets = new Set<net.Socket>();
    // Accepts connections and never answers: every call hangs until it is aborted.
    const dead = net.createServer((socket) => {
      // Read (and drop) what arrives, so the client's close is seen.
      socket.resume();
      open++;
      total++;
      peak = Math.max(peak, open);
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        open--;
        sockets.delete(socket);
      });
    });
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(dead.address() as AddressInfo).port}/`;
    try {
      assert.equal(
        (
          await node.deploy('flood', 'outbound-img', {
            'MCM.BASE_API_PATH': '/flood/v1',
            'MCM.MAX_EXECUTION_TIME_SEC': '2',
          })
        ).status,
        201,
      );
      const started = Date.now();
      const res = await fetch(`${node.url}/api/flood/v1/flood?n=1000&url=${encodeURIComponent(url)}`);
      assert.equal(res.status, 504);
      // Ended by its 2 s time limit, well before the calls' own 20 s socket timeout.
      const took = Date.now() - started;
      assert.ok(took < 15_000, `answered after ${took} ms`);
      assert.ok(peak <= 16, `peak ${peak} sockets`);
      // undici makes one more connection per call aborted in flight, and closes it too.
      assert.ok(total <= 32, `${total} connections made`);
      // Aborted with the request: the sockets close.
      for (let i = 0; i < 50 && open > 0; i++) await sleep(100);
      assert.equal(open, 0);
      const [event] = await call({ url: `${base}/json` });
      assert.equal(event?.kind, 'success');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => dead.close(resolve));
    }
  });

  it('a streamed download no faster than the mim takes it keeps the sandbox small', async () => {
    const n = 4 * 1024 * 1024;
    const events = await call({ url: `${base}/bytes?n=${n}`, outputFile: 'big.bin', mode: 'stream' });
    assert.deepEqual(events.at(-1), { kind: 'success', result: { done: true } });
    const file = Buffer.from(await (await fetch(`${node.url}/api/out/v1/file?path=big.bin`)).arrayBuffer());
    assert.equal(
      createHash('sha256').update(file).digest('hex'),
      createHash('sha256').update(Buffer.alloc(n, 'a')).digest('hex'),
    );
  });
});
