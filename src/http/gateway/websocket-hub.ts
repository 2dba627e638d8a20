/**
 * The WebSocket clients of mims, and the fan-out of the events mims dispatch to them
 * (`context.dispatchWebSocketEvent`, runtime.md §3). Each event is one text frame
 * `{"type":...,"message":...}`, encoded once and written to every open client of that mim only.
 *
 * Memory is bounded per client and in total: a client whose unsent output passes
 * `maxBufferedBytes` is not written to again; it is closed with 1013 ("try again later") and cut
 * if it does not take its close frame within `slowCloseGraceMs`. Clients are capped per mim and
 * per node (refused before the upgrade). A ping every `heartbeatMs` finds dead peers: a client
 * that did not answer the previous ping is terminated. Clients send nothing we read: their
 * messages are discarded (and bounded by the upgrade's maxPayload).
 */
import type { WebSocket } from 'ws';
import type { Logger } from '../../log/logger.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { MimSocketEvent } from '../../sandbox/types.js';

export interface WebSocketHubLimits {
  /** Clients of one mim at once. */
  readonly maxClientsPerMim: number;
  /** Clients of all mims at once. */
  readonly maxClients: number;
  /** Output waiting for one client past which it is closed as too slow. */
  readonly maxBufferedBytes: number;
  /** Time a closed client gets to take its close frame before its socket is cut. */
  readonly slowCloseGraceMs: number;
  /** Interval of the ping that detects dead peers. */
  readonly heartbeatMs: number;
}

export const WEBSOCKET_LIMITS: WebSocketHubLimits = {
  maxClientsPerMim: 256,
  maxClients: 1024,
  maxBufferedBytes: 1024 * 1024,
  slowCloseGraceMs: 5_000,
  heartbeatMs: 30_000,
};

/** Close codes clients see (documented in docs/runtime.md). */
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_TRY_AGAIN_LATER = 1013;

interface Client {
  readonly ws: WebSocket;
  readonly mimId: string;
  /** Answered the last ping (or connected since). */
  alive: boolean;
}

export type AdmitResult = 'ok' | 'mim-full' | 'node-full' | 'closing';

export class WebSocketHub {
  private readonly byMim = new Map<string, Set<Client>>();
  private count = 0;
  private closing = false;
  private readonly heartbeat: NodeJS.Timeout;
  /** Sockets closed by the hub and not yet gone: shutdown waits for (or cuts) them. */
  private readonly leaving = new Set<WebSocket>();
  private readonly limits: WebSocketHubLimits;

  constructor(
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    limits: Partial<WebSocketHubLimits> = {},
  ) {
    this.limits = { ...WEBSOCKET_LIMITS, ...limits };
    this.heartbeat = setInterval(() => this.ping(), this.limits.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Clients connected now. */
  get size(): number {
    return this.count;
  }

  /** Whether a new client of the mim would be taken (checked before the upgrade is answered). */
  admit(mimId: string): AdmitResult {
    if (this.closing) return 'closing';
    if (this.count >= this.limits.maxClients) return 'node-full';
    if ((this.byMim.get(mimId)?.size ?? 0) >= this.limits.maxClientsPerMim) return 'mim-full';
    return 'ok';
  }

  /** Takes an upgraded client of the mim. */
  add(mimId: string, ws: WebSocket): void {
    ws.on('error', (err) => {
      this.logger.debug({ mim: mimId, err: err.message }, 'websocket client error');
    });
    // The upgrade was admitted just before (synchronously); this only guards against misuse.
    const admitted = this.admit(mimId);
    if (admitted !== 'ok') {
      if (admitted === 'closing') this.leave(ws, CLOSE_GOING_AWAY, 'the node is shutting down');
      else this.leave(ws, CLOSE_TRY_AGAIN_LATER, 'too many clients');
      return;
    }
    const client: Client = { ws, mimId, alive: true };
    let set = this.byMim.get(mimId);
    if (set === undefined) {
      set = new Set();
      this.byMim.set(mimId, set);
    }
    set.add(client);
    this.count++;
    this.metrics.websocketClientCount(this.count);
    ws.on('pong', () => {
      client.alive = true;
    });
    // Nothing is read from clients; their frames are discarded.
    ws.on('message', () => undefined);
    ws.on('close', () => this.remove(client));
  }

  /** One event to every open client of its mim. */
  publish(event: MimSocketEvent): void {
    const set = this.byMim.get(event.mimId);
    if (set === undefined || set.size === 0) return;
    const frame = Buffer.from(
      JSON.stringify(
        event.message === undefined ? { type: event.type } : { type: event.type, message: event.message },
      ),
      'utf8',
    );
    let sent = 0;
    let dropped = 0;
    for (const client of [...set]) {
      const { ws } = client;
      if (ws.readyState !== ws.OPEN) continue;
      if (ws.bufferedAmount + frame.byteLength > this.limits.maxBufferedBytes) {
        dropped++;
        this.remove(client);
        this.logger.info(
          { mim: client.mimId, bufferedBytes: ws.bufferedAmount },
          'websocket client too slow: event dropped, client closed',
        );
        this.leave(ws, CLOSE_TRY_AGAIN_LATER, 'too slow: events dropped');
        continue;
      }
      ws.send(frame, { binary: false });
      sent++;
    }
    this.metrics.websocketFrames(sent, dropped);
  }

  /** Closes every client of the mim (it was undeployed). */
  closeMim(mimId: string, reason = 'the mim was removed'): void {
    const set = this.byMim.get(mimId);
    if (set === undefined) return;
    for (const client of [...set]) {
      this.remove(client);
      this.leave(client.ws, CLOSE_GOING_AWAY, reason);
    }
  }

  /**
   * Closes every client (node shutdown) and settles once their sockets are gone; a client that
   * does not answer its close frame within `graceMs` is cut, so shutdown is never held up.
   */
  async close(graceMs = 1_000): Promise<void> {
    this.closing = true;
    clearInterval(this.heartbeat);
    for (const mimId of [...this.byMim.keys()]) this.closeMim(mimId, 'the node is shutting down');
    const gone = [...this.leaving].map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === ws.CLOSED) return resolve();
          ws.once('close', () => resolve());
        }),
    );
    let timer: NodeJS.Timeout | undefined;
    const cut = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        for (const ws of this.leaving) ws.terminate();
        resolve();
      }, graceMs);
    });
    await Promise.race([Promise.all(gone), cut]);
    clearTimeout(timer);
  }

  private remove(client: Client): void {
    const set = this.byMim.get(client.mimId);
    if (set === undefined || !set.delete(client)) return;
    if (set.size === 0) this.byMim.delete(client.mimId);
    this.count--;
    this.metrics.websocketClientCount(this.count);
  }

  /** Sends a close frame; the socket is cut if the peer does not complete the close in time. */
  private leave(ws: WebSocket, code: number, reason: string): void {
    if (ws.readyState === ws.CLOSED) return;
    this.leaving.add(ws);
    const timer = setTimeout(() => ws.terminate(), this.limits.slowCloseGraceMs);
    timer.unref();
    ws.once('close', () => {
      clearTimeout(timer);
      this.leaving.delete(ws);
    });
    if (ws.readyState === ws.OPEN) ws.close(code, reason);
  }

  /** Terminates the clients that missed the last ping, pings the others. */
  private ping(): void {
    for (const set of this.byMim.values()) {
      for (const client of [...set]) {
        if (!client.alive) {
          this.remove(client);
          client.ws.terminate();
          continue;
        }
        client.alive = false;
        client.ws.ping();
      }
    }
  }
}
