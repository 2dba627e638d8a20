import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { TestNode } from '../helpers/node-process.js';
import { fixtureImage } from '../helpers/fixtures.js';

/** Raw HTTP over a socket, for requests fetch refuses to send. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end(text));
    let out = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (out += c));
    socket.on('close', () => resolve(out));
    // A reset after the answer still leaves the answer to look at.
    socket.on('error', () => resolve(out));
  });
}

function multipart(port: number, key: string, contentType: string, body: Buffer): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/mcm/v1/images`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': contentType },
    body,
  });
}

describe('the node against hostile clients and mims', () => {
  let node: TestNode;
  before(async () => {
    node = await TestNode.start();
    assert.equal((await node.upload(await fixtureImage('hostile', 'hostile-img'))).status, 200);
    assert.equal(
      (
        await node.deploy('hostile', 'hostile-img', {
          'MCM.BASE_API_PATH': '/hostile',
          'MCM.MAX_EXECUTION_TIME_SEC': '1',
        })
      ).status,
      201,
    );
    assert.equal((await node.upload(await fixtureImage('hello-router', 'hello-img'))).status, 200);
  });
  after(async () => {
    await node.stop();
  });

  it("refuses a mim alias nested under another client's mount (409), allows a client to nest its own", async () => {
    assert.equal((await node.deploy('hr', 'hello-img', { 'MCM.BASE_API_PATH': '/hr/v1' })).status, 201);
    const other = { 'x-client-id': 'other' };
    assert.equal((await node.upload(await fixtureImage('hello-router', 'evil-img'), other)).status, 200);
    for (const base of ['/hr/v1/echo', '/hr']) {
      const res = await node.deploy(
        `evil${base.length}`,
        'evil-img',
        { 'MCM.BASE_API_PATH': base, 'MCM.API_ALIAS': 'true' },
        other,
      );
      assert.equal(res.status, 409, base);
      const body = (await res.json()) as { error: string; message: string };
      assert.equal(body.error, 'ERR_MOUNT_CONFLICT');
      assert.ok(!body.message.includes('api-hr'), "does not name the other client's mim");
    }
    const own = await node.deploy('hr-admin', 'hello-img', { 'MCM.BASE_API_PATH': '/hr/v1/admin' });
    assert.equal(own.status, 201);
    const echo = (await (await fetch(`${node.url}/api/hr/v1/admin/echo`)).json()) as {
      url: string;
      info: { apiRoot: string };
    };
    assert.equal(echo.url, '/echo', 'longest prefix wins');
    assert.equal(echo.info.apiRoot, '/api/hr/v1/admin');
    assert.equal(
      ((await (await fetch(`${node.url}/api/hr/v1/echo`)).json()) as { url: string }).url,
      '/echo',
    );
  });

  it('answers malformed multipart uploads with 400, never 500', async () => {
    const tar = await fixtureImage('raw-exports', 'mp-img');
    const cases: [string, string, Buffer][] = [
      ['no boundary', 'multipart/form-data', tar],
      ['boundary not in the body', 'multipart/form-data; boundary=zzz', tar],
      ['boundary of 5000 characters', `multipart/form-data; boundary=${'b'.repeat(5000)}`, tar],
      [
        'unterminated part',
        'multipart/form-data; boundary=XX',
        Buffer.concat([
          Buffer.from('--XX\r\nContent-Disposition: form-data; name="image"; filename="a.tar"\r\n\r\n'),
          tar,
        ]),
      ],
    ];
    for (const [label, type, body] of cases) {
      const res = await multipart(node.port, node.mcmKey, type, body);
      assert.equal(res.status, 400, label);
      assert.equal(((await res.json()) as { code: number }).code, 400, label);
    }
    const two = new FormData();
    two.append('image', new Blob([tar]), 'a.tar');
    two.append('image', new Blob([tar]), 'b.tar');
    const res = await node.mcm('POST', '/images', { body: two });
    assert.equal(res.status, 400);
  });

  it('logs an upload the client abandons half way as a client leaving, not as a failure', async () => {
    const boundary = 'cut-here';
    const before = node.logs.length;
    await new Promise<void>((resolve) => {
      const socket = net.connect(node.port, '127.0.0.1', () => {
        socket.write(
          `POST /mcm/v1/images HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${node.mcmKey}\r\n` +
            `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: 10000000\r\n\r\n` +
            `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.tar"\r\n` +
            `Content-Type: application/x-tar\r\n\r\n${'x'.repeat(200_000)}`,
          () => setTimeout(() => socket.destroy(), 200),
        );
      });
      socket.on('error', () => undefined);
      socket.on('close', () => resolve());
    });
    // The node notices the closed connection and says so once, at info level.
    for (let i = 0; i < 100 && !node.logs.slice(before).some((l) => /closed|left/.test(l.msg)); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const lines = node.logs.slice(before);
    // pino levels: 30 info, 50 error.
    assert.ok(
      lines.some((l) => l.level === 30 && /connection closed/.test(l.msg)),
      JSON.stringify(lines),
    );
    assert.deepEqual(
      lines.filter((l) => l.level >= 50),
      [],
    );
    assert.ok(!JSON.stringify(lines).includes('stack'));
    // Nothing of it stays behind.
    assert.deepEqual(fs.readdirSync(path.join(node.workDir, 'tmp')), []);
  });

  it('says why a JSON body with a __proto__ key is refused', async () => {
    const res = await fetch(`${node.url}/mcm/v1/mims`, {
      method: 'POST',
      headers: { authorization: `Bearer ${node.mcmKey}`, 'content-type': 'application/json' },
      body: '{"name":"p","image":"hello-img","env":{"MCM.BASE_API_PATH":"/p","__proto__":{"x":1}}}',
    });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { message: string }).message, /__proto__/);
  });

  it('answers oversized headers with a JSON 431', async () => {
    const out = await rawRequest(
      node.port,
      `GET /healthz HTTP/1.1\r\nHost: x\r\nx-client-id: ${'a'.repeat(70_000)}\r\n\r\n`,
    );
    assert.match(out, /^HTTP\/1\.1 431/);
    assert.match(out, /"error":"ERR_HEADERS_TOO_LARGE"/);
  });

  it("answers a URL with bad percent-encoding in the node's error shape", async () => {
    const res = await fetch(`${node.url}/mcm/v1/images/%E0%A4%A`);
    assert.equal(res.status, 400);
    const body = (await res.json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ['code', 'error', 'message']);
    assert.equal(body['error'], 'ERR_BAD_REQUEST');
  });

  it('answers unknown paths under /mcm and /jsonrpc with 404 ERR_NOT_FOUND', async () => {
    for (const p of ['/mcm/v1/nothing', '/jsonrpc/v9']) {
      const res = await fetch(`${node.url}${p}`);
      assert.equal(res.status, 404, p);
      assert.equal(((await res.json()) as { error: string }).error, 'ERR_NOT_FOUND', p);
    }
  });

  it('treats a 1xx status from a mim as an error instead of leaving the client waiting', async () => {
    const res = await fetch(`${node.url}/api/hostile/status-101`, { signal: AbortSignal.timeout(5000) });
    assert.equal(res.status, 500);
  });

  it('refuses a mim head larger than 64 KiB with a JSON 500', async () => {
    const res = await fetch(`${node.url}/api/hostile/many-headers`, { signal: AbortSignal.timeout(5000) });
    assert.equal(res.status, 500);
    assert.equal(((await res.json()) as { error: string }).error, 'ERR_MIM_EXCEPTION');
  });

  it('turns headers set but never flushed into a JSON error', async () => {
    const loop = await fetch(`${node.url}/api/hostile/head-then-loop`, { signal: AbortSignal.timeout(5000) });
    assert.equal(loop.status, 504);
    assert.equal(((await loop.json()) as { error: string }).error, 'ERR_MIM_TIMEOUT');
    const thrown = await fetch(`${node.url}/api/hostile/head-then-throw`, {
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(thrown.status, 500);
  });

  it("keeps a mim's console output on one escaped log line", async () => {
    assert.equal((await fetch(`${node.url}/api/hostile/forge-log`)).status, 200);
    await new Promise((r) => setTimeout(r, 300));
    const line = node.logs.find((l) => l['mim'] === 'api-hostile' && l.msg.includes('forged line'));
    assert.ok(line, 'the mim line is logged');
    assert.ok(line.msg.startsWith('fake'), 'as one record');
  });
});
