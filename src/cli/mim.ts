import type { Command } from 'commander';
import { McmApiError, McmClient, type DataStoreAction, type DataStoreStatus } from '../client/mcm-client.js';
import type { CliIo } from './io.js';
import { addConnectionOptions, API_KEY_SOURCES, resolveApiKey, type ConnectionFlags } from './connection.js';
import { registerMimLifecycle } from './mim-lifecycle.js';
import { describeFailure } from './client-command.js';

const EXAMPLES = `
Examples:
  $ mimoe mim backup api-my-agent nightly/my-agent.tar
      backs up the DataStore of mim api-my-agent to <backup-dir>/api/nightly/my-agent.tar
  $ mimoe mim restore api-my-agent nightly/my-agent.tar
  $ mimoe mim backup api-my-agent my-agent.tar --url http://10.0.0.5:8083 --api-key "$MCM_API_KEY"
  $ mimoe mim restore acme-agent agent.tar --client-id acme --work-dir /var/lib/mimoe --json

Paths are resolved inside the client's folder of the node's backup directory (serve --backup-dir,
default <work-dir>/backups, then the client id); paths that leave it are refused. A backup holds
the store and the file area; a restore checks the file before it replaces anything, and the mim's
requests wait meanwhile.
${API_KEY_SOURCES}
Exit code 0 when the operation completed, 1 otherwise (the reason on stderr).`;

/** `mimoe mim deploy|list|delete` and `mimoe mim backup|restore <mim-id> <path>` on a running node. */
export function registerMimCommand(program: Command, io: CliIo): void {
  const mim = program
    .command('mim')
    .description('operate on the mims of a running node')
    .configureOutput({ writeOut: (t) => io.stdout.write(t), writeErr: (t) => io.stderr.write(t) });
  registerMimLifecycle(mim, io);
  for (const action of ['backup', 'restore'] as const) {
    const command = mim
      .command(action)
      .description(
        action === 'backup'
          ? "back up a mim's DataStore (store and file area) while it keeps serving"
          : "restore a mim's DataStore from a backup (validated first; live data untouched if invalid)",
      )
      .argument('<mim-id>', 'the mim id, {clientId}-{name}, e.g. api-my-agent')
      .argument('<path>', "backup file, relative to the node's backup directory");
    addConnectionOptions(command)
      .option('--json', 'print the operation status as JSON')
      .configureOutput({ writeOut: (t) => io.stdout.write(t), writeErr: (t) => io.stderr.write(t) })
      .addHelpText('after', EXAMPLES)
      .action(async (mimId: string, file: string, flags: ConnectionFlags) => {
        process.exitCode = await runDataStore(action, mimId, file, flags, io);
      });
  }
}

async function runDataStore(
  action: DataStoreAction,
  mimId: string,
  file: string,
  flags: ConnectionFlags,
  io: CliIo,
): Promise<number> {
  const fail = (message: string, json?: unknown): number => {
    if (flags.json === true && json !== undefined) io.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    io.stderr.write(`mimoe mim ${action}: ${message}\n`);
    return 1;
  };
  let apiKey: string;
  try {
    apiKey = resolveApiKey(flags);
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err));
  }
  const client = new McmClient({ url: flags.url, apiKey, clientId: flags.clientId });
  let result: DataStoreStatus;
  try {
    result = await client.dataStore(mimId, action, file);
  } catch (err) {
    return fail(describeFailure(err), err instanceof McmApiError ? err.body : undefined);
  }
  if (result.status !== 'completed') {
    return fail(
      `${result.status}: ${result.message}${result.error === undefined ? '' : ` [${result.error}]`}`,
      result,
    );
  }
  if (flags.json === true) io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else
    io.stdout.write(
      `${action === 'backup' ? 'Backed up' : 'Restored'} ${mimId}: ${result.message} (${result.path})\n`,
    );
  return 0;
}
