import type { FastifyInstance, FastifyRequest } from 'fastify';
import { MimoeError } from '../../errors/index.js';
import type { AppDeps } from '../deps.js';
import { HttpResponseSink } from './sink.js';
import { ORIGIN_HEADER } from '../../auth/mim-origin.js';

function mimHeaders(request: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    // The node's mark on a mim's own calls is the node's business: no mim ever sees it.
    if (value === undefined || name === ORIGIN_HEADER) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/**
 * Routes every path the node does not serve itself to the mim mounted there
 * (`/{clientId}{basePath}` and aliases), by longest prefix (runtime.md §6).
 */
export async function gatewayRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  // Mims get their bodies raw, whatever the content type; parsing is theirs to do.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    '*',
    { parseAs: 'buffer', bodyLimit: deps.config.maxMimBodyBytes },
    (_req, body, done) => {
      done(null, body);
    },
  );

  app.all('/*', async (request, reply) => {
    const raw = request.raw.url ?? '/';
    const q = raw.indexOf('?');
    const pathname = q === -1 ? raw : raw.slice(0, q);
    const query = q === -1 ? '' : raw.slice(q);
    if (/^\/(mcm|jsonrpc)(\/|$)/.test(pathname)) {
      // The node's own API space: never a mim's (those client ids are reserved).
      throw new MimoeError('ERR_NOT_FOUND', `no route ${request.method} ${pathname.slice(0, 200)}`);
    }
    const match = deps.mims.mounts.resolve(pathname);
    if (match === undefined) {
      throw new MimoeError('ERR_ROUTE_NOT_FOUND', `no mim is mounted at ${pathname.slice(0, 200)}`);
    }
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const started = process.hrtime.bigint();
    const log = request.log.child({ mim: match.mimId });
    reply.hijack();
    const sink = new HttpResponseSink(reply.raw, request.id, log, (status) => {
      deps.metrics.httpResponse('mim', status);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const line = {
        method: request.method,
        url: pathname.slice(0, 200),
        status,
        ms: Math.round(ms * 100) / 100,
      };
      if (status >= 500) log.error(line, 'mim request failed');
      else log.info(line, 'mim request');
    });
    deps.dispatcher.dispatch(
      match.mimId,
      {
        requestId: request.id,
        method: request.method,
        url: match.rest + query,
        headers: mimHeaders(request),
        body,
      },
      sink,
    );
  });
}
