// setItem / getItem rates through KvStore, and from inside a mim (context.storage in a real node:
// isolate → sandbox process → KvStore), against the same operations through better-sqlite3
// directly (a prepared INSERT OR REPLACE / SELECT on a plain key-value table, same WAL and
// synchronous settings), measured in the same run, plain and encrypted. Absolute figures on a
// shared machine mean little; the ratios are the figures to read.
//
// The mim figures: a route loops N operations inside one request; "inside" is timed by the mim
// with Date.now(), "end to end" by this script around the HTTP request.
//
//   node bench/datastore.mjs [--ops 50000] [--mim-ops 20000] [--rounds 3] [--value-bytes 100]
//
// Needs `npm run build` first (it loads dist/src and starts a node in this process).
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3-multiple-ciphers';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { KvStore } = await import(path.join(root, 'dist', 'src', 'datastore', 'kv-store.js'));
const { startNode } = await import(path.join(root, 'dist', 'src', 'main.js'));
const { packMimImage } = await import(path.join(root, 'dist', 'src', 'images', 'pack.js'));

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(args[i + 1]);
};
const OPS = flag('ops', 50_000);
const MIM_OPS = flag('mim-ops', 20_000);
const ROUNDS = flag('rounds', 3);
const VALUE = 'v'.repeat(flag('value-bytes', 100));
const KEY = crypto.randomBytes(32).toString('hex');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimoe-bench-ds-'));

/** The baseline: better-sqlite3 used directly, as a hand-written key-value table would. */
function openRaw(file, encrypted) {
  const db = new Database(file);
  if (encrypted) {
    db.pragma(`cipher = 'sqlcipher'`);
    db.pragma('legacy = 4');
    db.pragma(`key = "x'${KEY}'"`);
  }
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
  const set = db.prepare('INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)');
  const get = db.prepare('SELECT value FROM kv WHERE key = ?').pluck();
  return {
    setItem: (k, v) => set.run(k, v),
    getItem: (k) => get.get(k) ?? null,
    close: () => db.close(),
  };
}

function openKv(file, encrypted) {
  return KvStore.open(file, encrypted ? { encryptionKey: KEY } : {});
}

/** Operations per second of `op(i)` for i in [0, OPS). */
function rate(op) {
  const t = process.hrtime.bigint();
  for (let i = 0; i < OPS; i++) op(i);
  return OPS / (Number(process.hrtime.bigint() - t) / 1e9);
}

function measure(open, label, round) {
  const store = open(path.join(dir, `${label}-${round}.db`));
  try {
    const insert = rate((i) => store.setItem(`key-${i}`, VALUE));
    const replace = rate((i) => store.setItem(`key-${i}`, VALUE + i));
    const get = rate((i) => {
      if (store.getItem(`key-${i}`) === null) throw new Error('lost a key');
    });
    return { insert, replace, get };
  } finally {
    store.close();
  }
}

const subjects = [
  ['raw plain', (f) => openRaw(f, false)],
  ['KvStore plain', (f) => openKv(f, false)],
  ['raw encrypted', (f) => openRaw(f, true)],
  ['KvStore encrypted', (f) => openKv(f, true)],
];

/** The bench mim: ES5, like published bundles. Loops one storage operation N times in a request. */
const BENCH_MIM = `
mimikModule.exports = function (context, req, res) {
  var q = {};
  req.url.split('?')[1].split('&').forEach(function (p) { var kv = p.split('='); q[kv[0]] = kv[1]; });
  var n = Number(q.n), s = context.storage, value = new Array(Number(q.size) + 1).join('v'), i;
  var t0 = Date.now();
  if (q.op === 'insert') for (i = 0; i < n; i++) s.setItem(q.prefix + i, value);
  else if (q.op === 'replace') for (i = 0; i < n; i++) s.setItem(q.prefix + i, value + i);
  else for (i = 0; i < n; i++) if (s.getItem(q.prefix + i) === null) throw new Error('lost ' + i);
  res.end(JSON.stringify({ ms: Date.now() - t0 }));
};`;

async function startBenchNode() {
  const workDir = path.join(dir, 'node');
  const node = await startNode({ workDir, apiPort: 0, logLevel: 'silent', sandboxProcesses: 2 });
  const key = /^MCM_API_KEY=(.+)$/m.exec(fs.readFileSync(path.join(workDir, 'mimoe-api-key.env'), 'utf8'))[1];
  const mcm = (method, p, body) =>
    fetch(`${node.url}/mcm/v1${p}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body instanceof FormData ? {} : { 'content-type': 'application/json' }),
      },
      body: body instanceof FormData ? body : JSON.stringify(body),
    });
  const form = new FormData();
  const tar = await packMimImage({ bundle: Buffer.from(BENCH_MIM), name: 'bench-ds', tag: '1' });
  form.append('image', new Blob([tar]), 'image.tar');
  if ((await mcm('POST', '/images', form)).status !== 200) throw new Error('bench image upload failed');
  for (const [name, encrypted] of [
    ['plain', false],
    ['encrypted', true],
  ]) {
    const env = { 'MCM.BASE_API_PATH': `/bench-${name}/v1`, 'MCM.MAX_EXECUTION_TIME_SEC': '600' };
    if (encrypted) env['MCM.DB_ENCRYPTION_SUPPORT'] = 'true';
    const res = await mcm('POST', '/mims', { name: `bench-${name}`, image: 'bench-ds', env });
    if (res.status !== 201) throw new Error(`bench mim deploy failed: ${await res.text()}`);
  }
  return node;
}

/** One measure through the mim: { inside, e2e } operations per second. */
async function mimRate(node, mode, op, prefix) {
  const t = process.hrtime.bigint();
  const res = await fetch(
    `${node.url}/api/bench-${mode}/v1/run?op=${op}&n=${MIM_OPS}&prefix=${prefix}&size=${VALUE.length}`,
  );
  const body = await res.json();
  const e2e = Number(process.hrtime.bigint() - t) / 1e9;
  if (res.status !== 200) throw new Error(`bench mim answered ${res.status}: ${JSON.stringify(body)}`);
  return { inside: MIM_OPS / (Math.max(1, body.ms) / 1000), e2e: MIM_OPS / e2e };
}

async function measureMim(node, mode, round) {
  const prefix = `r${round}-`;
  const insert = await mimRate(node, mode, 'insert', prefix);
  const replace = await mimRate(node, mode, 'replace', prefix);
  const get = await mimRate(node, mode, 'get', prefix);
  return {
    inside: { insert: insert.inside, replace: replace.inside, get: get.inside },
    e2e: { insert: insert.e2e, replace: replace.e2e, get: get.e2e },
  };
}

let node;
try {
  node = await startBenchNode();
  const best = new Map(subjects.map(([label]) => [label, { insert: 0, replace: 0, get: 0 }]));
  for (const mode of ['plain', 'encrypted'])
    for (const how of ['inside', 'e2e']) best.set(`mim ${how} ${mode}`, { insert: 0, replace: 0, get: 0 });
  // Interleave the subjects round by round so drift on a shared machine hits them all alike; keep
  // each subject's best round.
  for (let round = 0; round < ROUNDS; round++) {
    for (const [label, open] of subjects) {
      const r = measure(open, label.replace(' ', '-'), round);
      const b = best.get(label);
      for (const k of Object.keys(b)) b[k] = Math.max(b[k], r[k]);
    }
    for (const mode of ['plain', 'encrypted']) {
      const r = await measureMim(node, mode, round);
      for (const how of ['inside', 'e2e']) {
        const b = best.get(`mim ${how} ${mode}`);
        for (const k of Object.keys(b)) b[k] = Math.max(b[k], r[how][k]);
      }
    }
  }
  const fmt = (n) => Math.round(n).toLocaleString('en-US').padStart(10);
  console.log(
    `${OPS} ops per direct measure, ${MIM_OPS} per mim measure, ${VALUE.length}-byte values, ` +
      `best of ${ROUNDS} rounds (ops/s)\n`,
  );
  console.log(
    `${'subject'.padEnd(24)}${'setItem new'.padStart(12)}${'setItem repl'.padStart(14)}${'getItem'.padStart(12)}`,
  );
  for (const [label, r] of best)
    console.log(`${label.padEnd(24)}  ${fmt(r.insert)}    ${fmt(r.replace)}  ${fmt(r.get)}`);
  console.log('\nKvStore / raw better-sqlite3 (1.00 = same speed):');
  for (const mode of ['plain', 'encrypted']) {
    const kv = best.get(`KvStore ${mode}`);
    const raw = best.get(`raw ${mode}`);
    const ratio = (k) => (kv[k] / raw[k]).toFixed(2);
    console.log(
      `  ${mode.padEnd(10)} setItem new ${ratio('insert')}   setItem replace ${ratio('replace')}   getItem ${ratio('get')}`,
    );
  }
  console.log('\ncontext.storage in a mim / raw better-sqlite3 (inside the mim; end to end):');
  for (const mode of ['plain', 'encrypted']) {
    const raw = best.get(`raw ${mode}`);
    const inside = best.get(`mim inside ${mode}`);
    const e2e = best.get(`mim e2e ${mode}`);
    const ratio = (k) => `${(inside[k] / raw[k]).toFixed(2)}; ${(e2e[k] / raw[k]).toFixed(2)}`;
    console.log(
      `  ${mode.padEnd(10)} setItem new ${ratio('insert')}   setItem replace ${ratio('replace')}   getItem ${ratio('get')}`,
    );
  }
  const enc = best.get('KvStore encrypted');
  const plain = best.get('KvStore plain');
  console.log(
    `\nKvStore encrypted / plain: setItem new ${(enc.insert / plain.insert).toFixed(2)}, ` +
      `getItem ${(enc.get / plain.get).toFixed(2)}`,
  );
} finally {
  await node?.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
