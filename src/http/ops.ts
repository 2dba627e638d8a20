import type { FastifyInstance } from 'fastify';
import type { AppDeps } from './deps.js';

/** `GET /healthz` and `GET /metrics` (Prometheus text): no auth, nothing secret. */
export function opsRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.get('/healthz', async () => ({
    status: 'ok',
    version: deps.version,
    nodeId: deps.nodeId,
    uptimeSeconds: Math.round(deps.metrics.uptimeSeconds()),
    mims: deps.mims.count(),
    sandboxes: deps.dispatcher.stats(),
  }));

  app.get('/metrics', async (_request, reply) => {
    const gauges: Record<string, number> = { mims_deployed: deps.mims.count() };
    for (const [k, v] of Object.entries(deps.dispatcher.stats())) gauges[`sandbox_${k}`] = v;
    return reply.type('text/plain; version=0.0.4').send(deps.metrics.render(gauges));
  });
}
