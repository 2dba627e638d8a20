// Bundles the test mims (test/fixtures/mims/src/*.js) the way published mims are built: ES5,
// browser platform, one IIFE. Node built-ins that `router` reaches for are aliased to small shims,
// as webpack users do. Output: test/fixtures/mims/build/<name>.js (gitignored).
import { build } from 'esbuild';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.join(root, 'test', 'fixtures', 'mims');
const sources = (await readdir(path.join(dir, 'src'))).filter((name) => name.endsWith('.js')).sort();

await Promise.all(
  sources.map((name) =>
    build({
      absWorkingDir: root,
      entryPoints: [path.join(dir, 'src', name)],
      outfile: path.join(dir, 'build', name),
      bundle: true,
      platform: 'browser',
      target: 'es5',
      format: 'iife',
      alias: { url: path.join(dir, 'shims', 'url.cjs') },
      logLevel: 'warning',
    }),
  ),
);
console.log(`test mims: ${sources.length} built into ${path.relative(root, path.join(dir, 'build'))}`);
