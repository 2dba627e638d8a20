// Output a client does not take fast enough: the node paces the mim (and res.writeMimeFile) to the
// client instead of buffering, and a mim that writes a flood in one synchronous loop gets an error.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { TestNode } from '../helpers/node-process.js';
import { fixtureImage } from '../helpers/fixtures.js';
import { childrenOf, rssOf } from '../helpers/processes.js';

const MIB = 1024 * 1024;

/** VmRSS of a process, in bytes (Linux). */
interface Peak {
  main: number;
  sandbox: number;
}

/**
 * GETs `url` on a raw socket that reads nothing for `stallMs`, then reads in small sips; samples
 * the RSS of the node and its sandboxes meanwhile. Resolves to the bytes received and the peaks.
 */
function slowRead(node: TestNode, pathname: string, stallMs: number): Promise<{ bytes: number; peak: Peak }> {
  const pid = node.child.pid as number;
  const sandboxes = childrenOf(pid);
  const peak: Peak = { main: 0, sandbox: 0 };
  const sample = (): void => {
    peak.main = Math.max(peak.main, rssOf(pid));
    for (const child of sandboxes) peak.sandbox = Math.max(peak.sandbox, rssOf(child));
  };
  return new Promise((resolve, reject) => {
    const sampler = setInterval(sample, 50);
    const socket = net.connect(node.port, '127.0.0.1', () => {
      socket.write(`GET ${pathname} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    });
    // A small receive window, and nothing read at first: the node must hold the mim back.
    socket.pause();
    let bytes = 0;
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      // Sip: a pause every few MiB keeps the client slow throughout.
      if (bytes % (8 * MIB) < chunk.length) {
        socket.pause();
        setTimeout(() => socket.resume(), 20);
      }
    });
    setTimeout(() => socket.resume(), stallMs);
    socket.on('close', () => {
      clearInterval(sampler);
      sample();
      resolve({ bytes, peak });
    });
    socket.on('error', (err) => {
      clearInterval(sampler);
      reject(err);
    });
  });
}

describe('back-pressure and output limits', () => {
  let node: TestNode;
  let baseline: Peak;
  before(async () => {
    // A sandbox holds the mim's isolate, whose garbage V8 collects lazily up to the heap limit: a
    // small limit keeps the sandbox's own bound meaningful.
    node = await TestNode.start({ args: ['--sandbox-processes', '2', '--mim-memory-mb', '48'] });
    assert.equal((await node.upload(await fixtureImage('flood', 'flood-img'))).status, 200);
    assert.equal((await node.upload(await fixtureImage('hello-router', 'hello-img'))).status, 200);
    const env = { 'MCM.BASE_API_PATH': '/flood', 'MCM.MAX_EXECUTION_TIME_SEC': '60' };
    assert.equal((await node.deploy('flood', 'flood-img', env)).status, 201);
    assert.equal((await node.deploy('hello', 'hello-img', { 'MCM.BASE_API_PATH': '/hello' })).status, 201);
    // Warm both up, then take the resting sizes.
    assert.equal((await fetch(`${node.url}/api/flood/stream?mb=4`)).status, 200);
    assert.equal((await fetch(`${node.url}/api/hello/echo`)).status, 200);
    const pid = node.child.pid as number;
    baseline = { main: rssOf(pid), sandbox: Math.max(...childrenOf(pid).map(rssOf)) };
  });
  after(async () => {
    await node.stop();
  });

  it('streams 200 MiB from a mim to a slow client without buffering it', async () => {
    const { bytes, peak } = await slowRead(node, '/api/flood/stream?mb=200', 2000);
    const problems = node.logs.filter((l) => l.level >= 40).map((l) => l.msg);
    assert.ok(bytes > 200 * MIB, `received ${bytes} bytes; ${problems.join('; ')}`);
    const growth = (peak.main - baseline.main) / MIB;
    assert.ok(growth < 150, `main process grew by ${growth.toFixed(0)} MiB`);
    const sandboxGrowth = (peak.sandbox - baseline.sandbox) / MIB;
    assert.ok(sandboxGrowth < 150, `a sandbox grew by ${sandboxGrowth.toFixed(0)} MiB`);
  });

  it('streams a 200 MiB res.writeMimeFile to a slow client without reading ahead', async () => {
    const files = path.join(node.workDir, 'datastore', 'api-flood', 'files');
    fs.mkdirSync(files, { recursive: true });
    // Sparse: 200 MiB of zeros that take no disk.
    const fd = fs.openSync(path.join(files, 'big.bin'), 'w');
    fs.ftruncateSync(fd, 200 * MIB);
    fs.closeSync(fd);
    const { bytes, peak } = await slowRead(node, '/api/flood/file?name=big.bin', 2000);
    assert.ok(bytes > 200 * MIB, `received ${bytes} bytes`);
    const growth = (peak.main - baseline.main) / MIB;
    assert.ok(growth < 150, `main process grew by ${growth.toFixed(0)} MiB`);
  });

  it('refuses a 1 GiB synchronous write loop with an error the mim can catch; others keep answering', async () => {
    const other = fetch(`${node.url}/api/hello/echo`);
    const res = await fetch(`${node.url}/api/flood/sync-flood`);
    assert.equal(res.status, 200);
    const body = await res.text();
    const tail = JSON.parse(body.slice(body.lastIndexOf('\n') + 1)) as { code: string; written: number };
    assert.equal(tail.code, 'ERR_MIM_OUTPUT_LIMIT');
    assert.equal(tail.written, 16, 'cut at 16 MiB in one turn');
    assert.equal((await other).status, 200);

    // Uncaught, the response is cut short and the log says why.
    await assert.rejects(async () => {
      const cut = await fetch(`${node.url}/api/flood/sync-flood?rethrow=1`);
      await cut.arrayBuffer();
    });
    assert.equal((await fetch(`${node.url}/api/hello/echo`)).status, 200);
    assert.equal((await fetch(`${node.url}/api/flood/stream?mb=1`)).status, 200);
    assert.ok(
      node.logs.some((l) => /uncaught exception: .*16 MiB written without yielding/.test(l.msg)),
      'the mim log names the limit',
    );
    assert.ok(!node.logs.some((l) => l.msg.includes('sandbox process exited')), 'no sandbox died');
  });
});
