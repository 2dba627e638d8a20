// The mim runtime contract (runtime.md §1–5) as real bundles see it: globals, context, req, res.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixturePath, json, mimSpec, request, startSupervisor, type TestSupervisor } from './support.js';

describe('guest runtime', () => {
  let t: TestSupervisor;

  before(async () => {
    t = await startSupervisor();
    t.supervisor.deploy(mimSpec('api-hello', fixturePath('hello-router')));
    t.supervisor.deploy(mimSpec('api-raw', fixturePath('raw-exports')));
    t.supervisor.deploy(mimSpec('api-async', fixturePath('async')));
  });

  after(async () => {
    await t.supervisor.close();
  });

  it('defines every global of runtime.md §2 and nothing of Node', async () => {
    const globals = json(await request(t.supervisor, 'api-hello', '/globals'));
    assert.deepEqual(globals, {
      mimikModule: 'object',
      Duktape: 'object',
      DuktapeEnc: 'function',
      DuktapeDec: 'function',
      TextEncoder: 'function',
      TextDecoder: 'function',
      setImmediate: 'function',
      clearImmediate: 'function',
      setTimeout: 'function',
      clearTimeout: 'function',
      setInterval: 'function',
      clearInterval: 'function',
      globalThis: 'object',
      global: 'object',
      globalIsGlobalThis: true,
      console: 'object',
      consoleMethods: ['function', 'function', 'function', 'function', 'function'],
      Buffer: 'function',
      BufferFrom: 'function',
      BufferByteLength: 'function',
      require: 'undefined',
      process: 'undefined',
      fetch: 'undefined',
      fs: 'undefined',
    });
  });

  it('runs a router-based mim: JSON route, 404 through the final handler, automatic OPTIONS', async () => {
    const hello = await request(t.supervisor, 'api-hello', '/hello');
    assert.equal(hello.status, 200);
    assert.equal(hello.headers?.['content-type'], 'application/json');
    assert.deepEqual(json(hello), { message: 'hello' });

    const missing = await request(t.supervisor, 'api-hello', '/nowhere?x=1');
    assert.equal(missing.status, 404);
    assert.deepEqual(json(missing), { error: 'no route for GET /nowhere?x=1' });

    // router answers OPTIONS itself, calling Buffer.byteLength (runtime.md §2).
    const options = await request(t.supervisor, 'api-hello', '/hello', { method: 'OPTIONS' });
    assert.equal(options.status, 200);
    assert.equal(options.body, 'GET, HEAD');
    assert.equal(options.headers?.['allow'], 'GET, HEAD');
  });

  it('gives req its members and context its env and info', async () => {
    const body = JSON.stringify({ a: 'é' });
    const echoed = json(
      await request(t.supervisor, 'api-hello', '/echo?page=2', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer abc' },
        body,
      }),
    );
    assert.deepEqual(echoed, {
      url: '/echo?page=2',
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer abc' },
      authorization: 'Bearer abc',
      body,
      env: { 'MCM.BASE_API_PATH': '/api-hello/v1', GREETING: 'hi', FLAG: 'true' },
      info: {
        serviceType: 'api-hello',
        apiRoot: '/api/api-hello/v1',
        httpPort: '8083',
        nodeId: 'node-1',
        node_id: 'node-1',
        accountId: '',
      },
    });
  });

  it('evaluates the bundle in a fresh context for every request', async () => {
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(json(await request(t.supervisor, 'api-raw', '/counter')), { counter: 1 });
    }
  });

  it('keeps context, context.edge, req and res extensible', async () => {
    assert.deepEqual(json(await request(t.supervisor, 'api-raw', '/extensible')), {
      context: true,
      edge: true,
      req: true,
      res: true,
    });
  });

  it('sends statuses and headers, with case-insensitive names and list values', async () => {
    const res = await request(t.supervisor, 'api-raw', '/status');
    assert.equal(res.status, 201);
    assert.deepEqual(res.headers, {
      'x-custom': 'two',
      'set-cookie': ['a=1', 'b=2'],
      'content-type': 'application/json',
    });
    assert.deepEqual(json(res), { setHeaderReturned: true });
  });

  it('decides Content-Type only when the mim set none', async () => {
    const text = await request(t.supervisor, 'api-raw', '/text');
    assert.equal(text.headers?.['content-type'], 'text/plain');
    assert.equal(text.body, 'plain text');

    const detected = await request(t.supervisor, 'api-raw', '/json');
    assert.equal(detected.headers?.['content-type'], 'application/json');

    const notJson = await request(t.supervisor, 'api-raw', '/not-json');
    assert.equal(notJson.headers?.['content-type'], undefined);
    assert.equal(notJson.body, 'not json {');

    const empty = await request(t.supervisor, 'api-raw', '/empty');
    assert.equal(empty.status, 204);
    assert.equal(empty.body, '');
    assert.equal(empty.headers?.['content-type'], undefined);
  });

  it('sends Buffer and Uint8Array bodies as bytes', async () => {
    const buffer = await request(t.supervisor, 'api-raw', '/buffer');
    assert.equal(buffer.headers?.['content-type'], 'application/octet-stream');
    assert.equal(buffer.body, 'buffer body');
    assert.equal((await request(t.supervisor, 'api-raw', '/uint8')).body, 'hi');
  });

  it('ignores calls after res.end()', async () => {
    const res = await request(t.supervisor, 'api-raw', '/after-end');
    assert.equal(res.status, 200);
    assert.equal(res.body, 'first');
  });

  it('answers a large body whole', async () => {
    const res = await request(t.supervisor, 'api-raw', '/big');
    assert.equal(res.body.length, 3 * 1024 * 1024 + 5);
    assert.ok(res.chunks.length > 1, 'sent over IPC in several pieces');
  });

  it('fails an invalid status code as an exception', async () => {
    const res = await request(t.supervisor, 'api-raw', '/bad-status');
    assert.equal(res.error?.code, 'ERR_MIM_EXCEPTION');
  });

  it('makes misuse fail clearly, inside the mim', async () => {
    assert.deepEqual(json(await request(t.supervisor, 'api-raw', '/unavailable')), {
      http: 'context.http.request: options must be an object, got undefined',
      form: 'handleFormRequest: options.found must be a function, got undefined',
      mimeFile: 'no file "a.txt" in the file area',
      absent: true,
    });
    const uncaught = await request(t.supervisor, 'api-raw', '/storage-uncaught');
    assert.equal(uncaught.error?.code, 'ERR_MIM_EXCEPTION');
    assert.deepEqual(json(await request(t.supervisor, 'api-raw', '/edge')), {
      edgeError: 'context.edge.requestBep is not available: this node has no mimik cluster service',
    });
  });

  it('round-trips Buffer, Duktape.enc/dec and TextEncoder/TextDecoder', async () => {
    assert.deepEqual(json(await request(t.supervisor, 'api-async', '/codec')), {
      bytesLength: 22,
      decodedMatches: true,
      sameBase64: true,
      base64: Buffer.from('héllo wörld ✓ 😀').toString('base64'),
      bufferBase64: Buffer.from('héllo wörld ✓ 😀').toString('base64'),
      bufferRoundTrip: true,
      hex: '6869',
      hexBack: 'hi',
      decIsUint8Array: true,
      jwtPiece: '{"a":1}',
      isBuffer: true,
      byteLength: 22,
      concat: 'ab',
      invalidUtf8: 'a\ufffdb',
      stream: '✓',
    });
  });

  it('lets a bundle declare or replace the Buffer global like any other (it is loaded on first use)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimoe-buffer-'));
    try {
      const bundles: Record<string, string> = {
        // A declaration keeps the global; the first read loads it.
        declared: 'var Buffer; var seen = typeof Buffer;',
        // An assignment replaces it, before or instead of any read.
        assigned: 'Buffer = function Mine() {}; var seen = Buffer.name;',
        // A function declaration replaces it too.
        function: 'function Buffer() {} var seen = Buffer.name;',
        // A global object frozen before the first use still gives a working Buffer.
        frozen: 'var seen = "frozen"; Object.freeze(globalThis);',
      };
      const seen: Record<string, unknown> = {};
      for (const [name, top] of Object.entries(bundles)) {
        const file = path.join(dir, `${name}.js`);
        fs.writeFileSync(
          file,
          `${top}\nmimikModule.exports = function (c, req, res) { res.end(JSON.stringify([seen, typeof globalThis.Buffer, Object.keys(globalThis).indexOf('Buffer') >= 0])); };`,
        );
        t.supervisor.deploy(mimSpec(`api-buffer-${name}`, file));
        seen[name] = json(await request(t.supervisor, `api-buffer-${name}`, '/'));
      }
      assert.deepEqual(seen, {
        declared: ['function', 'function', true],
        assigned: ['Mine', 'function', true],
        function: ['Buffer', 'function', true],
        frozen: ['frozen', 'function', true],
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('passes console output to onMimLog, tagged, formatted and cut', async () => {
    const before = t.logs.length;
    assert.equal((await request(t.supervisor, 'api-raw', '/log')).body, 'logged');
    const lines = t.logs.slice(before).filter((l) => l.mimId === 'api-raw');
    assert.deepEqual(
      lines.slice(0, 3).map((l) => [l.level, l.message]),
      [
        ['info', 'hello from the mim { n: 1 }'],
        ['warn', 'careful'],
        ['error', 'Error: reported'],
      ],
    );
    const long = lines[3];
    assert.ok(
      long !== undefined && long.message.startsWith('xxxx') && long.message.length < 8300,
      'long lines are cut',
    );
  });

  it('bounds the lines a chatty mim can log', async () => {
    const before = t.logs.length;
    assert.equal((await request(t.supervisor, 'api-raw', '/chatty')).body, 'chatty');
    const lines = t.logs.slice(before).filter((l) => l.mimId === 'api-raw');
    assert.ok(lines.length > 10 && lines.length <= 260, `${lines.length} lines passed`);
  });
});
