import type { Command } from 'commander';
import type { MimSummary } from '../client/mcm-client.js';
import { mountPathsOf } from '../mims/env.js';
import type { CliIo } from './io.js';
import { API_KEY_SOURCES, type ConnectionFlags } from './connection.js';
import { clientCommand, confirm, printJson, runClientCommand } from './client-command.js';
import { collect, collectEnv } from './env-args.js';
import { formatTable } from './table.js';

const FOOTER = `
Mim ids are {clientId}-{name}, e.g. api-hello (see \`mimoe mim list\`).
${API_KEY_SOURCES}
Exit code 0 when the operation succeeded, 1 otherwise (the reason and the node's error code on stderr).`;

const EXAMPLES = {
  deploy: `
Examples:
  $ mimoe mim deploy --name hello --image hello-v1 --env MCM.BASE_API_PATH=/hello/v1
      then: curl http://127.0.0.1:8083/api/hello/v1/
  $ mimoe mim deploy --name agent --image agent-v2 --env-from agent.env --env MCM.MAX_EXECUTION_TIME_SEC=120
  $ mimoe mim deploy --name agent --image agent-v2 --env-from agent.env --client-id acme --json

--image is an image *name* (as in \`mimoe image list\`). MCM.BASE_API_PATH is required.
--env-from holds KEY=VALUE lines (# comments, values taken as written); --env adds or overrides.
(Not --env-file: Node.js 20 takes that flag for itself, wherever it stands on the command line.)
For several mims at once, all or none: mimoe composition deploy.${FOOTER}`,
  list: `
Examples:
  $ mimoe mim list
  $ mimoe mim list --client-id acme --json | jq -r '.[] | select(.status != "up") | .id'${FOOTER}`,
  delete: `
Examples:
  $ mimoe mim delete api-hello --yes

Deletes the mim and its DataStore (back it up first: mimoe mim backup). Asks for confirmation on
a terminal; elsewhere --yes is required.${FOOTER}`,
};

interface DeployFlags extends ConnectionFlags {
  name: string;
  image: string;
  env: string[];
  envFrom?: string;
}

/** `mimoe mim deploy|list|delete`, beside backup/restore under `mimoe mim`. */
export function registerMimLifecycle(mim: Command, io: CliIo): void {
  clientCommand(mim, io, 'deploy', 'deploy a mim from an uploaded image (POST /mcm/v1/mims)', EXAMPLES.deploy)
    .requiredOption('--name <name>', 'the mim name (its id becomes {clientId}-{name})')
    .requiredOption('--image <image-name>', 'the name of an image uploaded by this client')
    .option('--env <KEY=VALUE>', 'an env variable (repeatable)', collect, [])
    .option('--env-from <file>', 'KEY=VALUE lines, applied before --env')
    .action(async (flags: DeployFlags) => {
      process.exitCode = await runClientCommand('mim deploy', flags, io, async (connect) => {
        const env = collectEnv(flags.envFrom, flags.env);
        const deployed = await connect().deployMim({ name: flags.name, image: flags.image, env });
        if (flags.json === true) printJson(io, deployed);
        else {
          io.stdout.write(
            `Deployed ${deployed.id} (image ${deployed.image}, ${deployed.state}/${deployed.status})\n` +
              `  mounted at ${mounts(deployed).join(', ')}\n`,
          );
        }
      });
    });

  clientCommand(mim, io, 'list', 'list the deployed mims (GET /mcm/v1/mims)', EXAMPLES.list).action(
    async (flags: ConnectionFlags) => {
      process.exitCode = await runClientCommand('mim list', flags, io, async (connect) => {
        const mims = await connect().listMims();
        if (flags.json === true) printJson(io, mims);
        else io.stdout.write(mimTable(mims));
      });
    },
  );

  clientCommand(
    mim,
    io,
    'delete',
    'delete a mim and its DataStore (DELETE /mcm/v1/mims/{id})',
    EXAMPLES.delete,
  )
    .argument('<mim-id>', 'the mim id, e.g. api-hello')
    .option('-y, --yes', 'delete without asking')
    .action(async (id: string, flags: ConnectionFlags & { yes?: boolean }) => {
      process.exitCode = await runClientCommand('mim delete', flags, io, async (connect) => {
        const client = connect();
        await confirm(flags, io, `Delete mim ${id} and its DataStore?`);
        const deleted = await client.deleteMim(id);
        if (flags.json === true) printJson(io, deleted);
        else io.stdout.write(`Deleted mim ${deleted.id}\n`);
      });
    });
}

/** The paths the gateway serves the mim on, as the node computes them; `-` if the env has none. */
function mounts(mim: MimSummary): string[] {
  try {
    return mountPathsOf(mim.clientId, mim.env);
  } catch {
    return ['-'];
  }
}

function mimTable(mims: readonly MimSummary[]): string {
  if (mims.length === 0) return 'No mims.\n';
  return formatTable(
    ['ID', 'IMAGE', 'STATE', 'STATUS', 'MOUNT'],
    mims.map((m) => [m.id, m.image, m.state, m.status, mounts(m).join(', ')]),
  );
}
