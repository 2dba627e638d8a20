// What a mim's outbound call costs: a mim that answers after one context.http.request to a local
// server, against the same mim answering without a call, and the local server called directly.
// All three measured in the same run, interleaved; read the differences and ratios.
//
//   node bench/outbound.mjs [--requests 1000] [--warmup 100]
//
// Needs `npm run build && node scripts/build-fixtures.mjs` first.
import { flag, fmt, measure, med, request, startBare, startNode } from './lib.mjs';

const options = { requests: flag('requests', 1000), warmup: flag('warmup', 100) };
const node = await startNode([['outbound', 'outbound-v1', '/out/v1']]);
const target = await startBare();
const call = JSON.stringify({ url: `http://127.0.0.1:${target.port}/hello` });

try {
  const rounds = 3;
  const direct = [];
  const noCall = [];
  const withCall = [];
  for (let r = 0; r < rounds; r++) {
    direct.push(await measure(() => request(target.port, '/hello'), options));
    noCall.push(await measure(() => request(node.port, '/api/out/v1/fired'), options));
    withCall.push(
      await measure(() => request(node.port, '/api/out/v1/call', { method: 'POST', body: call }), options),
    );
  }
  console.log(`outbound call latency, ${options.requests} sequential requests x ${rounds} rounds (ms)`);
  console.log(`                              median      p90      p99`);
  const row = (label, xs) =>
    console.log(
      `${label.padEnd(26)} ${fmt(med(xs, 'median'))} ${fmt(med(xs, 'p90'))} ${fmt(med(xs, 'p99'))}`,
    );
  row('local server, direct', direct);
  row('mim, no call', noCall);
  row('mim + one outbound call', withCall);
  const cost = med(withCall, 'median') - med(noCall, 'median');
  console.log(
    `cost of the call (median)  ${fmt(cost)} ms = ${(cost / med(direct, 'median')).toFixed(1)}x the direct call`,
  );
} finally {
  target.child.kill();
  await node.stop();
}
