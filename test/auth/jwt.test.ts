import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT, type JWK } from 'jose';
import { CLOCK_TOLERANCE_SEC, loadJwtVerifier, type JwtVerifier } from '../../src/auth/jwt.js';
import { resolveConfig } from '../../src/config/options.js';
import { MimoeError } from '../../src/errors/index.js';
import { tempDir } from '../helpers/node-process.js';

/** The JWT verifier as the node builds it: from key files on disk, verifying real signed tokens. */

let dir: string;
before(() => {
  dir = tempDir('mimoe-jwt-');
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

type Pair = { publicKey: KeyObject; privateKey: KeyObject };
const ec256 = (): Pair => generateKeyPairSync('ec', { namedCurve: 'P-256' });

function file(name: string, content: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, content);
  return p;
}

function pem(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

function jwk(key: KeyObject, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...(key.export({ format: 'jwk' }) as JWK), ...extra };
}

const now = (): number => Math.floor(Date.now() / 1000);

interface MintOptions {
  alg?: string;
  kid?: string;
  claims?: Record<string, unknown>;
  /** Claims to leave out of the defaults (client_id, scope, exp). */
  omit?: string[];
}

async function mint(privateKey: KeyObject, options: MintOptions = {}): Promise<string> {
  const claims: Record<string, unknown> = {
    client_id: 'acme',
    scope: 'edge:mcm',
    exp: now() + 600,
    ...options.claims,
  };
  for (const name of options.omit ?? []) delete claims[name];
  return new SignJWT(claims)
    .setProtectedHeader({
      alg: options.alg ?? 'ES256',
      ...(options.kid === undefined ? {} : { kid: options.kid }),
    })
    .sign(privateKey);
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Asserts a MimoeError with this code whose message matches and never includes the token. */
async function refuses(verifier: JwtVerifier, token: string, message: RegExp): Promise<void> {
  await assert.rejects(verifier.verify(token), (err: unknown) => {
    assert.ok(err instanceof MimoeError);
    assert.equal(err.code, 'ERR_UNAUTHORIZED');
    assert.match(err.message, message);
    if (token.length > 0) assert.ok(!err.message.includes(token));
    return true;
  });
}

function loadFails(options: Parameters<typeof loadJwtVerifier>[0], message: RegExp): void {
  assert.throws(
    () => loadJwtVerifier(options),
    (err: unknown) => {
      assert.ok(err instanceof MimoeError, String(err));
      assert.equal(err.code, 'ERR_JWT_KEY_INVALID');
      assert.match(err.message, message);
      return true;
    },
  );
}

describe('JWT options', () => {
  it('are off by default, resolve key paths, and refuse issuer or audience without a key', () => {
    const plain = resolveConfig({ workDir: dir });
    assert.equal(plain.jwtJwksFile, undefined);
    assert.equal(plain.jwtPublicKey, undefined);
    const set = resolveConfig({ workDir: dir, jwtPublicKey: 'k.pem', jwtJwksFile: 'j.json', jwtIssuer: 'i' });
    assert.equal(set.jwtPublicKey, path.resolve('k.pem'));
    assert.equal(set.jwtJwksFile, path.resolve('j.json'));
    assert.equal(set.jwtIssuer, 'i');
    assert.throws(
      () => resolveConfig({ jwtIssuer: 'i' }),
      /jwtIssuer and jwtAudience need jwtJwksFile or jwtPublicKey/,
    );
    assert.throws(() => resolveConfig({ jwtAudience: 'a' }), /need jwtJwksFile or jwtPublicKey/);
    assert.throws(
      () => resolveConfig({ jwtPublicKey: ' ' }),
      /option jwtPublicKey must be a non-empty string/,
    );
  });
});

describe('loading verification keys', () => {
  it('is off without key files', () => {
    assert.equal(loadJwtVerifier({}), undefined);
  });

  it('derives the algorithms from the key type', () => {
    const cases: [string, Pair, string[]][] = [
      ['p256.pem', ec256(), ['ES256']],
      ['p384.pem', generateKeyPairSync('ec', { namedCurve: 'P-384' }), ['ES384']],
      ['p521.pem', generateKeyPairSync('ec', { namedCurve: 'P-521' }), ['ES512']],
      ['rsa.pem', generateKeyPairSync('rsa', { modulusLength: 2048 }), ['RS256', 'PS256']],
      ['ed.pem', generateKeyPairSync('ed25519'), ['EdDSA', 'Ed25519']],
    ];
    for (const [name, pair, algorithms] of cases) {
      const verifier = loadJwtVerifier({ publicKeyFile: file(name, pem(pair.publicKey)) });
      assert.deepEqual(verifier?.algorithms, algorithms, name);
    }
  });

  it('accepts a JWKS and a PEM key together', () => {
    const a = ec256();
    const b = ec256();
    const verifier = loadJwtVerifier({
      jwksFile: file('both.json', JSON.stringify({ keys: [jwk(a.publicKey, { kid: 'a' })] })),
      publicKeyFile: file('both.pem', pem(b.publicKey)),
    });
    assert.equal(verifier?.keys.length, 2);
  });

  it('skips encryption keys in a JWKS', () => {
    const verifier = loadJwtVerifier({
      jwksFile: file(
        'mixed.json',
        JSON.stringify({
          keys: [jwk(ec256().publicKey, { kid: 'enc', use: 'enc' }), jwk(ec256().publicKey, { kid: 'sig' })],
        }),
      ),
    });
    assert.deepEqual(
      verifier?.keys.map((k) => k.kid),
      ['sig'],
    );
  });

  it('refuses a missing, unreadable or wrong PEM file with ERR_JWT_KEY_INVALID naming the file', () => {
    const missing = path.join(dir, 'missing.pem');
    loadFails({ publicKeyFile: missing }, /missing\.pem does not exist/);
    loadFails({ publicKeyFile: dir }, /is not a file/);
    loadFails({ publicKeyFile: file('text.pem', 'hello') }, /is not a PEM file/);
    loadFails(
      { publicKeyFile: file('bad.pem', '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n') },
      /no readable public key/,
    );
    const priv = ec256().privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    loadFails({ publicKeyFile: file('priv.pem', priv) }, /holds a private key/);
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
    loadFails({ publicKeyFile: file('weak.pem', pem(weak.publicKey)) }, /1024 bits is too weak/);
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
    loadFails({ publicKeyFile: file('k1.pem', pem(k1.publicKey)) }, /curve secp256k1 is not supported/);
    const x25519 = generateKeyPairSync('x25519');
    loadFails({ publicKeyFile: file('x25519.pem', pem(x25519.publicKey)) }, /x25519 keys are not supported/);
  });

  it('refuses unusable JWKS files', () => {
    const ec = ec256();
    const cases: [string, string, RegExp][] = [
      ['not-json.json', '{"keys": [', /is not valid JSON/],
      ['array.json', '[]', /must be a JSON object \{"keys": \[\.\.\.\]\}/],
      ['no-keys.json', '{"keys": []}', /holds no signature key/],
      ['entry.json', '{"keys": [42]}', /keys\[0\] is not a JSON object/],
      [
        'oct.json',
        JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }),
        /symmetric \(kty "oct"\) keys are refused/,
      ],
      ['kty.json', JSON.stringify({ keys: [{ kty: 'XYZ' }] }), /kty must be/],
      [
        'private.json',
        JSON.stringify({ keys: [ec.privateKey.export({ format: 'jwk' })] }),
        /holds private key material \("d"\)/,
      ],
      [
        'dup.json',
        JSON.stringify({ keys: [jwk(ec.publicKey, { kid: 'k' }), jwk(ec256().publicKey, { kid: 'k' })] }),
        /keys\[1\]: kid "k" appears twice/,
      ],
      [
        'alg.json',
        JSON.stringify({ keys: [jwk(ec.publicKey, { alg: 'RS256' })] }),
        /alg "RS256" does not fit/,
      ],
      [
        'hs.json',
        JSON.stringify({ keys: [jwk(ec.publicKey, { alg: 'HS256' })] }),
        /alg "HS256" does not fit/,
      ],
      [
        'kid.json',
        JSON.stringify({ keys: [jwk(ec.publicKey, { kid: 7 })] }),
        /kid must be a non-empty string/,
      ],
      [
        'coords.json',
        JSON.stringify({ keys: [{ ...jwk(ec.publicKey), x: 'AAAA' }] }),
        /keys\[0\]: not a valid EC public key/,
      ],
      [
        'only-enc.json',
        JSON.stringify({ keys: [jwk(ec.publicKey, { use: 'enc' })] }),
        /holds no signature key/,
      ],
    ];
    for (const [name, content, message] of cases) {
      loadFails({ jwksFile: file(name, content) }, message);
    }
    loadFails({ jwksFile: file('huge.json', ' '.repeat(1024 * 1024 + 1)) }, /larger than 1 MiB/);
  });
});

describe('verifying tokens', () => {
  const key = ec256();
  const other = ec256();
  let verifier: JwtVerifier;
  let publicPem: string;
  before(() => {
    publicPem = pem(key.publicKey);
    verifier = loadJwtVerifier({ publicKeyFile: file('node.pem', publicPem) }) as JwtVerifier;
  });

  it('accepts a valid token and returns its client_id and sub', async () => {
    const identity = await verifier.verify(await mint(key.privateKey, { claims: { sub: 'user-1' } }));
    assert.deepEqual(identity, { clientId: 'acme', subject: 'user-1' });
  });

  it('accepts scope as a space-separated string among others, or as an array', async () => {
    for (const scope of ['openid edge:mcm  profile', ['openid', 'edge:mcm']]) {
      const identity = await verifier.verify(await mint(key.privateKey, { claims: { scope } }));
      assert.equal(identity.clientId, 'acme');
    }
  });

  it('accepts a PEM-verified token whatever kid it names', async () => {
    const identity = await verifier.verify(await mint(key.privateKey, { kid: 'anything' }));
    assert.equal(identity.clientId, 'acme');
  });

  it(`allows ${CLOCK_TOLERANCE_SEC} s of clock skew on exp and nbf`, async () => {
    await verifier.verify(await mint(key.privateKey, { claims: { exp: now() - 10, nbf: now() + 10 } }));
  });

  it('refuses what is not a JWT', async () => {
    for (const token of [
      '',
      'garbage',
      'a.b',
      'a.b.c.d.e',
      'not a token.x.y',
      `${b64({ alg: 'ES256' })}.%%%.x`,
    ]) {
      await refuses(verifier, token, /^JWT refused: not a well-formed JWT$/);
    }
    // Three base64url parts whose header is not JSON.
    await refuses(verifier, 'aGVsbG8.aGVsbG8.aGVsbG8', /not a well-formed JWT/);
  });

  it('refuses a token signed by another key pair', async () => {
    await refuses(verifier, await mint(other.privateKey), /signature does not verify/);
  });

  it('refuses a tampered payload', async () => {
    const [h, , s] = (await mint(key.privateKey)).split('.');
    const forged = `${h}.${b64({ client_id: 'admin', scope: 'edge:mcm', exp: now() + 600 })}.${s}`;
    await refuses(verifier, forged, /signature does not verify/);
  });

  it('refuses alg none, with or without a signature', async () => {
    const payload = b64({ client_id: 'acme', scope: 'edge:mcm', exp: now() + 600 });
    for (const alg of ['none', 'None', 'NONE']) {
      await refuses(verifier, `${b64({ alg })}.${payload}.`, /unsigned tokens \(alg none\) are not accepted/);
      await refuses(verifier, `${b64({ alg })}.${payload}.c2ln`, /alg none/);
    }
    await refuses(verifier, `${b64({ typ: 'JWT' })}.${payload}.`, /no algorithm \(alg\)/);
  });

  it('refuses HS256 signed with the public key PEM as the secret (algorithm confusion)', async () => {
    const payload = b64({ client_id: 'acme', scope: 'edge:mcm', exp: now() + 600 });
    for (const alg of ['HS256', 'HS384', 'HS512']) {
      const input = `${b64({ alg, typ: 'JWT' })}.${payload}`;
      const hash = `sha${alg.slice(2)}`;
      const sig = createHmac(hash, publicPem).update(input).digest('base64url');
      await refuses(
        verifier,
        `${input}.${sig}`,
        new RegExp(`algorithm ${alg} is not accepted \\(allowed: ES256\\)`),
      );
      // The same with the DER bytes and the JWK JSON as the secret.
      const der = key.publicKey.export({ type: 'spki', format: 'der' });
      const sig2 = createHmac(hash, der).update(input).digest('base64url');
      await refuses(verifier, `${input}.${sig2}`, /is not accepted/);
    }
  });

  it('refuses an algorithm of another key type (RS256 against an EC key)', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await refuses(verifier, await mint(rsa.privateKey, { alg: 'RS256' }), /algorithm RS256 is not accepted/);
  });

  it('does not echo an odd alg value', async () => {
    const token = `${b64({ alg: '<script>alert(1)</script>' })}.${b64({})}.x`;
    await refuses(verifier, token, /algorithm of this token is not accepted/);
  });

  it('refuses an expired token, and one without exp', async () => {
    await refuses(
      verifier,
      await mint(key.privateKey, { claims: { exp: now() - 120 } }),
      /^JWT refused: token expired$/,
    );
    await refuses(verifier, await mint(key.privateKey, { omit: ['exp'] }), /no valid expiry \(exp\)/);
    await refuses(
      verifier,
      await mint(key.privateKey, { claims: { exp: 'tomorrow' } }),
      /no valid expiry|claims/,
    );
  });

  it('refuses a token not yet valid (nbf in the future)', async () => {
    await refuses(
      verifier,
      await mint(key.privateKey, { claims: { nbf: now() + 120 } }),
      /token not yet valid \(nbf\)/,
    );
  });

  it('refuses a token issued in the future (iat past the clock tolerance)', async () => {
    await refuses(
      verifier,
      await mint(key.privateKey, { claims: { iat: now() + 100_000, exp: now() + 200_000 } }),
      /issued in the future \(iat\)/,
    );
  });

  it('refuses a token without the edge:mcm scope', async () => {
    for (const claims of [
      {},
      { scope: 'openid profile' },
      { scope: 'edge:mcmx edge:mcm:read' },
      { scope: 'EDGE:MCM' },
      { scope: 42 },
      { scope: [1, 2] },
    ]) {
      const token = await mint(key.privateKey, { claims, omit: 'scope' in claims ? [] : ['scope'] });
      await refuses(verifier, token, /scope edge:mcm missing/);
    }
  });

  it('refuses a missing, invalid or reserved client_id', async () => {
    await refuses(verifier, await mint(key.privateKey, { omit: ['client_id'] }), /client_id claim missing/);
    await refuses(
      verifier,
      await mint(key.privateKey, { claims: { client_id: 7 } }),
      /client_id claim missing/,
    );
    for (const id of ['', '../x', 'a/b', 'has space', 'x'.repeat(200)]) {
      const token = await mint(key.privateKey, { claims: { client_id: id } });
      await refuses(verifier, token, /client_id claim: client id must be/);
    }
    for (const id of ['mcm', 'MCM', 'healthz', 'ws']) {
      await refuses(
        verifier,
        await mint(key.privateKey, { claims: { client_id: id } }),
        /is reserved by the node/,
      );
    }
  });
});

describe('verifying tokens against a JWKS', () => {
  const a = ec256();
  const b = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ed = generateKeyPairSync('ed25519');
  let verifier: JwtVerifier;
  before(() => {
    const keys = [
      jwk(a.publicKey, { kid: 'a' }),
      jwk(b.publicKey, { kid: 'b', alg: 'PS256' }),
      jwk(ed.publicKey, { kid: 'ed' }),
    ];
    verifier = loadJwtVerifier({
      jwksFile: file('jwks.json', JSON.stringify({ keys })),
      issuer: 'https://issuer.example',
      audience: 'mimoe',
    }) as JwtVerifier;
  });

  const good = { iss: 'https://issuer.example', aud: 'mimoe' };

  it('picks the key by kid', async () => {
    assert.equal(
      (await verifier.verify(await mint(a.privateKey, { kid: 'a', claims: good }))).clientId,
      'acme',
    );
    const ps = await mint(b.privateKey, { kid: 'b', alg: 'PS256', claims: { ...good, client_id: 'beta' } });
    assert.equal((await verifier.verify(ps)).clientId, 'beta');
    const eddsa = await mint(ed.privateKey, { kid: 'ed', alg: 'EdDSA', claims: good });
    assert.equal((await verifier.verify(eddsa)).clientId, 'acme');
  });

  it('tries every key when the token names no kid', async () => {
    assert.equal((await verifier.verify(await mint(a.privateKey, { claims: good }))).clientId, 'acme');
  });

  it('refuses an unknown kid', async () => {
    await refuses(verifier, await mint(a.privateKey, { kid: 'c', claims: good }), /unknown key id \(kid\)/);
  });

  it('refuses a token whose kid names another key', async () => {
    await refuses(
      verifier,
      await mint(a.privateKey, { kid: 'b', alg: 'ES256', claims: good }),
      /algorithm ES256 is not accepted/,
    );
    const ec2 = ec256();
    await refuses(
      verifier,
      await mint(ec2.privateKey, { kid: 'a', claims: good }),
      /signature does not verify/,
    );
  });

  it('holds a key to the alg the JWKS pins (RS256 refused for a PS256 key)', async () => {
    await refuses(
      verifier,
      await mint(b.privateKey, { kid: 'b', alg: 'RS256', claims: good }),
      /algorithm RS256 is not accepted/,
    );
  });

  it('checks the issuer and the audience when configured', async () => {
    await refuses(
      verifier,
      await mint(a.privateKey, { kid: 'a', claims: { aud: 'mimoe' } }),
      /issuer not accepted/,
    );
    await refuses(
      verifier,
      await mint(a.privateKey, { kid: 'a', claims: { ...good, iss: 'https://evil.example' } }),
      /issuer not accepted/,
    );
    await refuses(
      verifier,
      await mint(a.privateKey, { kid: 'a', claims: { iss: good.iss } }),
      /audience not accepted/,
    );
    await refuses(
      verifier,
      await mint(a.privateKey, { kid: 'a', claims: { ...good, aud: ['other'] } }),
      /audience not accepted/,
    );
    const multi = await mint(a.privateKey, { kid: 'a', claims: { ...good, aud: ['other', 'mimoe'] } });
    assert.equal((await verifier.verify(multi)).clientId, 'acme');
  });
});
