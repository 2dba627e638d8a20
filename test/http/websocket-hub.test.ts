import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { silentLogger } from '../../src/log/logger.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { WebSocketHub } from '../../src/http/gateway/websocket-hub.js';

/**
 * The hub's timing rules with short intervals, on a real server and real clients (the node runs
 * it with a 30 s heartbeat, too slow for a test).
 */
describe('WebSocketHub', () => {
  let server: http.Server;
  let wss: WebSocketServer;
  let hub: WebSocketHub;
  let url: string;

  before(async () => {
    hub = new WebSocketHub(silentLogger(), new Metrics(), {
      heartbeatMs: 100,
      maxClientsPerMim: 2,
      maxClients: 3,
    });
    server = http.createServer();
    wss = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req, socket, head) => {
      const mimId = (req.url ?? '/').slice(1);
      if (hub.admit(mimId) !== 'ok') return socket.destroy();
      wss.handleUpgrade(req, socket, head, (ws) => hub.add(mimId, ws));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await hub.close(200);
    await new Promise((resolve) => server.close(resolve));
  });

  const connect = (path: string, options: { autoPong?: boolean } = {}): Promise<WebSocket> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`${url}${path}`, options);
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    });
  const closed = (ws: WebSocket): Promise<number> =>
    new Promise((resolve) => ws.once('close', (code) => resolve(code)));

  it('terminates a peer that stops answering pings, keeps one that answers', async () => {
    const dead = await connect('/m1', { autoPong: false });
    const live = await connect('/m1');
    const code = await closed(dead);
    // Terminated, not closed: no close frame reaches the peer.
    assert.equal(code, 1006);
    await new Promise((resolve) => setTimeout(resolve, 350));
    assert.equal(live.readyState, WebSocket.OPEN);
    assert.equal(hub.size, 1);
    live.terminate();
  });

  it('caps clients per mim and per node', async () => {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const a = await connect('/m2');
    const b = await connect('/m2');
    assert.equal(hub.admit('m2'), 'mim-full');
    const c = await connect('/m3');
    assert.equal(hub.admit('m4'), 'node-full');
    for (const ws of [a, b, c]) ws.terminate();
  });

  it('closes every client with 1001 on close, and refuses new ones after', async () => {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const ws = await connect('/m5');
    const code = closed(ws);
    await hub.close(500);
    assert.equal(await code, 1001);
    assert.equal(hub.admit('m5'), 'closing');
  });
});
