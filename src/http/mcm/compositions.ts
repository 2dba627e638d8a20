import type { FastifyInstance } from 'fastify';
import { deployComposition, parseComposition } from '../../mims/compositions.js';
import type { AppDeps } from '../deps.js';

/** `POST /compositions` (seed: Deploy Composition): several mims, all or none. */
export function compositionRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.post('/compositions', async (request, reply) => {
    const reqs = parseComposition(request.body);
    const views = await deployComposition(deps.mims, request.clientId, reqs);
    request.log.info({ mims: views.map((v) => v.id) }, 'composition deployed');
    return reply.code(201).send(views);
  });
}
