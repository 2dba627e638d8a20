import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { resolveConfig, type NodeConfig, type NodeOptions } from './config/options.js';
import { createLogger, type Logger } from './log/logger.js';
import { loadOrCreateKeyFile } from './auth/key-file.js';
import { loadJwtVerifier } from './auth/jwt.js';
import { openNodeDb, getMeta, setMeta } from './state/node-db.js';
import { keepDiskReserve } from './state/disk-reserve.js';
import { openWorkDir } from './state/work-dir.js';
import { ImageStore } from './images/store.js';
import { MimRegistry } from './mims/registry.js';
import { loadAddons } from './mims/addons/loader.js';
import { Supervisor } from './sandbox/supervisor.js';
import { Metrics } from './metrics/metrics.js';
import { loadOrCreateDataKey } from './datastore/index.js';
import { createApp } from './http/app.js';
import { EdgeHmac, JsonRpcServer, accountMethods, nodeIdentityStore } from './jsonrpc/index.js';
import { WebSocketHub } from './http/gateway/websocket-hub.js';
import { VERSION } from './version.js';
import { MimOrigin, originHostsFor } from './auth/mim-origin.js';

export interface RunningNode {
  readonly config: NodeConfig;
  readonly port: number;
  /** Base URL of the node, e.g. http://127.0.0.1:8083 */
  readonly url: string;
  readonly logger: Logger;
  /** Stops taking requests, lets in-flight ones finish (bounded), stops sandboxes, closes databases. Idempotent. */
  close(): Promise<void>;
}

export interface StartOptions extends NodeOptions {
  /** Where log lines go (stdout by default). */
  logDestination?: NodeJS.WritableStream;
}

/** Composition root: config → services → app → listen. */
export async function startNode(options: StartOptions = {}): Promise<RunningNode> {
  const { logDestination, ...nodeOptions } = options;
  const config = resolveConfig(nodeOptions);
  const logger = createLogger({
    level: config.logLevel,
    format: config.logFormat,
    ...(logDestination === undefined ? {} : { destination: logDestination }),
  });
  const workDir = openWorkDir(config.workDir);
  // Released on any exit, so a crashed start-up does not leave the work dir locked to a live pid.
  process.once('exit', () => workDir.release());
  if (workDir.permissionsFixed)
    logger.warn(`work dir ${config.workDir} was open to others; narrowed it to owner-only`);

  let keyFile;
  let jwt;
  try {
    keyFile = loadOrCreateKeyFile(config.apiKeyFile);
    // Key files are read once, here: a bad one stops the node now, not at the first request.
    jwt = loadJwtVerifier({
      jwksFile: config.jwtJwksFile,
      publicKeyFile: config.jwtPublicKey,
      issuer: config.jwtIssuer,
      audience: config.jwtAudience,
    });
  } catch (err) {
    workDir.release();
    throw err;
  }
  logger.info(`API key file: ${config.apiKeyFile}`);
  if (keyFile.created) logger.info('created a new API key file with fresh MCM_API_KEY and ACCOUNT_API_KEY');
  if (keyFile.permissionsFixed) logger.warn('API key file was readable by others; narrowed it to owner-only');
  if (jwt !== undefined) {
    logger.info(
      { keys: jwt.keys.map((k) => k.source), algorithms: jwt.algorithms },
      `JWT verification on: ${jwt.keys.length} key(s)`,
    );
  }

  const db = openNodeDb(config.workDir);
  keepDiskReserve(config.workDir);
  let nodeId = getMeta(db, 'nodeId');
  if (nodeId === undefined) {
    nodeId = randomUUID();
    setMeta(db, 'nodeId', nodeId);
  }

  const images = new ImageStore(db, config.workDir, config);
  images.sweep();

  const metrics = new Metrics();
  const sockets = new WebSocketHub(logger.child({ component: 'websocket' }), metrics);
  const supervisor = new Supervisor({
    processes: config.sandboxProcesses,
    mimConcurrency: config.mimConcurrency,
    mimQueueLength: config.mimQueueLength,
    crashLimit: config.crashLimit,
    crashWindowMs: config.crashWindowMs,
    shutdownGraceMs: config.shutdownGraceMs,
    logger: logger.child({ component: 'sandbox' }),
    onMimLog: (line) => {
      logger[line.level]({ mim: line.mimId }, line.message);
    },
    onMimStopped: (mimId, reason) => {
      logger.error({ mim: mimId }, `mim stopped: ${reason}`);
      // Its clients would wait for events that cannot come until it is deployed again.
      sockets.closeMim(mimId, 'the mim was stopped');
    },
    onSocketEvent: (event) => sockets.publish(event),
    onMimRemoved: (mimId) => sockets.closeMim(mimId),
  });
  let port = config.apiPort;
  const mimOrigin = new MimOrigin();
  let dataKey: string | undefined;
  const mims = new MimRegistry(
    db,
    images,
    supervisor,
    { nodeId, accountId: () => getMeta(db, 'accountId') ?? '', httpPort: () => port },
    {
      memoryMb: config.mimMemoryMb,
      dataRoot: path.join(config.workDir, 'datastore'),
      backupDir: config.backupDir,
      // Created on first need, so nodes without encrypted mims hold no key.
      dataKey: () => (dataKey ??= loadOrCreateDataKey(config.workDir)),
      quota: { storeBytes: config.mimStoreMaxBytes, filesBytes: config.mimFilesMaxBytes },
      outbound: {
        maxBodyBytes: config.mimHttpMaxBodyBytes,
        maxFileBytes: config.mimHttpMaxFileBytes,
        originHosts: originHostsFor(config.host),
      },
      originOf: (mimId) => mimOrigin.tokenFor(mimId),
    },
  );
  const stored = nodeIdentityStore(db);
  // context.info.accountId is part of each mim's spec: a change of account reloads the mims, so
  // the next requests see it (requests running finish on the old one).
  const identity = {
    ...stored,
    setAccountId(accountId: string): void {
      if (stored.accountId() === accountId) return;
      stored.setAccountId(accountId);
      mims.refreshInfo();
    },
    clearAccountId(): void {
      if (stored.accountId() === '') return;
      stored.clearAccountId();
      mims.refreshInfo();
    },
  };
  const edgeHmac = new EdgeHmac(() => identity.hmacSecret());
  const jsonrpc = new JsonRpcServer({
    keys: keyFile.keys,
    methods: accountMethods({
      nodeId,
      version: VERSION,
      identity,
      hmac: edgeHmac,
      imageOwner: (imageId) => images.byId(imageId)?.clientId,
    }),
    onInternalError: (err, method) => logger.error({ err, method }, 'JSON-RPC method failed'),
  });

  let app: Awaited<ReturnType<typeof createApp>> | undefined;
  let ready = false;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      logger.info('shutting down');
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<'grace'>((resolve) => {
        timer = setTimeout(() => resolve('grace'), config.shutdownGraceMs);
      });
      try {
        const server = app;
        if (server !== undefined) {
          const closed = server.close().then(() => 'closed' as const);
          if ((await Promise.race([closed, graceOver])) === 'grace') {
            // The grace is a promise to operators: past it, in-flight requests are cut.
            logger.warn('in-flight requests did not finish in time; closing their connections');
            server.server.closeAllConnections();
            await closed;
          }
        }
      } finally {
        clearTimeout(timer);
        // Already done by the app's close when it was up; this covers a start-up that failed.
        await sockets.close();
        await supervisor.close();
        db.close();
        workDir.release();
        logger.info('stopped');
      }
    })();
    return closing;
  };

  try {
    await supervisor.start();
    app = await createApp({
      config,
      logger,
      keys: keyFile.keys,
      images,
      mims,
      dispatcher: supervisor,
      metrics,
      version: VERSION,
      nodeId,
      mimOrigin,
      jwt,
      jsonrpc,
      edgeHmac,
      sockets,
      ready: () => ready,
    });
    await app.listen({ port: config.apiPort, host: config.host });
    port = (app.server.address() as AddressInfo).port;
    const restored = mims.restoreAll((mimId, reason) =>
      logger.error({ mim: mimId }, `mim not restored: ${reason}`),
    );
    // After the restore, so the loader sees installed addons; before "listening" is logged, so
    // the node is announced with its addons in place. A refused addon never stops the node.
    const addons = await loadAddons({
      addonDir: path.join(config.workDir, 'addon'),
      tmpDir: images.blobs.tmpDir,
      images,
      mims,
      logger: logger.child({ component: 'addons' }),
      limits: {
        maxImageBytes: config.maxImageBytes,
        maxBundleBytes: config.maxBundleBytes,
        maxEntries: config.maxTarEntries,
      },
    }).catch((err: unknown) => {
      logger.error({ err }, 'addons not loaded: the addon dir is unreadable');
      return { loaded: [] as string[], kept: [] as string[] };
    });
    ready = true;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    const url = `http://${host}:${port}`;
    logger.info(
      // Every addon that serves: current ones and those kept at their installed version.
      { port, restoredMims: restored, addons: [...addons.loaded, ...addons.kept], version: VERSION, nodeId },
      `mimoe listening on ${url}`,
    );
    const jwtHint = jwt === undefined ? '' : ' or a JWT with scope edge:mcm';
    logger.info(`MCM API: ${url}/mcm/v1 (Authorization: Bearer <MCM_API_KEY from the key file>${jwtHint})`);
    return { config, port, url, logger, close };
  } catch (err) {
    await close();
    throw err;
  }
}
