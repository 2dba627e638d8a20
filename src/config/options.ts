import path from 'node:path';
import { DEFAULTS, defaultWorkDir } from './defaults.js';
import { MimoeError } from '../errors/index.js';

export type LogFormat = 'text' | 'json';

/** The node's validated, frozen configuration. */
export interface NodeConfig {
  readonly workDir: string;
  readonly apiKeyFile: string;
  /** DataStore backups are read and written here only (default `<workDir>/backups`). */
  readonly backupDir: string;
  readonly apiPort: number;
  readonly host: string;
  readonly maxImageBytes: number;
  readonly maxBundleBytes: number;
  readonly maxTarEntries: number;
  readonly maxJsonBodyBytes: number;
  readonly maxMimBodyBytes: number;
  readonly mimHttpMaxBodyBytes: number;
  readonly mimHttpMaxFileBytes: number;
  readonly mimStoreMaxBytes: number;
  readonly mimFilesMaxBytes: number;
  readonly mimMemoryMb: number;
  readonly mimConcurrency: number;
  readonly mimQueueLength: number;
  readonly sandboxProcesses: number;
  readonly crashLimit: number;
  readonly crashWindowMs: number;
  readonly shutdownGraceMs: number;
  readonly logLevel: string;
  readonly logFormat: LogFormat;
  /** JWKS file whose public keys verify MCM bearer JWTs (undefined: none). */
  readonly jwtJwksFile: string | undefined;
  /** PEM public key file that verifies MCM bearer JWTs (undefined: none). */
  readonly jwtPublicKey: string | undefined;
  /** When set, a JWT's `iss` must equal it. */
  readonly jwtIssuer: string | undefined;
  /** When set, a JWT's `aud` must be or contain it. */
  readonly jwtAudience: string | undefined;
}

export type NodeOptions = Partial<NodeConfig>;

const KNOWN_KEYS = new Set<string>([
  'workDir',
  'apiKeyFile',
  'backupDir',
  'apiPort',
  'host',
  'maxImageBytes',
  'maxBundleBytes',
  'maxTarEntries',
  'maxJsonBodyBytes',
  'maxMimBodyBytes',
  'mimHttpMaxBodyBytes',
  'mimHttpMaxFileBytes',
  'mimStoreMaxBytes',
  'mimFilesMaxBytes',
  'mimMemoryMb',
  'mimConcurrency',
  'mimQueueLength',
  'sandboxProcesses',
  'crashLimit',
  'crashWindowMs',
  'shutdownGraceMs',
  'logLevel',
  'logFormat',
  'jwtJwksFile',
  'jwtPublicKey',
  'jwtIssuer',
  'jwtAudience',
]);

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

function int(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new MimoeError(
      'ERR_BAD_REQUEST',
      `option ${name} must be an integer from ${min} to ${max}, got ${String(v)}`,
    );
  }
  return v;
}

function optionalText(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '') {
    throw new MimoeError('ERR_BAD_REQUEST', `option ${name} must be a non-empty string`);
  }
  return value;
}

function optionalPath(name: string, value: string | undefined): string | undefined {
  const text = optionalText(name, value);
  return text === undefined ? undefined : path.resolve(text);
}

/** Validates options once, fills defaults, and freezes the result. Unknown options are rejected. */
export function resolveConfig(options: NodeOptions = {}): NodeConfig {
  for (const key of Object.keys(options)) {
    if (!KNOWN_KEYS.has(key)) throw new MimoeError('ERR_BAD_REQUEST', `unknown option ${key}`);
  }
  const workDir = path.resolve(options.workDir ?? defaultWorkDir());
  const logLevel = options.logLevel ?? DEFAULTS.logLevel;
  if (!LOG_LEVELS.has(logLevel)) throw new MimoeError('ERR_BAD_REQUEST', `unknown log level ${logLevel}`);
  const logFormat = options.logFormat ?? DEFAULTS.logFormat;
  if (logFormat !== 'text' && logFormat !== 'json') {
    throw new MimoeError('ERR_BAD_REQUEST', `log format must be text or json, got ${String(logFormat)}`);
  }
  const jwtJwksFile = optionalPath('jwtJwksFile', options.jwtJwksFile);
  const jwtPublicKey = optionalPath('jwtPublicKey', options.jwtPublicKey);
  const jwtIssuer = optionalText('jwtIssuer', options.jwtIssuer);
  const jwtAudience = optionalText('jwtAudience', options.jwtAudience);
  if (
    (jwtIssuer !== undefined || jwtAudience !== undefined) &&
    jwtJwksFile === undefined &&
    jwtPublicKey === undefined
  ) {
    throw new MimoeError('ERR_BAD_REQUEST', 'jwtIssuer and jwtAudience need jwtJwksFile or jwtPublicKey');
  }
  return Object.freeze({
    workDir,
    apiKeyFile: path.resolve(options.apiKeyFile ?? path.join(workDir, 'mimoe-api-key.env')),
    backupDir: path.resolve(options.backupDir ?? path.join(workDir, 'backups')),
    apiPort: int('apiPort', options.apiPort, DEFAULTS.apiPort, 0, 65535),
    host: options.host ?? DEFAULTS.host,
    maxImageBytes: int('maxImageBytes', options.maxImageBytes, DEFAULTS.maxImageBytes, 1024, 2 ** 40),
    maxBundleBytes: int('maxBundleBytes', options.maxBundleBytes, DEFAULTS.maxBundleBytes, 1, 2 ** 31),
    maxTarEntries: int('maxTarEntries', options.maxTarEntries, DEFAULTS.maxTarEntries, 1, 1_000_000),
    maxJsonBodyBytes: int(
      'maxJsonBodyBytes',
      options.maxJsonBodyBytes,
      DEFAULTS.maxJsonBodyBytes,
      1024,
      2 ** 30,
    ),
    maxMimBodyBytes: int('maxMimBodyBytes', options.maxMimBodyBytes, DEFAULTS.maxMimBodyBytes, 1024, 2 ** 31),
    mimHttpMaxBodyBytes: int(
      'mimHttpMaxBodyBytes',
      options.mimHttpMaxBodyBytes,
      DEFAULTS.mimHttpMaxBodyBytes,
      1024,
      2 ** 30,
    ),
    mimHttpMaxFileBytes: int(
      'mimHttpMaxFileBytes',
      options.mimHttpMaxFileBytes,
      DEFAULTS.mimHttpMaxFileBytes,
      1024,
      2 ** 50,
    ),
    mimStoreMaxBytes: int(
      'mimStoreMaxBytes',
      options.mimStoreMaxBytes,
      DEFAULTS.mimStoreMaxBytes,
      1024,
      2 ** 50,
    ),
    mimFilesMaxBytes: int(
      'mimFilesMaxBytes',
      options.mimFilesMaxBytes,
      DEFAULTS.mimFilesMaxBytes,
      1024,
      2 ** 50,
    ),
    mimMemoryMb: int('mimMemoryMb', options.mimMemoryMb, DEFAULTS.mimMemoryMb, 8, 16_384),
    mimConcurrency: int('mimConcurrency', options.mimConcurrency, DEFAULTS.mimConcurrency, 1, 10_000),
    mimQueueLength: int('mimQueueLength', options.mimQueueLength, DEFAULTS.mimQueueLength, 0, 1_000_000),
    sandboxProcesses: int('sandboxProcesses', options.sandboxProcesses, DEFAULTS.sandboxProcesses, 1, 256),
    crashLimit: int('crashLimit', options.crashLimit, DEFAULTS.crashLimit, 1, 1000),
    crashWindowMs: int('crashWindowMs', options.crashWindowMs, DEFAULTS.crashWindowMs, 1000, 86_400_000),
    shutdownGraceMs: int('shutdownGraceMs', options.shutdownGraceMs, DEFAULTS.shutdownGraceMs, 0, 600_000),
    logLevel,
    logFormat,
    jwtJwksFile,
    jwtPublicKey,
    jwtIssuer,
    jwtAudience,
  });
}
