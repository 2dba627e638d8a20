import { MimoeError, isMimoeError } from '../errors/index.js';
import type { MimView } from './mim.js';
import { MountTable } from './mounts.js';
import { parseDeployRequest, type DeployRequest, type MimRegistry } from './registry.js';

/** Most entries one composition may hold: a bound on the work one request can ask for. */
export const MAX_COMPOSITION_ENTRIES = 64;

/** Prefixes an entry's error with its index, keeping its code (and so its HTTP status). */
function atEntry(index: number, err: unknown): unknown {
  if (!isMimoeError(err)) return err;
  return new MimoeError(err.code, `mims[${index}]: ${err.message}`, {
    cause: err,
    details: { ...(err.details ?? {}), index },
  });
}

/** Parses `POST /compositions`: `{ mims: [{ name, image, env }, ...] }`, each as `POST /mims`. */
export function parseComposition(body: unknown): DeployRequest[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new MimoeError('ERR_MIM_INVALID', 'the body must be a JSON object { mims: [...] }');
  }
  const mims = (body as Record<string, unknown>)['mims'];
  if (!Array.isArray(mims)) {
    throw new MimoeError('ERR_MIM_INVALID', 'mims is required and must be an array of { name, image, env }');
  }
  if (mims.length === 0) throw new MimoeError('ERR_MIM_INVALID', 'mims must hold at least one mim');
  if (mims.length > MAX_COMPOSITION_ENTRIES) {
    throw new MimoeError(
      'ERR_MIM_INVALID',
      `a composition holds at most ${MAX_COMPOSITION_ENTRIES} mims, got ${mims.length}`,
    );
  }
  return mims.map((entry: unknown, i) => {
    try {
      return parseDeployRequest(entry);
    } catch (err) {
      throw atEntry(i, err);
    }
  });
}

/**
 * Checks every entry against the node and against the entries before it, changing nothing:
 * unknown images, ids already deployed, and mount paths held by deployed mims or claimed twice
 * within the composition are all found before the first deploy.
 */
export function checkComposition(
  registry: MimRegistry,
  clientId: string,
  reqs: readonly DeployRequest[],
): void {
  const planned = new MountTable();
  const names = new Map<string, number>();
  reqs.forEach((req, i) => {
    try {
      const earlier = names.get(req.name);
      if (earlier !== undefined) {
        throw new MimoeError('ERR_MIM_EXISTS', `name ${req.name} is already used by mims[${earlier}]`);
      }
      names.set(req.name, i);
      const { id, paths } = registry.check(clientId, req);
      const clash = planned.conflict(id, clientId, paths);
      if (clash !== undefined) {
        const other = reqs.findIndex((r) => `${clientId}-${r.name}` === clash.mim);
        throw new MimoeError(
          'ERR_MOUNT_CONFLICT',
          `mount path ${clash.path} is also claimed by mims[${other}]`,
        );
      }
      planned.claim(id, clientId, paths);
    } catch (err) {
      throw atEntry(i, err);
    }
  });
}

/**
 * Deploys a composition all-or-nothing (management.md §3): every entry is checked first, then
 * they are deployed in order; if one fails anyway (a sandbox refusing it), the ones already
 * deployed are removed with their fresh DataStores and the failing entry's error is thrown.
 */
export async function deployComposition(
  registry: MimRegistry,
  clientId: string,
  reqs: readonly DeployRequest[],
): Promise<MimView[]> {
  checkComposition(registry, clientId, reqs);
  const deployed: MimView[] = [];
  for (const [i, req] of reqs.entries()) {
    try {
      deployed.push(registry.deploy(clientId, req));
    } catch (err) {
      // Newest first, so the node passes back through the states it went through.
      for (const view of deployed.reverse()) {
        await registry.delete(clientId, view.id).catch(() => undefined);
      }
      throw atEntry(i, err);
    }
  }
  return deployed;
}
