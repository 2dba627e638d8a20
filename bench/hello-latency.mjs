// Median latency of a hello request to a deployed router-based mim, against a bare node:http
// server answering the same JSON, measured in the same run (absolute figures on a shared machine
// mean little; the ratio is the figure to read).
//
//   node bench/hello-latency.mjs [--requests 2000] [--warmup 200]
//
// Needs `npm run build && node scripts/build-fixtures.mjs` first.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(args[i + 1]);
};
const REQUESTS = flag('requests', 2000);
const WARMUP = flag('warmup', 200);

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function get(port, p) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () =>
        res.statusCode === 200 ? resolve(body) : reject(new Error(`${res.statusCode} ${body}`)),
      );
    });
    req.on('error', reject);
  });
}

async function measure(port, p) {
  for (let i = 0; i < WARMUP; i++) await get(port, p);
  const samples = [];
  for (let i = 0; i < REQUESTS; i++) {
    const t = process.hrtime.bigint();
    await get(port, p);
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  samples.sort((a, b) => a - b);
  const q = (f) => samples[Math.min(samples.length - 1, Math.floor(f * samples.length))];
  return { median: q(0.5), p90: q(0.9), p99: q(0.99) };
}

function startProcess(argv, readyPattern) {
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

const bare = `
const http = require('node:http');
const s = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ message: 'hello' }));
});
s.listen(0, '127.0.0.1', () => console.log('port=' + s.address().port));
`;

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimoe-bench-'));
const { packMimImage } = await import(path.join(root, 'dist/src/images/pack.js'));
const bundle = fs.readFileSync(path.join(root, 'test/fixtures/mims/build/hello-router.js'));
const tar = await packMimImage({ bundle, name: 'hello-v1', tag: '1.0.0' });

// The node runs as it ships (request log on, JSON lines to a pipe we drain).
const node = await startProcess(
  [path.join(root, 'bin/mimoe.js'), '--work-dir', workDir, '--api-port', '0', '--log-format', 'json'],
  /"port":(\d+)/,
);
node.child.stdout.resume();
const key = /MCM_API_KEY=(.+)/.exec(fs.readFileSync(path.join(workDir, 'mimoe-api-key.env'), 'utf8'))[1];
const base = `http://127.0.0.1:${node.port}/mcm/v1`;
const auth = { authorization: `Bearer ${key}` };
const form = new FormData();
form.append('image', new Blob([tar]), 'hello.tar');
let res = await fetch(`${base}/images`, { method: 'POST', headers: auth, body: form });
if (res.status !== 200) throw new Error(`upload: ${res.status} ${await res.text()}`);
res = await fetch(`${base}/mims`, {
  method: 'POST',
  headers: { ...auth, 'content-type': 'application/json' },
  body: JSON.stringify({ name: 'hello', image: 'hello-v1', env: { 'MCM.BASE_API_PATH': '/hello/v1' } }),
});
if (res.status !== 201) throw new Error(`deploy: ${res.status} ${await res.text()}`);

const baseline = await startProcess(['-e', bare], /port=(\d+)/);

try {
  // Interleave rounds so that machine noise hits both sides alike.
  const rounds = 3;
  const mim = [];
  const raw = [];
  for (let r = 0; r < rounds; r++) {
    raw.push(await measure(baseline.port, '/hello'));
    mim.push(await measure(node.port, '/api/hello/v1/hello'));
  }
  const med = (xs, k) => xs.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const fmt = (n) => n.toFixed(3).padStart(8);
  console.log(`hello latency, ${REQUESTS} sequential keep-alive requests x ${rounds} rounds (ms)`);
  console.log(`                          median      p90      p99`);
  console.log(
    `bare node:http         ${fmt(med(raw, 'median'))} ${fmt(med(raw, 'p90'))} ${fmt(med(raw, 'p99'))}`,
  );
  console.log(
    `mimoe router mim       ${fmt(med(mim, 'median'))} ${fmt(med(mim, 'p90'))} ${fmt(med(mim, 'p99'))}`,
  );
  console.log(
    `ratio (mim / bare)     ${fmt(med(mim, 'median') / med(raw, 'median'))} ${fmt(med(mim, 'p90') / med(raw, 'p90'))} ${fmt(med(mim, 'p99') / med(raw, 'p99'))}`,
  );
} finally {
  agent.destroy();
  baseline.child.kill();
  node.child.kill('SIGTERM');
  await new Promise((r) => node.child.once('exit', r));
  fs.rmSync(workDir, { recursive: true, force: true });
}
