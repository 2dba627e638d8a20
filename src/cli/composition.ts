import fs from 'node:fs';
import type { Command } from 'commander';
import type { CliIo } from './io.js';
import { addConnectionOptions, API_KEY_SOURCES, type ConnectionFlags } from './connection.js';
import { printJson, runClientCommand } from './client-command.js';

const EXAMPLES = `
Examples:
  $ mimoe composition deploy stack.json
  $ mimoe composition deploy stack.json --url http://10.0.0.5:8083 --api-key "$MCM_API_KEY" --json

stack.json holds { "mims": [ { "name", "image", "env" }, ... ] } (or the bare array), each entry
as for POST /mcm/v1/mims. Every entry is checked before the first deploy; if one fails, the ones
already deployed are removed again and nothing stays behind. At most 64 entries.
${API_KEY_SOURCES}
Exit code 0 when every mim is deployed, 1 otherwise (the reason, naming the entry, on stderr).`;

/** `mimoe composition deploy FILE.json`: several mims in one all-or-nothing request. */
export function registerCompositionCommand(program: Command, io: CliIo): void {
  const composition = program
    .command('composition')
    .description('deploy several mims at once on a running node, all or none')
    .configureOutput({ writeOut: (t) => io.stdout.write(t), writeErr: (t) => io.stderr.write(t) });
  const deploy = composition
    .command('deploy')
    .description('deploy the mims listed in a JSON file (POST /mcm/v1/compositions)')
    .argument('<file>', 'JSON file: { "mims": [ { name, image, env }, ... ] }');
  addConnectionOptions(deploy)
    .option('--json', 'print the deployed mims as JSON')
    .configureOutput({ writeOut: (t) => io.stdout.write(t), writeErr: (t) => io.stderr.write(t) })
    .addHelpText('after', EXAMPLES)
    .action(async (file: string, flags: ConnectionFlags) => {
      process.exitCode = await runDeploy(file, flags, io);
    });
}

async function runDeploy(file: string, flags: ConnectionFlags, io: CliIo): Promise<number> {
  return runClientCommand('composition deploy', flags, io, async (connect) => {
    const mims = readComposition(file);
    const deployed = await connect().deployComposition(mims);
    if (flags.json === true) printJson(io, deployed);
    else for (const mim of deployed) io.stdout.write(`Deployed ${mim.id} (image ${mim.image})\n`);
  });
}

function readComposition(file: string): unknown[] {
  let doc: unknown;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(
      code === undefined
        ? `${file} is not valid JSON: ${(err as Error).message}`
        : `cannot read ${file} (${code})`,
    );
  }
  if (Array.isArray(doc)) return doc;
  const mims = (doc as { mims?: unknown } | null)?.mims;
  if (!Array.isArray(mims)) throw new Error(`${file} must hold { "mims": [ ... ] } or an array`);
  return mims;
}
