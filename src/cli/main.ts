import { Command } from 'commander';
import { VERSION } from '../version.js';
import type { CliIo } from './io.js';
import { registerServeCommand } from './serve.js';
import { registerPackCommand } from './pack.js';
import { registerMimCommand } from './mim.js';

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
  registerMimCommand(program, io);
  return program;
}

export async function run(argv: readonly string[]): Promise<void> {
  const io: CliIo = { stdout: process.stdout, stderr: process.stderr };
  await buildProgram(io).parseAsync([...argv]);
}
