// Shared pieces of the benchmark scripts: a node started as it ships, keep-alive GETs, latency
// samples. Needs `npm run build && node scripts/build-fixtures.mjs` first.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function flag(name, fallback) {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(args[i + 1]);
}

export const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

export function request(port, p, { method = 'GET', body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () =>
        res.statusCode === 200 ? resolve(text) : reject(new Error(`${res.statusCode} ${text}`)),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Latency quantiles (ms) of `requests` sequential calls of `send`, after `warmup` unmeasured ones. */
export async function measure(send, { requests, warmup }) {
  for (let i = 0; i < warmup; i++) await send();
  const samples = [];
  for (let i = 0; i < requests; i++) {
    const t = process.hrtime.bigint();
    await send();
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  samples.sort((a, b) => a - b);
  const q = (f) => samples[Math.min(samples.length - 1, Math.floor(f * samples.length))];
  return { median: q(0.5), p90: q(0.9), p99: q(0.99) };
}

/** The median over rounds of one quantile. */
export const med = (xs, k) => xs.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export const fmt = (n) => n.toFixed(3).padStart(8);

export function startProcess(argv, readyPattern) {
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (c) => {
      buf += c;
      const m = readyPattern.exec(buf);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${buf}`)));
  });
}

/** A bare node:http server answering `{"message":"hello"}`: the baseline. */
export function startBare() {
  const source = `
const http = require('node:http');
const s = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ message: 'hello' }));
});
s.listen(0, '127.0.0.1', () => console.log('port=' + s.address().port));
`;
  return startProcess(['-e', source], /port=(\d+)/);
}

/** A node in a temp work dir with the given fixture mims deployed: [fixture, image, basePath][]. */
export async function startNode(mims) {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimoe-bench-'));
  const { packMimImage } = await import(path.join(root, 'dist/src/images/pack.js'));
  // The node runs as it ships (request log on, JSON lines to a pipe we drain).
  const node = await startProcess(
    [path.join(root, 'bin/mimoe.js'), '--work-dir', workDir, '--api-port', '0', '--log-format', 'json'],
    /"port":(\d+)/,
  );
  node.child.stdout.resume();
  const key = /MCM_API_KEY=(.+)/.exec(fs.readFileSync(path.join(workDir, 'mimoe-api-key.env'), 'utf8'))[1];
  const base = `http://127.0.0.1:${node.port}/mcm/v1`;
  const auth = { authorization: `Bearer ${key}` };
  for (const [fixture, image, basePath] of mims) {
    const bundle = fs.readFileSync(path.join(root, `test/fixtures/mims/build/${fixture}.js`));
    const form = new FormData();
    form.append(
      'image',
      new Blob([await packMimImage({ bundle, name: image, tag: '1.0.0' })]),
      `${image}.tar`,
    );
    let res = await fetch(`${base}/images`, { method: 'POST', headers: auth, body: form });
    if (res.status !== 200) throw new Error(`upload: ${res.status} ${await res.text()}`);
    res = await fetch(`${base}/mims`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: fixture, image, env: { 'MCM.BASE_API_PATH': basePath } }),
    });
    if (res.status !== 201) throw new Error(`deploy: ${res.status} ${await res.text()}`);
  }
  return {
    port: node.port,
    async stop() {
      agent.destroy();
      node.child.kill('SIGTERM');
      await new Promise((r) => node.child.once('exit', r));
      fs.rmSync(workDir, { recursive: true, force: true });
    },
  };
}
