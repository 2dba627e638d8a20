import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { registerTokenCommand } from '../../src/cli/token.js';
import { loadJwtVerifier, type JwtVerifier } from '../../src/auth/jwt.js';
import { tempDir } from '../helpers/node-process.js';
import { runCli, type CliRun } from '../helpers/cli.js';

/** `mimoe token keygen|mint`, run in-process through commander with captured output streams. */

let dir: string;
before(() => {
  dir = tempDir('mimoe-token-cli-');
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  // The command reports failure through process.exitCode; this test process must still exit 0.
  process.exitCode = 0;
});

function token(args: string[]): Promise<CliRun> {
  return runCli(registerTokenCommand, ['token', ...args]);
}

function mode(file: string): number {
  return fs.statSync(file).mode & 0o777;
}

describe('mimoe token keygen', () => {
  for (const alg of ['ES256', 'RS256'] as const) {
    it(`writes an ${alg} pair: private.pem 0600, public.pem and jwks.json`, async () => {
      const out = path.join(dir, `keys-${alg}`);
      const run = await token(['keygen', '--out', out, '--alg', alg]);
      assert.equal(run.exitCode, 0, run.stderr);
      assert.match(run.stdout, new RegExp(`^${alg} key pair, kid `));
      assert.match(run.stdout, /--jwt-public-key .*public\.pem/);
      assert.equal(mode(path.join(out, 'private.pem')), 0o600);
      assert.equal(mode(path.join(out, 'public.pem')), 0o644);
      assert.match(fs.readFileSync(path.join(out, 'private.pem'), 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
      assert.match(fs.readFileSync(path.join(out, 'public.pem'), 'utf8'), /^-----BEGIN PUBLIC KEY-----/);
      const jwks = JSON.parse(fs.readFileSync(path.join(out, 'jwks.json'), 'utf8')) as {
        keys: Record<string, unknown>[];
      };
      assert.equal(jwks.keys.length, 1);
      const [jwk] = jwks.keys;
      assert.equal(jwk?.['alg'], alg);
      assert.equal(jwk?.['use'], 'sig');
      assert.equal(jwk?.['kty'], alg === 'ES256' ? 'EC' : 'RSA');
      assert.ok(!('d' in (jwk ?? {})), 'the JWKS holds no private part');
      // Both files load as the node would load them.
      assert.deepEqual(loadJwtVerifier({ publicKeyFile: path.join(out, 'public.pem') })?.algorithms, [
        ...(alg === 'ES256' ? ['ES256'] : ['RS256', 'PS256']),
      ]);
      assert.deepEqual(loadJwtVerifier({ jwksFile: path.join(out, 'jwks.json') })?.algorithms, [alg]);
    });
  }

  it('refuses to overwrite existing files without --force, and keeps them', async () => {
    const out = path.join(dir, 'twice');
    assert.equal((await token(['keygen', '--out', out])).exitCode, 0);
    const before = fs.readFileSync(path.join(out, 'private.pem'), 'utf8');
    const again = await token(['keygen', '--out', out]);
    assert.equal(again.exitCode, 1);
    assert.match(again.stderr, /^mimoe token keygen: .*private\.pem.* already exist\(s\); use --force/);
    assert.equal(fs.readFileSync(path.join(out, 'private.pem'), 'utf8'), before);
    // --force replaces them, and a private key made wider meanwhile is owner-only again.
    fs.chmodSync(path.join(out, 'private.pem'), 0o644);
    assert.equal((await token(['keygen', '--out', out, '--force'])).exitCode, 0);
    assert.notEqual(fs.readFileSync(path.join(out, 'private.pem'), 'utf8'), before);
    assert.equal(mode(path.join(out, 'private.pem')), 0o600);
  });

  it('refuses an unknown --alg and a missing --out', async () => {
    const bad = await token(['keygen', '--out', path.join(dir, 'x'), '--alg', 'HS256']);
    assert.equal(bad.exitCode, 1);
    assert.match(bad.stderr, /--alg must be ES256 or RS256, got HS256/);
    assert.ok(!fs.existsSync(path.join(dir, 'x')));
    const missing = await token(['keygen']);
    assert.match(missing.error?.message ?? '', /required option '--out <dir>'/);
  });
});

describe('mimoe token mint', () => {
  let keys: string;
  let verifier: JwtVerifier;
  before(async () => {
    keys = path.join(dir, 'mint-keys');
    assert.equal((await token(['keygen', '--out', keys])).exitCode, 0);
    verifier = loadJwtVerifier({ jwksFile: path.join(keys, 'jwks.json') }) as JwtVerifier;
  });
  const privateKey = (): string => path.join(keys, 'private.pem');

  it('prints a token the JWKS verifies, with the keygen kid and one hour of life', async () => {
    const run = await token(['mint', '--key', privateKey(), '--client-id', 'my-app']);
    assert.equal(run.exitCode, 0, run.stderr);
    const jwt = run.stdout.trim();
    assert.equal(run.stdout, `${jwt}\n`);
    const identity = await verifier.verify(jwt);
    assert.equal(identity.clientId, 'my-app');
    const header = decodeProtectedHeader(jwt);
    assert.equal(header.alg, 'ES256');
    assert.equal(header.kid, verifier.keys[0]?.kid);
    const claims = decodeJwt(jwt);
    assert.equal(claims['scope'], 'edge:mcm');
    assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 3600);
  });

  it('prints JSON with --json and takes scope, expiry, kid, issuer, audience and subject', async () => {
    const run = await token([
      'mint',
      '--key',
      privateKey(),
      '--client-id',
      'acme',
      '--scope',
      'openid edge:mcm',
      '--expires',
      '15m',
      '--kid',
      'custom',
      '--issuer',
      'https://id.example',
      '--audience',
      'edge',
      '--subject',
      'user-7',
      '--json',
    ]);
    assert.equal(run.exitCode, 0, run.stderr);
    const out = JSON.parse(run.stdout) as Record<string, string>;
    assert.deepEqual(Object.keys(out).sort(), ['alg', 'clientId', 'expiresAt', 'kid', 'scope', 'token']);
    assert.equal(out['kid'], 'custom');
    assert.equal(out['clientId'], 'acme');
    const claims = decodeJwt(out['token'] ?? '');
    assert.equal(claims.iss, 'https://id.example');
    assert.equal(claims.aud, 'edge');
    assert.equal(claims.sub, 'user-7');
    assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 900);
    assert.equal(new Date(out['expiresAt'] ?? '').getTime(), (claims.exp ?? 0) * 1000);
    // The kid is not in the JWKS: the node would refuse it.
    await assert.rejects(verifier.verify(out['token'] ?? ''), /unknown key id/);
  });

  it('signs RS256 with an RSA key', async () => {
    const rsa = path.join(dir, 'keys-RS256-mint');
    assert.equal((await token(['keygen', '--out', rsa, '--alg', 'RS256'])).exitCode, 0);
    const run = await token(['mint', '--key', path.join(rsa, 'private.pem'), '--client-id', 'r']);
    assert.equal(decodeProtectedHeader(run.stdout.trim()).alg, 'RS256');
    const rsaVerifier = loadJwtVerifier({ publicKeyFile: path.join(rsa, 'public.pem') }) as JwtVerifier;
    assert.equal((await rsaVerifier.verify(run.stdout.trim())).clientId, 'r');
  });

  it('refuses bad input with a message and exit code 1', async () => {
    const cases: [string[], RegExp][] = [
      [['--key', path.join(dir, 'nope.pem'), '--client-id', 'a'], /nope\.pem does not exist/],
      [['--key', path.join(keys, 'public.pem'), '--client-id', 'a'], /is not a PEM private key/],
      [['--key', privateKey(), '--client-id', 'mcm'], /client id "mcm" is reserved/],
      [['--key', privateKey(), '--client-id', '../x'], /client id must be/],
      [['--key', privateKey(), '--client-id', 'a', '--expires', 'soon'], /--expires "soon": use a number/],
      [['--key', privateKey(), '--client-id', 'a', '--expires', '0s'], /from 1s to 366d/],
      [['--key', privateKey(), '--client-id', 'a', '--expires', '400d'], /from 1s to 366d/],
    ];
    for (const [args, message] of cases) {
      const run = await token(['mint', ...args]);
      assert.equal(run.exitCode, 1, args.join(' '));
      assert.equal(run.stdout, '');
      assert.match(run.stderr, /^mimoe token mint: /);
      assert.match(run.stderr, message);
    }
  });
});
