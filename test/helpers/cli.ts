import { Writable } from 'node:stream';
import { Command, CommanderError } from 'commander';
import type { CliIo } from '../../src/cli/io.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString();
    callback();
  }
}

export interface CliRun {
  stdout: string;
  stderr: string;
  /** process.exitCode as the command left it, or commander's exit code when it refused the call. */
  exitCode: number;
  /** Set when commander refused the call (usage error, help shown). */
  error?: CommanderError;
}

function overrideExits(command: Command): void {
  command.exitOverride();
  for (const sub of command.commands) overrideExits(sub);
}

/**
 * Runs `mimoe <args>` in-process with one command registered and output captured; commander's
 * exits become a returned error, and process.exitCode is put back as it was.
 */
export async function runCli(
  register: (program: Command, io: CliIo) => void,
  args: string[],
): Promise<CliRun> {
  const stdout = new Capture();
  const stderr = new Capture();
  const program = new Command('mimoe');
  register(program, { stdout, stderr });
  overrideExits(program);
  const previous = process.exitCode;
  process.exitCode = 0;
  let error: CommanderError | undefined;
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    error = err;
  }
  const exitCode = error?.exitCode ?? (typeof process.exitCode === 'number' ? process.exitCode : 0);
  process.exitCode = previous;
  return { stdout: stdout.text, stderr: stderr.text, exitCode, ...(error === undefined ? {} : { error }) };
}
