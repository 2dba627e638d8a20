import type { FastifyInstance } from 'fastify';
import { MimoeError } from '../../errors/index.js';
import { parseDataStoreRequest } from '../../datastore/index.js';
import type { AppDeps } from '../deps.js';

/**
 * `POST /mims/{id}/dataStore` `{ action: "backup" | "restore", path }` (management.md §3).
 * 200 with the operation status (`completed`, or `failed` for an unusable backup file); 404 for
 * an unknown mim or another client's; 400 for a bad action or a path outside the backup directory.
 */
export function dataStoreRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.post<{ Params: { id: string } }>('/mims/:id/dataStore', async (request) => {
    const { id } = request.params;
    // An unknown mim is 404 whatever the body says.
    if (deps.mims.get(request.clientId, id) === undefined)
      throw new MimoeError('ERR_MIM_NOT_FOUND', `mim ${id} not found`);
    const body = parseDataStoreRequest(request.body);
    const started = Date.now();
    const result = await deps.mims.dataStore(request.clientId, id, body);
    const line = { mim: id, action: result.action, status: result.status, ms: Date.now() - started };
    if (result.status === 'completed') request.log.info(line, `DataStore ${result.action} completed`);
    else request.log.warn({ ...line, reason: result.message }, `DataStore ${result.action} failed`);
    return result;
  });
}
