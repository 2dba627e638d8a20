import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { calculateJwkThumbprint, SignJWT, type JWK } from 'jose';
import { validateClientId } from '../auth/client-id.js';
import { algorithmsForKey, MCM_SCOPE } from '../auth/jwt.js';
import { isMimoeError } from '../errors/index.js';
import type { CliIo } from './io.js';

/** Developer tooling: a key pair and tokens for a node started with --jwt-public-key / --jwt-jwks-file. */

const FILES = { privateKey: 'private.pem', publicKey: 'public.pem', jwks: 'jwks.json' } as const;

const EXAMPLES = `
Examples:
  $ mimoe token keygen --out ./jwt
      writes ./jwt/private.pem (owner-only), ./jwt/public.pem and ./jwt/jwks.json (ES256)
  $ mimoe --work-dir ./work --jwt-public-key ./jwt/public.pem
  $ mimoe token mint --key ./jwt/private.pem --client-id my-app --expires 1h
  $ curl -H "Authorization: Bearer $(mimoe token mint --key ./jwt/private.pem --client-id my-app)" \\
      http://127.0.0.1:8083/mcm/v1/images

These are for development and tests: production tokens come from your identity provider.`;

interface KeygenFlags {
  out: string;
  alg: string;
  force?: boolean;
}

interface MintFlags {
  key: string;
  clientId: string;
  scope: string;
  expires: string;
  kid?: string;
  issuer?: string;
  audience?: string;
  subject?: string;
  json?: boolean;
}

/** `mimoe token keygen|mint`. */
export function registerTokenCommand(program: Command, io: CliIo): void {
  const token = program
    .command('token')
    .description('make JWT keys and tokens for the MCM API (development)')
    .configureOutput({ writeOut: (t) => io.stdout.write(t), writeErr: (t) => io.stderr.write(t) })
    .addHelpText('after', EXAMPLES);
  token
    .command('keygen')
    .description('write a signing key pair: private.pem (0600), public.pem and jwks.json')
    .requiredOption('--out <dir>', 'directory to write the files to (created if missing)')
    .option('--alg <alg>', 'ES256 (EC P-256) or RS256 (RSA 2048)', 'ES256')
    .option('--force', 'overwrite existing files')
    .configureOutput({ writeOut: (t) => io.stdout.write(t), writeErr: (t) => io.stderr.write(t) })
    .addHelpText('after', EXAMPLES)
    .action(async (flags: KeygenFlags) => {
      await report('keygen', io, () => keygen(flags, io));
    });
  token
    .command('mint')
    .description('print a signed JWT for the MCM API')
    .requiredOption('--key <private.pem>', 'PEM private key (from keygen); its type picks the algorithm')
    .requiredOption('--client-id <id>', 'the client_id claim: the client the token acts for')
    .option('--scope <scopes>', 'space-separated scope claim', MCM_SCOPE)
    .option('--expires <duration>', 'lifetime: a number with s, m, h or d (e.g. 90s, 15m, 1h, 7d)', '1h')
    .option('--kid <kid>', "key id header (default: the key's JWK thumbprint, as in keygen's jwks.json)")
    .option('--issuer <iss>', 'the iss claim')
    .option('--audience <aud>', 'the aud claim')
    .option('--subject <sub>', 'the sub claim')
    .option('--json', 'print {token, alg, kid, clientId, scope, expiresAt} as JSON')
    .configureOutput({ writeOut: (t) => io.stdout.write(t), writeErr: (t) => io.stderr.write(t) })
    .addHelpText('after', EXAMPLES)
    .action(async (flags: MintFlags) => {
      await report('mint', io, () => mint(flags, io));
    });
}

async function report(command: string, io: CliIo, action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (err) {
    const message = isMimoeError(err) || err instanceof TokenCliError ? err.message : String(err);
    io.stderr.write(`mimoe token ${command}: ${message}\n`);
    process.exitCode = 1;
  }
}

/** A user mistake in the command line or files: its message is the whole story. */
class TokenCliError extends Error {}

async function thumbprint(publicKey: KeyObject): Promise<string> {
  return calculateJwkThumbprint(publicKey.export({ format: 'jwk' }), 'sha256');
}

async function keygen(flags: KeygenFlags, io: CliIo): Promise<void> {
  const alg = flags.alg.toUpperCase();
  if (alg !== 'ES256' && alg !== 'RS256')
    throw new TokenCliError(`--alg must be ES256 or RS256, got ${flags.alg}`);
  const targets = Object.values(FILES).map((name) => path.join(flags.out, name));
  if (flags.force !== true) {
    const existing = targets.filter((file) => fs.existsSync(file));
    if (existing.length > 0) {
      throw new TokenCliError(`${existing.join(', ')} already exist(s); use --force to overwrite`);
    }
  }
  const pair =
    alg === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = await thumbprint(pair.publicKey);
  const jwk = { ...(pair.publicKey.export({ format: 'jwk' }) as JWK), kid, alg, use: 'sig' };
  fs.mkdirSync(flags.out, { recursive: true });
  const [privateFile, publicFile, jwksFile] = targets as [string, string, string];
  writeNew(privateFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600);
  writeNew(publicFile, pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(), 0o644);
  writeNew(jwksFile, `${JSON.stringify({ keys: [jwk] }, null, 2)}\n`, 0o644);
  io.stdout.write(
    `${alg} key pair, kid ${kid}:\n  ${privateFile}  (private, owner-only: keep it secret)\n  ${publicFile}\n  ${jwksFile}\n` +
      `Start a node with --jwt-public-key ${publicFile} or --jwt-jwks-file ${jwksFile}\n`,
  );
}

/**
 * Creates the file afresh so its mode is the one asked for: writing over an existing file would
 * keep that file's (possibly wider) permissions.
 */
function writeNew(file: string, content: string, mode: number): void {
  fs.rmSync(file, { force: true });
  fs.writeFileSync(file, content, { mode, flag: 'wx' });
  // The umask may have narrowed the mode; the private key must be 0600 whatever it says, and the
  // public files readable by the node's user.
  fs.chmodSync(file, mode);
}

const DURATION = /^(\d{1,9})(s|m|h|d)$/;
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;
const MAX_LIFETIME_SEC = 366 * 86_400;

function parseDuration(value: string): number {
  const match = DURATION.exec(value);
  if (match === null)
    throw new TokenCliError(`--expires ${JSON.stringify(value)}: use a number with s, m, h or d`);
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS];
  if (seconds < 1 || seconds > MAX_LIFETIME_SEC) throw new TokenCliError('--expires must be from 1s to 366d');
  return seconds;
}

function readPrivateKey(file: string): KeyObject {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new TokenCliError(
      code === 'ENOENT' ? `${file} does not exist` : `cannot read ${file} (${String(code)})`,
    );
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
    throw new TokenCliError(`${file} is not a PEM private key (give private.pem, not public.pem)`);
  }
  try {
    return createPrivateKey({ key: text, format: 'pem' });
  } catch {
    throw new TokenCliError(`${file} holds no readable private key (encrypted keys are not supported)`);
  }
}

async function mint(flags: MintFlags, io: CliIo): Promise<void> {
  const clientId = validateClientId(flags.clientId);
  const lifetime = parseDuration(flags.expires);
  const privateKey = readPrivateKey(flags.key);
  const publicKey = createPublicKey(privateKey);
  // The first algorithm the node would accept for this key: RS256 for RSA, ES256/384/512 for EC.
  const alg = algorithmsForKey(publicKey, flags.key)[0] as string;
  const kid = flags.kid ?? (await thumbprint(publicKey));
  const scope = flags.scope.trim();
  const now = Math.floor(Date.now() / 1000);
  const expiresAt = now + lifetime;
  let jwt = new SignJWT({ client_id: clientId, scope })
    .setProtectedHeader({ alg, kid, typ: 'JWT' })
    .setIssuedAt(now)
    .setExpirationTime(expiresAt);
  if (flags.issuer !== undefined) jwt = jwt.setIssuer(flags.issuer);
  if (flags.audience !== undefined) jwt = jwt.setAudience(flags.audience);
  if (flags.subject !== undefined) jwt = jwt.setSubject(flags.subject);
  const token = await jwt.sign(privateKey);
  if (flags.json === true) {
    const expires = new Date(expiresAt * 1000).toISOString();
    io.stdout.write(`${JSON.stringify({ token, alg, kid, clientId, scope, expiresAt: expires })}\n`);
  } else {
    io.stdout.write(`${token}\n`);
  }
}
