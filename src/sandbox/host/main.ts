/**
 * Entry of a sandbox process (forked by the supervisor). isolated-vm crashes V8 intermittently on
 * Node 20 unless the node snapshot is off, so this process refuses to start without
 * `--no-node-snapshot`, and loads everything that touches isolated-vm only after the check.
 */
import { EXIT_MISSING_FLAG } from '../protocol.js';

if (!process.execArgv.includes('--no-node-snapshot')) {
  process.stderr.write(
    'mimoe sandbox: refusing to start: node must run with --no-node-snapshot (isolated-vm needs it)\n',
  );
  process.exit(EXIT_MISSING_FLAG);
}

const { runSandbox } = await import('./sandbox.js');
await runSandbox();
