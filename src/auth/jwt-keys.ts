import { createPublicKey, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import { MimoeError } from '../errors/index.js';

/** The signature algorithms a token may use; never `none`, never HMAC. */
export type JwtAlgorithm = 'RS256' | 'PS256' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA' | 'Ed25519';

/** One verification key with the algorithms pinned to it. */
export interface JwtKey {
  /** Key id from the JWKS; PEM keys have none and match a token whatever its `kid`. */
  readonly kid: string | undefined;
  readonly key: KeyObject;
  readonly algorithms: readonly JwtAlgorithm[];
  /** Where the key came from, for logs and error messages ("jwks.json#2", "public.pem"). */
  readonly source: string;
}

/** Key files are a few KiB; a larger one is a mistake (wrong path), not a key. */
const MAX_KEY_FILE_BYTES = 1024 * 1024;
const MAX_JWKS_KEYS = 100;
const MIN_RSA_BITS = 2048;

function keyError(message: string, cause?: unknown): MimoeError {
  return new MimoeError('ERR_JWT_KEY_INVALID', message, cause === undefined ? undefined : { cause });
}

/**
 * The algorithms a key may verify, derived from the key itself and never from a token: the token's
 * `alg` only chooses among these. This is what defeats algorithm confusion (an RSA public key
 * presented as an HS256 secret, or `alg: none`).
 */
export function algorithmsForKey(key: KeyObject, source: string): JwtAlgorithm[] {
  switch (key.asymmetricKeyType) {
    case 'rsa': {
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < MIN_RSA_BITS) {
        throw keyError(`${source}: RSA key of ${bits} bits is too weak (at least ${MIN_RSA_BITS})`);
      }
      return ['RS256', 'PS256'];
    }
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1') return ['ES256'];
      if (curve === 'secp384r1') return ['ES384'];
      if (curve === 'secp521r1') return ['ES512'];
      throw keyError(`${source}: EC curve ${String(curve)} is not supported (use P-256, P-384 or P-521)`);
    }
    case 'ed25519':
      // "Ed25519" is the fully-specified name of the same algorithm (RFC 9864).
      return ['EdDSA', 'Ed25519'];
    default:
      throw keyError(
        `${source}: ${String(key.asymmetricKeyType)} keys are not supported (use RSA, EC P-256/P-384/P-521 or Ed25519)`,
      );
  }
}

function readKeyFile(file: string, what: string): string {
  let size: number;
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) throw keyError(`${what} ${file} is not a file`);
    size = stat.size;
  } catch (err) {
    if (err instanceof MimoeError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw keyError(`${what} ${file} does not exist`);
    throw keyError(`${what} ${file} cannot be read (${String(code)})`, err);
  }
  if (size > MAX_KEY_FILE_BYTES)
    throw keyError(`${what} ${file} is larger than 1 MiB; is it the right file?`);
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw keyError(`${what} ${file} cannot be read (${String((err as NodeJS.ErrnoException).code)})`, err);
  }
}

/** A PEM public key (SPKI `BEGIN PUBLIC KEY`, PKCS#1 `BEGIN RSA PUBLIC KEY`) or an X.509 certificate. */
export function loadPemKey(file: string): JwtKey {
  const text = readKeyFile(file, 'JWT public key file');
  // A private key would verify too (its public half is derivable), but a node has no business
  // holding the issuer's signing key: refuse so the mistake is noticed rather than copied around.
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
    throw keyError(`JWT public key file ${file} holds a private key; give the public key instead`);
  }
  if (!text.includes('-----BEGIN ')) throw keyError(`JWT public key file ${file} is not a PEM file`);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: text, format: 'pem' });
  } catch (err) {
    throw keyError(`JWT public key file ${file} holds no readable public key`, err);
  }
  return { kid: undefined, key, algorithms: algorithmsForKey(key, file), source: file };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function jwkToKey(jwk: Record<string, unknown>, source: string): JwtKey | undefined {
  const kty = jwk['kty'];
  if (kty === 'oct') {
    throw keyError(
      `${source}: symmetric (kty "oct") keys are refused; only signature public keys are accepted`,
    );
  }
  if (kty !== 'RSA' && kty !== 'EC' && kty !== 'OKP') {
    throw keyError(`${source}: kty must be "RSA", "EC" or "OKP"`);
  }
  for (const privatePart of ['d', 'p', 'q', 'dp', 'dq', 'qi']) {
    if (privatePart in jwk)
      throw keyError(`${source}: holds private key material ("${privatePart}"); publish public keys only`);
  }
  // Encryption keys may share a JWKS with signature keys; they never verify tokens.
  if (jwk['use'] !== undefined && jwk['use'] !== 'sig') return undefined;
  const kid = jwk['kid'];
  if (kid !== undefined && (typeof kid !== 'string' || kid === '')) {
    throw keyError(`${source}: kid must be a non-empty string`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk, format: 'jwk' });
  } catch (err) {
    throw keyError(`${source}: not a valid ${kty} public key`, err);
  }
  let algorithms = algorithmsForKey(key, source);
  const alg = jwk['alg'];
  if (alg !== undefined) {
    // The JWKS may pin one algorithm; it must be one the key type allows.
    const pinned = algorithms.find((a) => a === alg);
    if (pinned === undefined) {
      throw keyError(
        `${source}: alg ${JSON.stringify(alg)} does not fit this key (allowed: ${algorithms.join(', ')})`,
      );
    }
    algorithms = pinned === 'EdDSA' || pinned === 'Ed25519' ? ['EdDSA', 'Ed25519'] : [pinned];
  }
  return { kid, key, algorithms, source };
}

/** A JWKS file: JSON `{"keys": [...]}` holding public signature keys (RSA, EC, Ed25519). */
export function loadJwksFile(file: string): JwtKey[] {
  const text = readKeyFile(file, 'JWKS file');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw keyError(`JWKS file ${file} is not valid JSON`, err);
  }
  if (!isRecord(json) || !Array.isArray(json['keys'])) {
    throw keyError(`JWKS file ${file} must be a JSON object {"keys": [...]}`);
  }
  const entries: unknown[] = json['keys'];
  if (entries.length > MAX_JWKS_KEYS)
    throw keyError(`JWKS file ${file} holds more than ${MAX_JWKS_KEYS} keys`);
  const keys: JwtKey[] = [];
  const kids = new Set<string>();
  entries.forEach((entry, i) => {
    const source = `${file} keys[${i}]`;
    if (!isRecord(entry)) throw keyError(`${source} is not a JSON object`);
    const key = jwkToKey(entry, source);
    if (key === undefined) return;
    if (key.kid !== undefined) {
      // Duplicate kids would make the key a token names ambiguous.
      if (kids.has(key.kid)) throw keyError(`${source}: kid ${JSON.stringify(key.kid)} appears twice`);
      kids.add(key.kid);
    }
    keys.push(key);
  });
  if (keys.length === 0) throw keyError(`JWKS file ${file} holds no signature key`);
  return keys;
}
