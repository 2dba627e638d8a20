import { Command } from 'commander';
import { VERSION } from '../version.js';
import type { CliIo } from './io.js';
import { registerServeCommand } from './serve.js';
import { registerPackCommand } from './pack.js';
import { registerMimCommand } from './mim.js';
import { registerTokenCommand } from './token.js';
import { registerAddonCommand } from './addon.js';
import { registerCompositionCommand } from './composition.js';
import { registerImageCommand } from './image.js';

export function buildProgram(io: CliIo): Command {
  const program = new Command('mimoe')
    .description('open mimOE: an edge node that runs mims (MCM API on port 8083)')
    .version(VERSION)
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });
  registerServeCommand(program, io);
  registerPackCommand(program, io);
  registerImageCommand(program, io);
  registerMimCommand(program, io);
  registerTokenCommand(program, io);
  registerAddonCommand(program, io);
  registerCompositionCommand(program, io);
  program.showSuggestionAfterError().addHelpText(
    'after',
    `
Without a command, mimoe starts a node: \`mimoe [serve] --work-dir DIR ...\`.
The node's flags (--work-dir, --api-key-file, --api-port, --host, ...): mimoe serve --help

Examples:
  $ mimoe --work-dir ./work                        start a node on 127.0.0.1:8083
  $ mimoe pack build/index.js --name hello-v1      make an image tar without Docker
  $ mimoe image upload hello-v1.tar                upload it to the running node
  $ mimoe mim deploy --name hello --image hello-v1 --env MCM.BASE_API_PATH=/hello/v1
  $ mimoe mim list                                 the mims, their state and mount paths
  $ mimoe mim backup api-hello nightly.tar         back up a mim's DataStore
  $ mimoe token keygen --out ./jwt                 a key pair for JWTs (then: mimoe token mint)`,
  );
  return program;
}

export async function run(argv: readonly string[]): Promise<void> {
  const io: CliIo = { stdout: process.stdout, stderr: process.stderr };
  await buildProgram(io).parseAsync([...argv]);
}
