// Median latency of a hello request to a deployed router-based mim, against a bare node:http
// server answering the same JSON, measured in the same run (absolute figures on a shared machine
// mean little; the ratio is the figure to read).
//
//   node bench/hello-latency.mjs [--requests 2000] [--warmup 200]
//
// Needs `npm run build && node scripts/build-fixtures.mjs` first.
import { flag, fmt, measure, med, request, startBare, startNode } from './lib.mjs';

const options = { requests: flag('requests', 2000), warmup: flag('warmup', 200) };
const node = await startNode([['hello-router', 'hello-v1', '/hello/v1']]);
const baseline = await startBare();

try {
  // Interleave rounds so that machine noise hits both sides alike.
  const rounds = 3;
  const mim = [];
  const raw = [];
  for (let r = 0; r < rounds; r++) {
    raw.push(await measure(() => request(baseline.port, '/hello'), options));
    mim.push(await measure(() => request(node.port, '/api/hello/v1/hello'), options));
  }
  console.log(`hello latency, ${options.requests} sequential keep-alive requests x ${rounds} rounds (ms)`);
  console.log(`                          median      p90      p99`);
  const row = (label, xs) =>
    console.log(
      `${label.padEnd(22)} ${fmt(med(xs, 'median'))} ${fmt(med(xs, 'p90'))} ${fmt(med(xs, 'p99'))}`,
    );
  row('bare node:http', raw);
  row('mimoe router mim', mim);
  console.log(
    `ratio (mim / bare)     ${fmt(med(mim, 'median') / med(raw, 'median'))} ${fmt(med(mim, 'p90') / med(raw, 'p90'))} ${fmt(med(mim, 'p99') / med(raw, 'p99'))}`,
  );
} finally {
  baseline.child.kill();
  await node.stop();
}
