import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { McmApiError, McmClient } from '../client/mcm-client.js';
import type { CliIo } from './io.js';
import { addConnectionOptions, resolveApiKey, type ConnectionFlags } from './connection.js';

/**
 * The shape every client command shares: the connection flags, `--json`, output on the injected
 * streams, usage text with examples after the options.
 */
export function clientCommand(
  parent: Command,
  io: CliIo,
  name: string,
  description: string,
  examples: string,
): Command {
  const command = parent.command(name).description(description);
  return addConnectionOptions(command)
    .option('--json', 'print the answer as JSON')
    .configureOutput({ writeOut: (t) => io.stdout.write(t), writeErr: (t) => io.stderr.write(t) })
    .addHelpText('after', examples);
}

/**
 * Runs a client command's body and turns every failure into one line `mimoe <command>: <why>` on
 * stderr and exit code 1: the node's answers with their error code and status, local mistakes
 * (unreadable files, malformed flags) with their errno. Never a stack trace: the user can act on
 * the message, not on our frames. `connect` resolves the key, so a body checks its local inputs
 * first and a missing file is reported as such even without a key.
 */
export async function runClientCommand(
  command: string,
  flags: ConnectionFlags,
  io: CliIo,
  body: (connect: () => McmClient) => Promise<void>,
): Promise<number> {
  const connect = (): McmClient =>
    new McmClient({ url: flags.url, apiKey: resolveApiKey(flags), clientId: flags.clientId });
  try {
    await body(connect);
    return 0;
  } catch (err) {
    io.stderr.write(`mimoe ${command}: ${describeFailure(err)}\n`);
    return 1;
  }
}

/** One line saying what failed: `<message> [ERR_CODE] (HTTP 404)` for the node's errors. */
export function describeFailure(err: unknown): string {
  if (err instanceof McmApiError) {
    return `${err.message} [${err.code}]${err.status === 0 ? '' : ` (HTTP ${err.status})`}`;
  }
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

/** Writes `value` as indented JSON, the `--json` output of every client command. */
export function printJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * A destructive command asks first, unless `--yes`. Without a terminal to ask on, it refuses:
 * scripts say `--yes` explicitly rather than delete a mim and its data by default.
 */
export async function confirm(flags: { yes?: boolean }, io: CliIo, question: string): Promise<void> {
  if (flags.yes === true) return;
  if (process.stdin.isTTY !== true) throw new Error(`${question} Not confirmed: add --yes to go ahead`);
  const rl = createInterface({ input: process.stdin, output: io.stderr });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim())) throw new Error('cancelled');
  } finally {
    rl.close();
  }
}
