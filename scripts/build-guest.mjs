// Bundles the guest runtime (src/sandbox/guest) with the `buffer` polyfill into dist/guest/runtime.js.
// The output is one classic script whose completion value is the guest's `entry` function: the
// esbuild IIFE assigns its exports to a local of a wrapper function that returns `entry`, so no
// global is left behind.
import { build } from 'esbuild';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outFile = path.join(root, 'dist', 'guest', 'runtime.js');

const result = await build({
  absWorkingDir: root,
  entryPoints: ['src/sandbox/guest/main.ts'],
  tsconfig: 'src/sandbox/guest/tsconfig.json',
  bundle: true,
  format: 'iife',
  globalName: '__mimoeRuntime',
  platform: 'browser',
  target: 'es2020',
  write: false,
  legalComments: 'inline',
  logLevel: 'warning',
  banner: { js: '(function () {' },
  footer: { js: 'return __mimoeRuntime.entry;\n})();' },
});

const output = result.outputFiles[0];
if (output === undefined) throw new Error('esbuild produced no output');
await mkdir(path.dirname(outFile), { recursive: true });
await writeFile(outFile, output.text);
console.log(`guest runtime: ${path.relative(root, outFile)} (${output.text.length} bytes)`);
