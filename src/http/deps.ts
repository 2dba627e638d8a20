import type { NodeConfig } from '../config/options.js';
import type { FastifyBaseLogger } from 'fastify';
import type { ApiKeys } from '../auth/key-file.js';
import type { JwtVerifier } from '../auth/jwt.js';
import type { ImageStore } from '../images/store.js';
import type { MimRegistry } from '../mims/registry.js';
import type { MimRequest, ResponseSink } from '../sandbox/types.js';
import type { Metrics } from '../metrics/metrics.js';
import type { MimOrigin } from '../auth/mim-origin.js';
import type { EdgeHmac, JsonRpcServer } from '../jsonrpc/index.js';
import type { WebSocketHub } from './gateway/websocket-hub.js';

/** What the gateway needs from the sandbox layer. */
export interface MimDispatcher {
  dispatch(mimId: string, req: MimRequest, sink: ResponseSink): void;
  isStopped(mimId: string): boolean;
  stats(): Record<string, number>;
}

/** Everything the HTTP layer is given; it creates none of these itself. */
export interface AppDeps {
  readonly config: NodeConfig;
  /** The node's pino logger, seen through Fastify's logger interface. */
  readonly logger: FastifyBaseLogger;
  readonly keys: ApiKeys;
  readonly images: ImageStore;
  readonly mims: MimRegistry;
  readonly dispatcher: MimDispatcher;
  readonly metrics: Metrics;
  readonly version: string;
  readonly nodeId: string;
  /**
   * False while the node starts (mims restored, addons loaded after the port is bound, since mims
   * need the port): requests other than /healthz get 503 ERR_NOT_READY until then.
   */
  readonly ready: () => boolean;
  /** Recognises the calls the node's own mims make to it (the x-mimoe-origin mark). */
  readonly mimOrigin: MimOrigin;
  /** Verifies MCM bearer JWTs; undefined when no JWT key is configured (JWTs are then refused). */
  readonly jwt?: JwtVerifier | undefined;
  /** Account Association JSON-RPC (`POST /jsonrpc/v1`). */
  readonly jsonrpc: JsonRpcServer;
  /** Checks the edge HMAC codes that authorise tarball downloads. */
  readonly edgeHmac: EdgeHmac;
  /** The mims' WebSocket clients; the supervisor publishes mims' events to it. */
  readonly sockets: WebSocketHub;
}
