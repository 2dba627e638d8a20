import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { registerPackCommand } from '../../src/cli/pack.js';
import { readMimImage } from '../../src/images/read-image.js';
import { runCli, type CliRun } from '../helpers/cli.js';

/** `mimoe pack`, run in-process through commander with captured output streams. */

let dir: string;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimoe-pack-cli-'));
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  // The command reports failure through process.exitCode; this test process must still exit 0.
  process.exitCode = 0;
});

function runPack(args: string[]): Promise<CliRun> {
  return runCli(registerPackCommand, ['pack', ...args]);
}

const LIMITS = { maxBundleBytes: 1024 * 1024, maxEntries: 100 };
const bundleText = 'mimikModule.exports = function () {};\n';

function writeBundle(): string {
  const file = path.join(dir, 'index.js');
  fs.writeFileSync(file, bundleText);
  return file;
}

describe('mimoe pack', () => {
  it('packs a bundle to -o and prints path, name:tag, size and sha256', async () => {
    const out = path.join(dir, 'out.tar');
    const result = await runPack([writeBundle(), '--name', 'hello-v1', '--tag', '2.0.0', '-o', out]);
    assert.equal(result.exitCode, 0, result.stderr);
    const size = fs.statSync(out).size;
    assert.match(
      result.stdout,
      new RegExp(`hello-v1:2\\.0\\.0 → .*out\\.tar \\(${size} bytes, sha256:[0-9a-f]{64}\\)`),
    );
    const image = await readMimImage(out, LIMITS);
    assert.equal(image.name, 'hello-v1');
    assert.deepEqual(image.repoTags, ['hello-v1:2.0.0']);
    assert.equal(image.bundle.toString(), bundleText);
  });

  it('prints JSON with --json and names the default file <name>-<tag>.tar with / replaced', async () => {
    const outDir = fs.mkdtempSync(path.join(dir, 'json-'));
    const result = await runPack([writeBundle(), '--name', 'acme/hello', '--json', '-o', outDir]);
    assert.equal(result.exitCode, 0, result.stderr);
    const printed = JSON.parse(result.stdout) as Record<string, unknown>;
    const expectedPath = path.join(outDir, 'acme_hello-latest.tar');
    assert.equal(printed['path'], expectedPath);
    assert.equal(printed['name'], 'acme/hello');
    assert.equal(printed['tag'], 'latest');
    assert.equal(printed['size'], fs.statSync(expectedPath).size);
    assert.match(String(printed['sha256']), /^[0-9a-f]{64}$/);
  });

  it('writes ./<name>-<tag>.tar in the working directory by default', async () => {
    const bundle = writeBundle();
    const work = fs.mkdtempSync(path.join(dir, 'cwd-'));
    const previous = process.cwd();
    process.chdir(work);
    try {
      const result = await runPack([bundle, '--name', 'hello', '--tag', '3']);
      assert.equal(result.exitCode, 0, result.stderr);
    } finally {
      process.chdir(previous);
    }
    assert.ok(fs.existsSync(path.join(work, 'hello-3.tar')));
  });

  it('is reproducible with --created', async () => {
    const bundle = writeBundle();
    const a = path.join(dir, 'a.tar');
    const b = path.join(dir, 'b.tar');
    await runPack([bundle, '--name', 'r', '--created', '1700000000', '-o', a]);
    await runPack([bundle, '--name', 'r', '--created', '2023-11-14T22:13:20Z', '-o', b]);
    assert.deepEqual(fs.readFileSync(a), fs.readFileSync(b));
    assert.equal((await readMimImage(a, LIMITS)).created, 1700000000);
  });

  it('fails with a message and exit code 1 on a missing bundle', async () => {
    const result = await runPack([path.join(dir, 'nope.js'), '--name', 'x']);
    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /mimoe pack: cannot read the bundle: .*nope\.js does not exist/);
    assert.equal(result.stdout, '');
  });

  it('fails on an invalid name or --created', async () => {
    const bad = await runPack([writeBundle(), '--name', 'has space', '-o', path.join(dir, 'bad.tar')]);
    assert.equal(bad.exitCode, 1);
    assert.match(bad.stderr, /image name "has space" is invalid/);
    assert.equal(fs.existsSync(path.join(dir, 'bad.tar')), false);
    const when = await runPack([writeBundle(), '--name', 'ok', '--created', 'yesterday']);
    assert.equal(when.exitCode, 1);
    assert.match(when.stderr, /--created "yesterday" is not a date/);
  });

  it('requires --name', async () => {
    const result = await runPack([writeBundle()]);
    assert.equal(result.error?.code, 'commander.missingMandatoryOptionValue');
    assert.match(result.stderr, /--name <name>/);
  });

  it('shows usage examples in --help', async () => {
    const result = await runPack(['--help']);
    assert.equal(result.error?.code, 'commander.helpDisplayed');
    assert.match(result.stdout, /Examples:/);
    assert.match(result.stdout, /mimoe pack build\/index\.js --name hello-v1/);
  });
});
