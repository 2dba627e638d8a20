import assert from 'node:assert/strict';
import type { TestNode } from './node-process.js';
import { fixtureImage } from './fixtures.js';

/** A storage call's outcome as the storage test mim reports it. */
export interface OpResult {
  ok?: unknown;
  error?: { name: string; message: string; code: string | null; isTypeError: boolean };
}

/** Uploads the storage test mim's image (once per client) and deploys it at `/{base}/v1`. */
export async function deployStorageMim(
  node: TestNode,
  name: string,
  env: Record<string, string> = {},
  headers: Record<string, string> = {},
): Promise<void> {
  const list = (await (await node.mcm('GET', '/images', { headers })).json()) as { data: { name: string }[] };
  if (!list.data.some((i) => i.name === 'storage-img')) {
    const up = await node.upload(await fixtureImage('storage', 'storage-img'), headers);
    assert.equal(up.status, 200, `upload: ${await up.clone().text()}`);
  }
  const dep = await node.deploy(
    '' + name,
    'storage-img',
    { 'MCM.BASE_API_PATH': `/${name}/v1`, ...env },
    headers,
  );
  assert.equal(dep.status, 201, `deploy ${name}: ${await dep.clone().text()}`);
}

/** The mim's base URL: `/{clientId}/{name}/v1`. */
export function mimUrl(node: TestNode, name: string, clientId = 'api'): string {
  return `${node.url}/${clientId}/${name}/v1`;
}

/** Runs storage calls (`[method, ...args]`) in one request to the mim; one result each. */
export async function ops(base: string, list: unknown[][]): Promise<OpResult[]> {
  const res = await fetch(`${base}/ops`, { method: 'POST', body: JSON.stringify({ ops: list }) });
  assert.equal(res.status, 200, `ops: ${await res.clone().text()}`);
  return (await res.json()) as OpResult[];
}

/** The values of calls that must all succeed. */
export async function okOps(base: string, list: unknown[][]): Promise<unknown[]> {
  const results = await ops(base, list);
  return results.map((r, i) => {
    assert.equal(
      r.error,
      undefined,
      `op ${JSON.stringify(list[i])?.slice(0, 100)} failed: ${r.error?.message}`,
    );
    return r.ok;
  });
}

export async function getJson(url: string, init?: RequestInit): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, init);
  const body: unknown = await res.json();
  return { status: res.status, body };
}
