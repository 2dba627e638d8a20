import { randomBytes } from 'node:crypto';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import multipart from '@fastify/multipart';
import { MimoeError } from '../errors/index.js';
import type { AppDeps } from './deps.js';
import { errorBody, toHttpError } from './errors.js';
import { registerMcmAuth } from './mcm/auth.js';
import { imageRoutes, imageTarballRoute } from './mcm/images.js';
import { mimRoutes } from './mcm/mims.js';
import { compositionRoutes } from './mcm/compositions.js';
import { gatewayRoutes } from './gateway/routes.js';
import { attachWebSocketUpgrades } from './gateway/websocket-upgrade.js';
import { opsRoutes } from './ops.js';
import { clientErrorHandler } from './client-errors.js';
import { jsonRpcRoutes } from './jsonrpc.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function scopeOf(url: string): 'mcm' | 'other' {
  return url.startsWith('/mcm/') ? 'mcm' : 'other';
}

/** Builds the HTTP app from its dependencies; listening is the caller's business. */
export async function createApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger,
    // One line per request is written by our own onResponse hook and the gateway sink.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.config.maxJsonBodyBytes,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomBytes(8).toString('hex');
    },
    // Trailing slashes and duplicate slashes are a mim's business, not the router's.
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 512 },
    forceCloseConnections: 'idle',
    clientErrorHandler,
    // Errors Fastify raises before routing (a URL with bad percent-encoding...) answer in the
    // node's own shape too.
    frameworkErrors: (err, request, reply: FastifyReply) => {
      const e = toHttpError(err);
      void reply.code(e.status).header('x-request-id', request.id).send(errorBody(e));
    },
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const e = toHttpError(err);
    // A client that hung up while its body was being read (an upload cut short) is not a failure
    // of the node: there is nobody left to answer, and whatever was spooled is already removed.
    if (request.raw.destroyed && request.raw.socket.destroyed) {
      request.log.info({ reason: err.message }, 'the connection closed before the request was read');
      return reply.code(e.status).send(errorBody(e));
    }
    if (e.status >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ code: e.code, reason: e.message }, 'request refused');
    if (e.status === 413) void reply.header('connection', 'close');
    return reply.code(e.status).header('x-request-id', request.id).send(errorBody(e));
  });

  app.setNotFoundHandler((request, reply) => {
    const e = toHttpError(
      new MimoeError('ERR_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`),
    );
    return reply.code(e.status).header('x-request-id', request.id).send(errorBody(e));
  });

  app.addHook('onResponse', async (request, reply) => {
    deps.metrics.httpResponse(scopeOf(request.url), reply.statusCode);
    const line = {
      method: request.method,
      url: request.url.split('?')[0],
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 100) / 100,
    };
    // Refusals while the node starts are expected, not failures.
    if (reply.statusCode >= 500 && deps.ready()) request.log.error(line, 'request');
    else request.log.info(line, 'request');
  });

  app.addHook('onRequest', async (request, reply) => {
    // Until mims and addons are in place an API call could race them (a deploy taking an addon's
    // mount while it is being replaced): the node answers only its health until then.
    if (deps.ready() || request.url === '/healthz') return;
    const e = toHttpError(new MimoeError('ERR_NOT_READY', 'the node is starting; try again in a moment'));
    return reply.code(e.status).header('retry-after', '1').send(errorBody(e));
  });

  app.addHook('onSend', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });

  opsRoutes(app, deps);

  await app.register(
    async (mcm) => {
      await mcm.register(multipart, {
        limits: { files: 1, fields: 8, parts: 16, fileSize: deps.config.maxImageBytes + 1, headerPairs: 100 },
      });
      registerMcmAuth(mcm, deps.keys.mcmApiKey, deps.jwt);
      imageRoutes(mcm, deps);
      mimRoutes(mcm, deps);
      compositionRoutes(mcm, deps);
    },
    { prefix: '/mcm/v1' },
  );

  // Outside the MCM key hook: an edge HMAC code authorises the download on its own.
  await app.register(async (dl) => imageTarballRoute(dl, deps), { prefix: '/mcm/v1' });
  await app.register(async (rpc) => jsonRpcRoutes(rpc, deps));

  await app.register(async (gw) => gatewayRoutes(gw, deps));
  attachWebSocketUpgrades(app.server, deps, deps.sockets);
  // Upgraded sockets are no longer HTTP connections: the server's close would wait for them.
  app.addHook('preClose', async () => deps.sockets.close());
  return app;
}
