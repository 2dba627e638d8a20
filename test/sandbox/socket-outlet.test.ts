import { it } from 'node:test';
import assert from 'node:assert/strict';
import { SocketOutlet } from '../../src/sandbox/host/socket-outlet.js';
import type { FromSandbox } from '../../src/sandbox/protocol.js';

it("drops a mim's WebSocket events while its backlog in the channel is full, and logs once per run", () => {
  const posted: FromSandbox[] = [];
  const pending: (() => void)[] = [];
  const logs: string[] = [];
  const outlet = new SocketOutlet(
    (message, delivered) => {
      posted.push(message);
      pending.push(delivered);
    },
    (mimId, level, message) => logs.push(`${mimId} ${level} ${message}`),
    1000,
  );
  const body = 'x'.repeat(400);
  outlet.send('a', 't', body);
  outlet.send('a', 't', body);
  outlet.send('a', 't', body);
  outlet.send('a', 't', body);
  // Another mim's backlog is its own.
  outlet.send('b', 't', undefined);
  assert.equal(posted.length, 3);
  assert.deepEqual(posted[2], { t: 'socket-event', mimId: 'b', type: 't', message: null });
  assert.equal(logs.length, 1);
  assert.match(logs[0] ?? '', /^a warn WebSocket events dropped/);
  // Once the channel took them, events flow again; a later run of drops is logged again.
  for (const delivered of pending.splice(0)) delivered();
  outlet.send('a', 't', body);
  outlet.send('a', 't', body);
  outlet.send('a', 't', body);
  assert.equal(posted.length, 5);
  assert.equal(logs.length, 2);
});
