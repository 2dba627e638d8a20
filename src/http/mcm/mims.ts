import type { FastifyInstance } from 'fastify';
import { parseDeployRequest } from '../../mims/registry.js';
import type { AppDeps } from '../deps.js';
import { dataStoreRoutes } from './datastore.js';

/**
 * `GET/POST /mims`, `DELETE /mims/{id}`, and the older `/containers` names that deployed
 * clients still call: views of the same table (management.md §3).
 */
export function mimRoutes(app: FastifyInstance, deps: AppDeps): void {
  for (const resource of ['mims', 'containers']) {
    app.get(`/${resource}`, async (request) => ({ data: deps.mims.list(request.clientId) }));

    app.post(`/${resource}`, async (request, reply) => {
      const req = parseDeployRequest(request.body);
      const view = deps.mims.deploy(request.clientId, req);
      request.log.info({ mim: view.id, image: view.imageId }, 'mim deployed');
      return reply.code(201).send(view);
    });

    app.delete<{ Params: { id: string } }>(`/${resource}/:id`, async (request) => {
      const view = await deps.mims.delete(request.clientId, request.params.id);
      request.log.info({ mim: view.id }, 'mim deleted');
      return view;
    });
  }

  dataStoreRoutes(app, deps);
}
