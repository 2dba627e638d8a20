/**
 * WebSocket upgrades on mims' mount paths (runtime.md §3): `ws://host:port/{clientId}{basePath}`
 * and the `/api` alias of a mim that has one. Handled on the HTTP server's 'upgrade' event, beside
 * Fastify (whose catch-all gateway route keeps every plain request): with a listener there, Node
 * sends every upgrade request here, so any refusal is answered here too, as the node's JSON error
 * with its code, before anything is upgraded.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { MimoeError } from '../../errors/index.js';
import { websocketSupported } from '../../mims/env.js';
import type { AppDeps } from '../deps.js';
import { errorBody, toHttpError } from '../errors.js';
import type { WebSocketHub } from './websocket-hub.js';

/** Largest frame a client may send (nothing is read from clients; ws closes with 1009 past it). */
const CLIENT_MAX_PAYLOAD = 4 * 1024;
const WEBSOCKET_KEY = /^[+/0-9A-Za-z]{22}==$/;

/** Why the request cannot be upgraded, or undefined when it can. */
function handshakeProblem(req: IncomingMessage): string | undefined {
  if (req.method !== 'GET') return 'a WebSocket upgrade must be a GET request';
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return 'only WebSocket upgrades are served';
  const key = req.headers['sec-websocket-key'];
  if (key === undefined || !WEBSOCKET_KEY.test(key)) return 'missing or invalid Sec-WebSocket-Key';
  const version = req.headers['sec-websocket-version'];
  if (version !== '13' && version !== '8') return 'Sec-WebSocket-Version must be 13';
  return undefined;
}

function refuse(socket: Duplex, requestId: string, error: MimoeError): void {
  const e = toHttpError(error);
  const body = JSON.stringify(errorBody(e));
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  // end(), not destroy(): a reset could make the client lose the answer.
  socket.end(
    `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status] ?? 'Error'}\r\n` +
      `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `x-request-id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
  );
  setTimeout(() => socket.destroy(), 2000).unref();
}

/** Attaches the upgrade handling to the node's HTTP server. */
export function attachWebSocketUpgrades(server: Server, deps: AppDeps, hub: WebSocketHub): void {
  const wss = new WebSocketServer({ noServer: true, clientTracking: false, maxPayload: CLIENT_MAX_PAYLOAD });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const requestId = randomBytes(8).toString('hex');
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const pathname = (q === -1 ? raw : raw.slice(0, q)).slice(0, 2048);
    const log = deps.logger.child({ reqId: requestId });
    const fail = (error: MimoeError): void => {
      log.info({ url: pathname.slice(0, 200), code: error.code, reason: error.message }, 'websocket refused');
      deps.metrics.httpResponse('other', toHttpError(error).status);
      refuse(socket, requestId, error);
    };
    const problem = handshakeProblem(req);
    if (problem !== undefined) return fail(new MimoeError('ERR_BAD_REQUEST', problem));
    const match = deps.mims.mounts.resolve(pathname);
    // Clients subscribe on the mount itself; a path below it is a mim's HTTP route, not a feed.
    if (match === undefined || match.rest !== '/') {
      return fail(
        new MimoeError('ERR_ROUTE_NOT_FOUND', `no mim is mounted at ${pathname.slice(0, 200)} for WebSocket`),
      );
    }
    const record = deps.mims.byId(match.mimId);
    if (record === undefined) {
      return fail(new MimoeError('ERR_ROUTE_NOT_FOUND', `no mim is mounted at ${pathname.slice(0, 200)}`));
    }
    if (!websocketSupported(record.env)) {
      return fail(
        new MimoeError(
          'ERR_WEBSOCKET_UNSUPPORTED',
          `mim ${match.mimId} was not deployed with MCM.WEBSOCKET_SUPPORT "true"`,
        ),
      );
    }
    if (deps.dispatcher.isStopped(match.mimId)) {
      return fail(
        new MimoeError('ERR_MIM_STOPPED', `mim ${match.mimId} was stopped; deploy it again to restart it`),
      );
    }
    const admitted = hub.admit(match.mimId);
    if (admitted === 'closing') return fail(new MimoeError('ERR_SHUTTING_DOWN', 'the node is shutting down'));
    if (admitted !== 'ok') {
      return fail(
        new MimoeError(
          'ERR_WEBSOCKET_LIMIT',
          admitted === 'mim-full'
            ? `mim ${match.mimId} has as many WebSocket clients as it may; retry later`
            : 'the node has as many WebSocket clients as it may; retry later',
        ),
      );
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      log.info({ mim: match.mimId, url: pathname.slice(0, 200) }, 'websocket client connected');
      hub.add(match.mimId, ws);
    });
  });
}
