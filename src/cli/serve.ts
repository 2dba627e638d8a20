import { Command, InvalidArgumentError } from 'commander';
import { startNode, type RunningNode } from '../main.js';
import { isMimoeError } from '../errors/index.js';
import type { CliIo } from './io.js';

function integer(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}

/** A size in MiB that must leave room for something: 0 would refuse every write. */
function mebibytes(value: string): number {
  const n = integer(value);
  if (n < 1) throw new InvalidArgumentError('expected a whole number of MiB, at least 1');
  // The node takes sizes up to 2^50 bytes: say the bound in the flag's own unit.
  if (n > 2 ** 30) throw new InvalidArgumentError(`expected a whole number of MiB, at most ${2 ** 30}`);
  return n;
}

interface ServeFlags {
  workDir?: string;
  apiKeyFile?: string;
  backupDir?: string;
  apiPort?: number;
  host?: string;
  maxImageMb?: number;
  mimMemoryMb?: number;
  mimHttpMaxBodyMb?: number;
  mimHttpMaxFileMb?: number;
  mimStoreMaxMb?: number;
  mimFilesMaxMb?: number;
  mimConcurrency?: number;
  mimQueue?: number;
  sandboxProcesses?: number;
  logLevel?: string;
  logFormat?: 'text' | 'json';
  jwtJwksFile?: string;
  jwtPublicKey?: string;
  jwtIssuer?: string;
  jwtAudience?: string;
}

/** `mimoe [serve]`: start a node and run until SIGINT/SIGTERM. */
export function registerServeCommand(program: Command, io: CliIo): void {
  program
    .command('serve', { isDefault: true })
    .description('start a node (the default command)')
    .option(
      '--work-dir <dir>',
      'work dir: keys, node database, images, mim data (default: $XDG_DATA_HOME/mimoe or ~/.local/share/mimoe)',
    )
    .option(
      '--api-key-file <file>',
      'API key file (default: <work-dir>/mimoe-api-key.env; created if missing)',
    )
    .option(
      '--backup-dir <dir>',
      'where DataStore backups are written and read; API paths are confined to it (default: <work-dir>/backups)',
    )
    .option('--api-port <port>', 'port of the MCM API and mims (0 picks a free one)', integer)
    .option('--host <address>', 'address to bind; 0.0.0.0 serves the LAN (default: 127.0.0.1)')
    .option('--max-image-mb <mib>', 'largest image upload accepted, in MiB (default: 64)', integer)
    .option('--mim-memory-mb <mib>', 'heap limit of each mim, in MiB (default: 128)', integer)
    .option(
      '--mim-http-max-body-mb <mib>',
      "largest response body of a mim's outbound request held in memory, in MiB (default: 32)",
      integer,
    )
    .option(
      '--mim-http-max-file-mb <mib>',
      "largest response body a mim's outbound request writes to an outputFile, in MiB (default: 8192)",
      integer,
    )
    .option(
      '--mim-store-max-mb <mib>',
      "quota of each mim's key/value store, in MiB (default: 1024)",
      mebibytes,
    )
    .option(
      '--mim-files-max-mb <mib>',
      "quota of each mim's file area (all its files), in MiB (default: 8192)",
      mebibytes,
    )
    .option(
      '--mim-concurrency <n>',
      'requests of one mim running at once; more wait in its queue (default: 32)',
      integer,
    )
    .option(
      '--mim-queue <n>',
      'requests of one mim waiting for a turn; past it 503 ERR_MIM_BUSY (default: 1000)',
      integer,
    )
    .option(
      '--sandbox-processes <n>',
      'sandbox processes hosting mims (default: one per core, at least 2)',
      integer,
    )
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace (default: info)')
    .option('--log-format <format>', 'text or json (default: text)')
    .option('--jwt-jwks-file <file>', 'JWKS file ({"keys":[...]}) whose public keys verify MCM bearer JWTs')
    .option('--jwt-public-key <file>', 'PEM public key that verifies MCM bearer JWTs')
    .option('--jwt-issuer <iss>', 'require this iss claim in JWTs')
    .option('--jwt-audience <aud>', 'require this aud claim in JWTs')
    .addHelpText(
      'after',
      `
Examples:
  $ mimoe --work-dir ./work
  $ mimoe --work-dir /var/lib/mimoe --host 0.0.0.0 --api-port 8083
  $ mimoe --work-dir ./work --jwt-public-key ./jwt/public.pem     also take JWTs (docs/guides/jwt.md)
  $ curl -H "Authorization: Bearer $(grep MCM_API_KEY ./work/mimoe-api-key.env | cut -d= -f2)" \\
      http://127.0.0.1:8083/mcm/v1/images`,
    )
    .action(async (flags: ServeFlags) => {
      // Everything the node writes (databases, blobs, mim data) is for its owner only.
      process.umask(0o077);
      // Signals are handled from the first moment: one that arrives during start-up stops the
      // node as soon as it is up, instead of killing it half-initialised.
      let node: RunningNode | undefined;
      let stopRequested = false;
      let signals = 0;
      const stop = (): void => {
        if (node === undefined) return;
        const running = node;
        running.close().then(
          () => {
            process.exitCode ??= 0;
          },
          (err: unknown) => {
            running.logger.error({ err }, 'shutdown failed');
            process.exitCode = 1;
          },
        );
      };
      const onSignal = (signal: NodeJS.Signals): void => {
        signals++;
        if (signals > 1) {
          io.stderr.write(`mimoe: second ${signal}, exiting now\n`);
          process.exit(1);
        }
        node?.logger.info(`${signal} received`);
        stopRequested = true;
        stop();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        node = await startNode({
          ...(flags.workDir === undefined ? {} : { workDir: flags.workDir }),
          ...(flags.apiKeyFile === undefined ? {} : { apiKeyFile: flags.apiKeyFile }),
          ...(flags.backupDir === undefined ? {} : { backupDir: flags.backupDir }),
          ...(flags.apiPort === undefined ? {} : { apiPort: flags.apiPort }),
          ...(flags.host === undefined ? {} : { host: flags.host }),
          ...(flags.maxImageMb === undefined ? {} : { maxImageBytes: flags.maxImageMb * 1024 * 1024 }),
          ...(flags.mimMemoryMb === undefined ? {} : { mimMemoryMb: flags.mimMemoryMb }),
          ...(flags.mimHttpMaxBodyMb === undefined
            ? {}
            : { mimHttpMaxBodyBytes: flags.mimHttpMaxBodyMb * 1024 * 1024 }),
          ...(flags.mimHttpMaxFileMb === undefined
            ? {}
            : { mimHttpMaxFileBytes: flags.mimHttpMaxFileMb * 1024 * 1024 }),
          ...(flags.mimStoreMaxMb === undefined
            ? {}
            : { mimStoreMaxBytes: flags.mimStoreMaxMb * 1024 * 1024 }),
          ...(flags.mimFilesMaxMb === undefined
            ? {}
            : { mimFilesMaxBytes: flags.mimFilesMaxMb * 1024 * 1024 }),
          ...(flags.mimConcurrency === undefined ? {} : { mimConcurrency: flags.mimConcurrency }),
          ...(flags.mimQueue === undefined ? {} : { mimQueueLength: flags.mimQueue }),
          ...(flags.sandboxProcesses === undefined ? {} : { sandboxProcesses: flags.sandboxProcesses }),
          ...(flags.logLevel === undefined ? {} : { logLevel: flags.logLevel }),
          ...(flags.logFormat === undefined ? {} : { logFormat: flags.logFormat }),
          ...(flags.jwtJwksFile === undefined ? {} : { jwtJwksFile: flags.jwtJwksFile }),
          ...(flags.jwtPublicKey === undefined ? {} : { jwtPublicKey: flags.jwtPublicKey }),
          ...(flags.jwtIssuer === undefined ? {} : { jwtIssuer: flags.jwtIssuer }),
          ...(flags.jwtAudience === undefined ? {} : { jwtAudience: flags.jwtAudience }),
        });
      } catch (err) {
        const code = isMimoeError(err) ? ` (${err.code})` : '';
        io.stderr.write(`mimoe: cannot start: ${err instanceof Error ? err.message : String(err)}${code}\n`);
        process.exitCode = 1;
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        return;
      }
      if (stopRequested) stop();
    });
}
