import { DEFAULT_CLIENT_ID } from '../auth/client-id.js';
import { MimoeError } from '../errors/index.js';

export const ENV_BASE_API_PATH = 'MCM.BASE_API_PATH';
export const ENV_API_ALIAS = 'MCM.API_ALIAS';
export const ENV_MAX_EXECUTION_TIME = 'MCM.MAX_EXECUTION_TIME_SEC';
export const ENV_WEBSOCKET = 'MCM.WEBSOCKET_SUPPORT';
export const ENV_WEBSOCKET_SHORT = 'WEBSOCKET_SUPPORT';
export const ENV_DB_ENCRYPTION = 'MCM.DB_ENCRYPTION_SUPPORT';
export const ENV_RUNTIME = 'MCM.RUNTIME';
export const ADDON_PREFIX = 'MCM.ADDON.';
/** Set on every addon mim by the loader: what makes it protected (registry.ts isAddonMim). */
export const ENV_ADDON_ID = `${ADDON_PREFIX}ID`;

const MAX_KEYS = 256;
const MAX_KEY_LENGTH = 256;
const MAX_VALUE_LENGTH = 64 * 1024;
const MAX_EXECUTION_SEC = 3600;
/** A base path: one or more segments of URL-safe characters. */
const BASE_PATH = /^(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+\/?$/;

// eslint-disable-next-line no-control-regex -- the point is to reject control characters
const CONTROL = /[\u0000-\u001f\u007f]/;

function invalid(message: string): MimoeError {
  return new MimoeError('ERR_MIM_INVALID', message);
}

/**
 * Whether the mim takes WebSocket clients and its events reach them: `MCM.WEBSOCKET_SUPPORT` or
 * `WEBSOCKET_SUPPORT` is "true" (the sandbox applies the same rule, src/sandbox/abi.ts).
 */
export function websocketSupported(env: Readonly<Record<string, string>>): boolean {
  return env[ENV_WEBSOCKET] === 'true' || env[ENV_WEBSOCKET_SHORT] === 'true';
}

/** Normalises a base path: the trailing slash is ignored (runtime.md §6). */
export function normaliseBasePath(value: string): string {
  if (!BASE_PATH.test(value) || value.length > 512) {
    throw invalid(`${ENV_BASE_API_PATH} must be a path such as /my-agent/v1, got ${JSON.stringify(value)}`);
  }
  const segments = value.split('/').slice(1);
  if (segments.some((s) => s === '.' || s === '..')) {
    throw invalid(`${ENV_BASE_API_PATH} must not contain "." or ".." segments`);
  }
  return value.endsWith('/') ? value.slice(0, -1) : value;
}

/**
 * Where the gateway mounts a mim of `clientId` with this env: `/{clientId}{base}`, and also
 * `/api{base}` with `MCM.API_ALIAS: "true"`. A pure function so the CLI shows the same paths the
 * node routes (the mim object of the seed has no field for them).
 */
export function mountPathsOf(clientId: string, env: Readonly<Record<string, string>>): string[] {
  const base = normaliseBasePath(env[ENV_BASE_API_PATH] ?? '');
  const paths = [`/${clientId}${base}`];
  if (env[ENV_API_ALIAS] === 'true' && clientId !== DEFAULT_CLIENT_ID)
    paths.push(`/${DEFAULT_CLIENT_ID}${base}`);
  return paths;
}

/**
 * Validates a deploy request's env map and fills in the MCM.* defaults (management.md §3).
 * Values may arrive as numbers or booleans from hand-written JSON; they are kept as strings,
 * since mims compare with "true".
 */
export function validateEnv(input: unknown): Record<string, string> {
  if (input === undefined || input === null) input = {};
  if (typeof input !== 'object' || Array.isArray(input)) throw invalid('env must be an object of strings');
  const entries = Object.entries(input as Record<string, unknown>);
  if (entries.length > MAX_KEYS) throw invalid(`env may hold at most ${MAX_KEYS} keys`);
  const env: Record<string, string> = {};
  for (const [key, raw] of entries) {
    if (key === '' || key.length > MAX_KEY_LENGTH || CONTROL.test(key)) {
      throw invalid(
        `env key ${JSON.stringify(key.slice(0, 64))} is empty, too long or has control characters`,
      );
    }
    if (key.startsWith(ADDON_PREFIX))
      throw invalid(`env keys starting with ${ADDON_PREFIX} are reserved for addons`);
    if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean') {
      throw invalid(`env value of ${key} must be a string`);
    }
    const value = String(raw);
    if (value.length > MAX_VALUE_LENGTH)
      throw invalid(`env value of ${key} is longer than ${MAX_VALUE_LENGTH} characters`);
    env[key] = value;
  }
  const base = env[ENV_BASE_API_PATH];
  if (base === undefined) throw invalid(`env ${ENV_BASE_API_PATH} is required`);
  normaliseBasePath(base);
  const runtime = env[ENV_RUNTIME] ?? 'js';
  if (runtime !== 'js')
    throw invalid(`${ENV_RUNTIME} "${runtime}" is not supported: this node runs the js runtime`);
  const maxSec = env[ENV_MAX_EXECUTION_TIME] ?? '30';
  if (!/^\d{1,5}$/.test(maxSec) || Number(maxSec) < 1 || Number(maxSec) > MAX_EXECUTION_SEC) {
    throw invalid(
      `${ENV_MAX_EXECUTION_TIME} must be a whole number of seconds from 1 to ${MAX_EXECUTION_SEC}`,
    );
  }
  const websocket = env[ENV_WEBSOCKET] ?? env[ENV_WEBSOCKET_SHORT] ?? 'false';
  return {
    ...env,
    [ENV_WEBSOCKET]: websocket,
    [ENV_DB_ENCRYPTION]: env[ENV_DB_ENCRYPTION] ?? 'false',
    [ENV_MAX_EXECUTION_TIME]: maxSec,
    [ENV_RUNTIME]: runtime,
  };
}
