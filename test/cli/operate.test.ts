// `mimoe image ...` and `mimoe mim deploy|list|delete` against a real node: the everyday MCM work
// without curl.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Command } from 'commander';
import type { CliIo } from '../../src/cli/io.js';
import { registerImageCommand } from '../../src/cli/image.js';
import { registerMimCommand } from '../../src/cli/mim.js';
import { runCli, type CliRun } from '../helpers/cli.js';
import { fixtureImage } from '../helpers/fixtures.js';
import { BIN, tempDir, TestNode } from '../helpers/node-process.js';

function register(program: Command, io: CliIo): void {
  registerImageCommand(program, io);
  registerMimCommand(program, io);
}

/** The CLI as a user runs it: a separate process, its exit code and both streams. */
function mimoeBin(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  // The caller's own MCM_API_KEY must not decide where the key comes from.
  const base = { ...process.env };
  delete base['MCM_API_KEY'];
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...base, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

/** An HTTP server that is not a mimOE node: answers every request 200 with `body`. */
async function otherServer(body: string, type: string): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': type }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on: taken from the OS, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function failed(run: CliRun, command: string, pattern: RegExp): void {
  assert.equal(run.exitCode, 1, `exit code; stdout: ${run.stdout}`);
  assert.match(run.stderr, new RegExp(`^mimoe ${command}: `));
  assert.match(run.stderr, pattern);
  assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
}

describe('mimoe image / mim: operating a node from the CLI', () => {
  let node: TestNode;
  let dir: string;
  let conn: string[];
  let tarFile: string;
  let tar: Buffer;
  const cli = (...args: string[]): Promise<CliRun> => runCli(register, [...args, ...conn]);

  before(async () => {
    node = await TestNode.start();
    dir = tempDir('mimoe-operate-');
    conn = ['--url', node.url, '--work-dir', node.workDir];
    tar = await fixtureImage('hello-router', 'hello-v1');
    tarFile = path.join(dir, 'hello-v1.tar');
    fs.writeFileSync(tarFile, tar);
  });
  after(async () => {
    await node.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('uploads, lists, deploys with --env and --env-from, downloads, deletes', async () => {
    const upload = await cli('image', 'upload', tarFile);
    assert.equal(upload.exitCode, 0, upload.stderr);
    assert.match(upload.stdout, /^Uploaded image api-hello-v1\n/);
    assert.match(upload.stdout, new RegExp(`size: +.*\\(${tar.length} bytes\\)`));
    assert.match(upload.stdout, /digest: sha256:[0-9a-f]{64}\n/);

    const table = await cli('image', 'list');
    assert.equal(table.exitCode, 0, table.stderr);
    const [header, row, ...rest] = table.stdout.trimEnd().split('\n');
    assert.match(header ?? '', /^ID +NAME +TAGS +SIZE +CREATED +DIGEST$/);
    assert.match(row ?? '', /^api-hello-v1 +hello-v1 +hello-v1:1\.0\.0 +\d/);
    assert.deepEqual(rest, []);
    const listed = await cli('image', 'list', '--json');
    const images = JSON.parse(listed.stdout) as { id: string; size: number; digest: string }[];
    assert.equal(images.length, 1);
    assert.equal(images[0]?.id, 'api-hello-v1');
    assert.equal(images[0]?.size, tar.length);

    const envFile = path.join(dir, 'hello.env');
    fs.writeFileSync(
      envFile,
      '# the mount\nMCM.BASE_API_PATH=/hello/v1\n\nGREETING=from the file\nKEEP=a=b\n',
    );
    const deploy = await cli(
      'mim',
      'deploy',
      '--name',
      'hello',
      '--image',
      'hello-v1',
      '--env-from',
      envFile,
      '--env',
      'GREETING=from the flag',
      '--env',
      'EMPTY=',
    );
    assert.equal(deploy.exitCode, 0, deploy.stderr);
    assert.match(
      deploy.stdout,
      /^Deployed api-hello \(image hello-v1, started\/up\)\n {2}mounted at \/api\/hello\/v1\n$/,
    );

    // The mim runs, with the env the flags gave it (a later --env overrides the file).
    const res = await fetch(`${node.url}/api/hello/v1/echo`);
    assert.equal(res.status, 200);
    const echo = (await res.json()) as { env: Record<string, string> };
    assert.equal(echo.env['GREETING'], 'from the flag');
    assert.equal(echo.env['KEEP'], 'a=b');
    assert.equal(echo.env['EMPTY'], '');

    const mims = await cli('mim', 'list');
    assert.equal(mims.exitCode, 0, mims.stderr);
    assert.match(
      mims.stdout,
      /^ID +IMAGE +STATE +STATUS +MOUNT\napi-hello +hello-v1 +started +up +\/api\/hello\/v1\n$/,
    );
    const mimsJson = JSON.parse((await cli('mim', 'list', '--json')).stdout) as { id: string }[];
    assert.deepEqual(
      mimsJson.map((m) => m.id),
      ['api-hello'],
    );

    const out = path.join(dir, 'copy.tar');
    fs.writeFileSync(out, 'an older file, replaced whole');
    const download = await cli('image', 'download', 'api-hello-v1', out);
    assert.equal(download.exitCode, 0, download.stderr);
    assert.match(download.stdout, /^Downloaded api-hello-v1 to .*copy\.tar \(.*, sha256:[0-9a-f]{64}\)\n$/);
    assert.ok(fs.readFileSync(out).equals(tar), 'the download is byte-identical to the upload');
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.endsWith('.part')),
      [],
      'no temporary file left',
    );

    // Destructive commands want --yes when there is no terminal to ask on.
    const unconfirmed = await cli('mim', 'delete', 'api-hello');
    failed(unconfirmed, 'mim delete', /add --yes/);
    assert.equal((await fetch(`${node.url}/api/hello/v1/hello`)).status, 200, 'still deployed');

    const inUse = await cli('image', 'delete', 'api-hello-v1', '--yes');
    failed(inUse, 'image delete', /\[ERR_IMAGE_IN_USE\] \(HTTP 409\)/);

    const delMim = await cli('mim', 'delete', 'api-hello', '--yes', '--json');
    assert.equal(delMim.exitCode, 0, delMim.stderr);
    assert.equal((JSON.parse(delMim.stdout) as { id: string }).id, 'api-hello');
    const delImage = await cli('image', 'delete', 'api-hello-v1', '--yes');
    assert.equal(delImage.exitCode, 0, delImage.stderr);
    assert.equal(delImage.stdout, 'Deleted image api-hello-v1\n');

    assert.equal((await cli('image', 'list')).stdout, 'No images.\n');
    assert.equal((await cli('mim', 'list')).stdout, 'No mims.\n');
    assert.deepEqual(JSON.parse((await cli('image', 'list', '--json')).stdout), []);
  });

  it('shows the node errors with their code and status, and local mistakes plainly', async () => {
    const badKey = await runCli(register, ['image', 'list', '--url', node.url, '--api-key', 'wrong-key']);
    failed(badKey, 'image list', /\[ERR_UNAUTHORIZED\] \(HTTP 403\)/);

    failed(
      await cli('image', 'delete', 'api-nosuch', '--yes'),
      'image delete',
      /\[ERR_IMAGE_NOT_FOUND\] \(HTTP 404\)/,
    );
    const out = path.join(dir, 'nosuch.tar');
    failed(
      await cli('image', 'download', 'api-nosuch', out),
      'image download',
      /\[ERR_IMAGE_NOT_FOUND\] \(HTTP 404\)/,
    );
    assert.equal(fs.existsSync(out), false);
    failed(
      await cli('mim', 'delete', 'api-nosuch', '--yes'),
      'mim delete',
      /\[ERR_MIM_NOT_FOUND\] \(HTTP 404\)/,
    );

    const missing = path.join(dir, 'missing.tar');
    failed(await cli('image', 'upload', missing), 'image upload', /cannot read .*missing\.tar \(ENOENT\)/);
    const notImage = path.join(dir, 'not-an-image.tar');
    fs.writeFileSync(notImage, 'not a tar');
    failed(await cli('image', 'upload', notImage), 'image upload', /\[ERR_IMAGE_INVALID\] \(HTTP 400\)/);

    const deploy = (...flags: string[]): Promise<CliRun> =>
      cli('mim', 'deploy', '--name', 'x', '--image', 'hello-v1', ...flags);
    failed(await deploy('--env', 'NOEQUALS'), 'mim deploy', /--env "NOEQUALS" is not KEY=VALUE/);
    failed(await deploy('--env', '=value'), 'mim deploy', /--env "=value" is not KEY=VALUE/);
    failed(
      await deploy('--env-from', path.join(dir, 'missing.env')),
      'mim deploy',
      /cannot read .*missing\.env \(ENOENT\)/,
    );
    const badFile = path.join(dir, 'bad.env');
    fs.writeFileSync(badFile, 'A=1\n# fine\nJUST A LINE\n');
    failed(await deploy('--env-from', badFile), 'mim deploy', /bad\.env:3: expected KEY=VALUE/);

    // The node judges what the env means, and its message reaches the user.
    failed(
      await deploy('--env', 'MCM.BASE_API_PATH=no-slash'),
      'mim deploy',
      /MCM\.BASE_API_PATH must be a path .*\[ERR_MIM_INVALID\] \(HTTP 400\)/,
    );
    failed(
      await deploy(),
      'mim deploy',
      /env MCM\.BASE_API_PATH is required \[ERR_MIM_INVALID\] \(HTTP 400\)/,
    );
    const unknownImage = await cli(
      'mim',
      'deploy',
      '--name',
      'x',
      '--image',
      'nosuch',
      '--env',
      'MCM.BASE_API_PATH=/x',
    );
    failed(unknownImage, 'mim deploy', /\[ERR_MIM_IMAGE_UNKNOWN\] \(HTTP 400\)/);

    const noName = await cli('mim', 'deploy', '--image', 'hello-v1');
    assert.equal(noName.exitCode, 1);
    assert.match(noName.stderr, /required option '--name <name>' not specified/);
  });

  it('says plainly when no node answers, as a process: exit code 1, no stack trace', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    for (const args of [
      ['image', 'list'],
      ['image', 'upload', tarFile],
      ['image', 'download', 'api-hello-v1', path.join(dir, 'never.tar')],
      ['mim', 'deploy', '--name', 'x', '--image', 'y', '--env', 'A=b'],
    ]) {
      const run = await mimoeBin([...args, '--url', url, '--api-key', 'k']);
      assert.equal(run.code, 1, `${args.join(' ')}: ${run.stderr}`);
      assert.match(
        run.stderr,
        new RegExp(
          `^mimoe ${args[0]} ${args[1]}: cannot reach the node at ${url}: .*ECONNREFUSED.* \\[ERR_UNREACHABLE\\]\\n$`,
        ),
      );
      assert.equal(run.stdout, '');
    }
  });

  it('takes --env-from in the real binary: Node does not take the flag for itself', async () => {
    // Node 20 intercepts --env-file anywhere on its command line, even after the script name, and
    // exits 9 before mimoe runs: hence --env-from, which must reach mimoe as a user types it.
    assert.equal((await cli('image', 'upload', tarFile)).exitCode, 0);
    const envFile = path.join(dir, 'agent.env');
    fs.writeFileSync(envFile, 'MCM.BASE_API_PATH=/agent/v1\nGREETING=hello\n');
    const run = await mimoeBin([
      'mim',
      'deploy',
      '--name',
      'agent',
      '--image',
      'hello-v1',
      '--env-from',
      envFile,
      ...conn,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Deployed api-agent .*\n {2}mounted at \/api\/agent\/v1\n$/);
    const res = await fetch(`${node.url}/api/agent/v1/echo`);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { env: Record<string, string> }).env['GREETING'], 'hello');
    assert.equal((await cli('mim', 'delete', 'api-agent', '--yes')).exitCode, 0);
    assert.equal((await cli('image', 'delete', 'api-hello-v1', '--yes')).exitCode, 0);
  });

  it('takes the key of an explicit --work-dir over $MCM_API_KEY, and $MCM_API_KEY over the default', async () => {
    const withDir = await mimoeBin(
      ['image', 'list', '--json', '--url', node.url, '--work-dir', node.workDir],
      {
        MCM_API_KEY: 'not-the-key',
      },
    );
    assert.equal(withDir.code, 0, withDir.stderr);
    const fromEnv = await mimoeBin(['image', 'list', '--json', '--url', node.url], {
      MCM_API_KEY: 'not-the-key',
    });
    assert.equal(fromEnv.code, 1);
    assert.match(fromEnv.stderr, /\[ERR_UNAUTHORIZED\] \(HTTP 403\)/);
    const help = await runCli(register, ['image', 'list', '--help']);
    assert.match(
      help.stdout,
      /--api-key, else <work-dir>\/mimoe-api-key\.env if --work-dir is given, else\n\$MCM_API_KEY/,
    );
  });

  it('says when the server at --url is not a mimOE node, instead of a JavaScript error', async () => {
    for (const [body, type, why] of [
      ['<html>welcome</html>', 'text/html', /no JSON from GET \/images; text\/html/],
      ['{"hello":"world"}', 'application/json', /unexpected JSON from GET \/images; application\/json/],
    ] as const) {
      const other = await otherServer(body, type);
      try {
        const run = await runCli(register, ['image', 'list', '--url', other.url, '--api-key', 'k']);
        failed(run, 'image list', new RegExp(`the server at ${other.url} did not answer like a mimOE node`));
        assert.match(run.stderr, why);
        assert.match(run.stderr, /\[ERR_NOT_MIMOE\] \(HTTP 200\)\n$/);
        for (const args of [
          ['mim', 'list'],
          ['mim', 'deploy', '--name', 'x', '--image', 'y', '--env', 'A=b'],
          ['mim', 'delete', 'api-x', '--yes'],
          ['image', 'upload', tarFile],
          ['image', 'delete', 'api-x', '--yes'],
          ['image', 'download', 'api-x', path.join(dir, 'never.tar')],
        ]) {
          const r = await runCli(register, [...args, '--url', other.url, '--api-key', 'k']);
          failed(r, args.slice(0, 2).join(' '), /did not answer like a mimOE node.*\[ERR_NOT_MIMOE\]/);
          assert.doesNotMatch(r.stderr, /Cannot read|undefined|JSON\.parse|Unexpected token/);
        }
      } finally {
        await other.close();
      }
    }
    assert.equal(fs.existsSync(path.join(dir, 'never.tar')), false);
  });

  it('says the TLS handshake failed when --url is https and the node plain http', async () => {
    const url = node.url.replace(/^http:/, 'https:');
    const run = await mimoeBin(['image', 'list', '--url', url, '--api-key', 'k']);
    assert.equal(run.code, 1, run.stderr);
    assert.match(
      run.stderr,
      new RegExp(
        `^mimoe image list: cannot reach the node at ${url}: TLS handshake failed .*plain http\\? \\[ERR_UNREACHABLE\\]\\n$`,
      ),
    );
    assert.doesNotMatch(run.stderr, /SSL routines|openssl/);
  });

  it('refuses a download into a directory or a folder that does not exist, before asking the node', async () => {
    const intoDir = await cli('image', 'download', 'api-hello-v1', dir);
    failed(intoDir, 'image download', new RegExp(`${dir} is a directory: give the file to write`));
    const noFolder = path.join(dir, 'no-such-folder', 'out.tar');
    const missing = await cli('image', 'download', 'api-hello-v1', noFolder);
    failed(missing, 'image download', /cannot write .*out\.tar: the folder .*no-such-folder does not exist/);
    assert.doesNotMatch(missing.stderr, /\.part|ENOENT/);
    // A trailing slash names a folder; a parent that is a file; a folder that cannot be written.
    const slash = await cli('image', 'download', 'api-hello-v1', path.join(dir, 'missing') + '/');
    failed(slash, 'image download', /missing\/ is a directory: give the file to write/);
    const aFile = path.join(dir, 'a-file');
    fs.writeFileSync(aFile, 'x');
    const underFile = await cli('image', 'download', 'api-hello-v1', path.join(aFile, 'x.tar'));
    failed(underFile, 'image download', /cannot write .*x\.tar: .*a-file is not a folder/);
    assert.doesNotMatch(underFile.stderr, /ENOTDIR/);
    if (process.getuid?.() !== 0) {
      const locked = path.join(dir, 'locked');
      fs.mkdirSync(locked, { mode: 0o500 });
      const unwritable = await cli('image', 'download', 'api-hello-v1', path.join(locked, 'x.tar'));
      failed(unwritable, 'image download', /the folder .*locked is not writable/);
    }
    // Checked before the node is asked: no key, no node needed.
    const offline = await runCli(register, [
      'image',
      'download',
      'api-x',
      dir,
      '--url',
      'http://127.0.0.1:1',
    ]);
    failed(offline, 'image download', /is a directory/);
    assert.deepEqual(
      fs.readdirSync(path.dirname(dir)).filter((f) => f.startsWith(`.${path.basename(dir)}.`)),
      [],
      'no temporary file beside the directory',
    );
  });

  it('explains each command with examples', async () => {
    for (const args of [
      ['image', 'upload'],
      ['image', 'list'],
      ['image', 'delete'],
      ['image', 'download'],
      ['mim', 'deploy'],
      ['mim', 'list'],
      ['mim', 'delete'],
    ]) {
      const help = await runCli(register, [...args, '--help']);
      assert.equal(help.exitCode, 0);
      assert.match(help.stdout, /--url <url>/);
      assert.match(help.stdout, /--json/);
      assert.match(help.stdout, new RegExp(`Examples:\\n {2}\\$ mimoe ${args.join(' ')}`));
    }
  });
});
