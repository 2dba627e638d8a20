import { readFile } from 'node:fs/promises';

/**
 * The guest runtime built by scripts/build-guest.mjs: dist/guest/runtime.js, found relative to
 * this compiled file (dist/src/sandbox/host/).
 */
export const RUNTIME_URL = new URL('../../../guest/runtime.js', import.meta.url);

export async function readRuntimeSource(): Promise<string> {
  try {
    return await readFile(RUNTIME_URL, 'utf8');
  } catch (err) {
    throw new Error(`guest runtime missing at ${RUNTIME_URL.pathname}: run \`npm run build\``, {
      cause: err,
    });
  }
}
