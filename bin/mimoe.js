#!/usr/bin/env node
// The mimoe command. Isolates never run in this process: sandbox processes are started with
// --no-node-snapshot by the supervisor, and refuse to start without it.
import { run } from '../dist/src/cli/main.js';

run(process.argv).catch((err) => {
  process.stderr.write(`mimoe: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
