import os from 'node:os';
import path from 'node:path';

/** Every default in one place; docs/reference/config.md documents each. */
export const DEFAULTS = {
  apiPort: 8083,
  /** Decision (management.md §1): loopback only unless asked; `--host 0.0.0.0` serves a LAN. */
  host: '127.0.0.1',
  /** Largest image upload accepted, in bytes (413 past it). */
  maxImageBytes: 64 * 1024 * 1024,
  /** Largest index.js inside an image, in bytes. */
  maxBundleBytes: 32 * 1024 * 1024,
  /** Most entries an image tar (or one of its layers) may hold. */
  maxTarEntries: 10_000,
  /** Largest JSON body on the MCM API, in bytes. */
  maxJsonBodyBytes: 1024 * 1024,
  /** Largest request body forwarded to a mim, in bytes. */
  maxMimBodyBytes: 16 * 1024 * 1024,
  /** Largest response body of a mim's `context.http.request` held in memory, in bytes. */
  mimHttpMaxBodyBytes: 32 * 1024 * 1024,
  /** Largest response body a mim's `context.http.request` writes to an outputFile, in bytes. */
  mimHttpMaxFileBytes: 8 * 1024 * 1024 * 1024,
  /** Quota of each mim's key/value store (its SQLite file), in bytes. */
  mimStoreMaxBytes: 1024 * 1024 * 1024,
  /** Quota of each mim's file area (all its files together), in bytes: the outputFile cap's default. */
  mimFilesMaxBytes: 8 * 1024 * 1024 * 1024,
  /** Heap limit of each mim's isolate, in MiB. */
  mimMemoryMb: 128,
  /**
   * Requests of one mim running at once; more wait in its queue. Each running request holds a
   * fresh context in the mim's isolate. Measured with a router mim and 128 MiB, two bursts of 1000
   * parallel requests: all 200 at 8, 32 and 64 (1.6-1.9 s each) since the isolate is rotated
   * before its heap fills; 32 leaves room for mims that wait on I/O without queueing.
   */
  mimConcurrency: 32,
  /** Requests of one mim waiting for a turn; past it the node answers 503 ERR_MIM_BUSY. */
  mimQueueLength: 1000,
  /** Sandbox processes hosting isolates: at least one per core, never fewer than two. */
  sandboxProcesses: Math.max(2, os.availableParallelism()),
  /** A mim that crashes its sandbox this many times within crashWindowMs is stopped. */
  crashLimit: 3,
  crashWindowMs: 60_000,
  /** How long shutdown waits for in-flight requests before closing anyway. */
  shutdownGraceMs: 5_000,
  logLevel: 'info',
  logFormat: 'text' as 'text' | 'json',
  // JWT verification (jwtJwksFile, jwtPublicKey, jwtIssuer, jwtAudience) is off unless configured.
} as const;

/** Decision: the per-user work dir follows the XDG base directory convention. */
export function defaultWorkDir(): string {
  const xdg = process.env['XDG_DATA_HOME'];
  const base = xdg !== undefined && xdg !== '' ? xdg : path.join(os.homedir(), '.local', 'share');
  return path.join(base, 'mimoe');
}
