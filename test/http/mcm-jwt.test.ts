import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT, type JWK } from 'jose';
import { fixtureImage } from '../helpers/fixtures.js';
import { BIN, TestNode, tempDir } from '../helpers/node-process.js';

/** JWT authentication of the MCM API on real nodes started with --jwt-public-key / --jwt-jwks-file. */

const now = (): number => Math.floor(Date.now() / 1000);
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

async function mint(
  privateKey: KeyObject,
  claims: Record<string, unknown> = {},
  header: { alg?: string; kid?: string } = {},
): Promise<string> {
  return new SignJWT({ client_id: 'acme', scope: 'edge:mcm', exp: now() + 600, ...claims })
    .setProtectedHeader({
      alg: header.alg ?? 'ES256',
      ...(header.kid === undefined ? {} : { kid: header.kid }),
    })
    .sign(privateKey);
}

/** Runs the real `mimoe` CLI and returns its trimmed stdout. */
function cli(args: string[]): string {
  return execFileSync(process.execPath, [BIN, ...args], { encoding: 'utf8' }).trim();
}

interface ErrorBody {
  code: number;
  error: string;
  message: string;
}

let keysDir: string;
const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
let publicPemFile: string;

before(() => {
  keysDir = tempDir('mimoe-jwt-keys-');
  publicPemFile = path.join(keysDir, 'public.pem');
  fs.writeFileSync(publicPemFile, key.publicKey.export({ type: 'spki', format: 'pem' }));
});
after(() => {
  fs.rmSync(keysDir, { recursive: true, force: true });
});

describe('a node with --jwt-public-key', () => {
  let node: TestNode;
  const tokens: string[] = [];
  const bearer = (token: string): Record<string, string> => {
    tokens.push(token);
    return { authorization: `Bearer ${token}` };
  };

  before(async () => {
    node = await TestNode.start({ args: ['--jwt-public-key', publicPemFile] });
  });
  after(async () => {
    await node.stop();
  });

  it('logs that JWT verification is on, with the key file and algorithms', () => {
    const line = node.logs.find((l) => l.msg.startsWith('JWT verification on'));
    assert.ok(line);
    assert.deepEqual(line['algorithms'], ['ES256']);
    assert.deepEqual(line['keys'], [publicPemFile]);
  });

  it('refuses each bad token with 403 ERR_UNAUTHORIZED and says why', async () => {
    const payload = b64({ client_id: 'acme', scope: 'edge:mcm', exp: now() + 600 });
    const hsInput = `${b64({ alg: 'HS256', typ: 'JWT' })}.${payload}`;
    const pem = fs.readFileSync(publicPemFile, 'utf8');
    const hs256 = `${hsInput}.${createHmac('sha256', pem).update(hsInput).digest('base64url')}`;
    const cases: [string, Record<string, string>, RegExp][] = [
      ['no token', {}, /a valid MCM API key or JWT with scope edge:mcm/],
      ['a garbage bearer', { authorization: 'Bearer garbage' }, /a valid MCM API key or JWT/],
      ['a garbage JWT', bearer('eyJub3Qi.eyJqc29uIg.x'), /^JWT refused: not a well-formed JWT$/],
      ['another key pair', bearer(await mint(other.privateKey)), /signature does not verify/],
      ['alg none', bearer(`${b64({ alg: 'none' })}.${payload}.`), /alg none/],
      ['HS256 with the public key PEM as secret', bearer(hs256), /algorithm HS256 is not accepted/],
      ['an expired token', bearer(await mint(key.privateKey, { exp: now() - 120 })), /token expired/],
      ['nbf in the future', bearer(await mint(key.privateKey, { nbf: now() + 120 })), /not yet valid/],
      ['no scope', bearer(await mint(key.privateKey, { scope: undefined })), /scope edge:mcm missing/],
      ['scope without edge:mcm', bearer(await mint(key.privateKey, { scope: 'edge:other' })), /scope/],
      [
        'no client_id',
        bearer(await mint(key.privateKey, { client_id: undefined })),
        /client_id claim missing/,
      ],
      ['an invalid client_id', bearer(await mint(key.privateKey, { client_id: '../x' })), /client_id claim/],
      ['a reserved client_id', bearer(await mint(key.privateKey, { client_id: 'mcm' })), /reserved/],
    ];
    for (const [label, headers, message] of cases) {
      const res = await node.mcm('GET', '/images', { auth: false, headers });
      assert.equal(res.status, 403, label);
      const body = (await res.json()) as ErrorBody;
      assert.equal(body.error, 'ERR_UNAUTHORIZED', label);
      assert.equal(body.code, 403, label);
      assert.match(body.message, message, label);
    }
  });

  it('logs each refusal reason at info, never the token', async () => {
    const token = await mint(key.privateKey, { exp: now() - 120 });
    const res = await node.mcm('GET', '/images', { auth: false, headers: bearer(token) });
    assert.equal(res.status, 403);
    const id = res.headers.get('x-request-id');
    await waitFor(() => node.logs.some((l) => l['reqId'] === id && l.msg === 'request refused'));
    const refusal = node.logs.find((l) => l['reqId'] === id && l.msg === 'request refused');
    assert.equal(refusal?.level, 30);
    assert.equal(refusal?.['reason'], 'JWT refused: token expired');
    const all = JSON.stringify(node.logs);
    for (const t of tokens) {
      // The signature is what makes a token usable: neither it nor the whole token is logged.
      const signature = t.split('.')[2] ?? '';
      assert.ok(!all.includes(t), 'a token reached the log');
      if (signature.length > 8) assert.ok(!all.includes(signature), 'a token signature reached the log');
    }
  });

  it('scopes a JWT to its client_id and ignores x-client-id', async () => {
    const acme = bearer(await mint(key.privateKey, { client_id: 'acme' }));
    const beta = bearer(await mint(key.privateKey, { client_id: 'beta' }));

    // Uploaded with a JWT for acme that also claims to be beta by header: acme owns it.
    const tar = await fixtureImage('raw-exports', 'jwt-image');
    const up = await node.upload(tar, { ...acme, 'x-client-id': 'beta' });
    assert.equal(up.status, 200, await up.clone().text());
    const image = (await up.json()) as { id: string };
    assert.equal(image.id, 'acme-jwt-image');

    const list = async (headers: Record<string, string>): Promise<string[]> => {
      const res = await node.mcm('GET', '/images', { auth: false, headers });
      assert.equal(res.status, 200);
      return ((await res.json()) as { data: { id: string }[] }).data.map((i) => i.id);
    };
    assert.deepEqual(await list(acme), ['acme-jwt-image']);
    // beta cannot see acme's image, even when it names acme in x-client-id.
    assert.deepEqual(await list(beta), []);
    assert.deepEqual(await list({ ...beta, 'x-client-id': 'acme' }), []);
    const del = await node.mcm('DELETE', '/images/acme-jwt-image', { auth: false, headers: beta });
    assert.equal(del.status, 404);
    // An invalid x-client-id is ignored too with a JWT (it is not read at all).
    assert.deepEqual(await list({ ...acme, 'x-client-id': '../bad' }), ['acme-jwt-image']);

    // The API key still works, scoped by x-client-id as before.
    const keyed = await node.mcm('GET', '/images', { headers: { 'x-client-id': 'acme' } });
    assert.equal(keyed.status, 200);
    assert.deepEqual(
      ((await keyed.json()) as { data: { id: string }[] }).data.map((i) => i.id),
      ['acme-jwt-image'],
    );
    const api = await node.mcm('GET', '/images');
    assert.deepEqual(await api.json(), { data: [] });
  });

  it("lets a JWT mint tarball codes for its own client's images only", async () => {
    const acme = bearer(await mint(key.privateKey, { client_id: 'acme' }));
    const beta = bearer(await mint(key.privateKey, { client_id: 'beta' }));
    const me = (await (
      await fetch(`${node.url}/jsonrpc/v1`, {
        method: 'POST',
        body: JSON.stringify({ jsonrpc: '2.0', method: 'getMe', params: [], id: 1 }),
      })
    ).json()) as { result: { nodeId: string } };
    const mintFor = async (
      headers: Record<string, string>,
      imageId: string,
    ): Promise<Record<string, unknown>> => {
      const res = await fetch(`${node.url}/jsonrpc/v1`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          jsonrpc: '2.0',
          method: 'getEdgeHmacCode',
          params: ['', now() + 60, me.result.nodeId, `/mcm/v1/images/${imageId}/tarball`],
          id: 2,
        }),
      });
      return (await res.json()) as Record<string, unknown>;
    };
    assert.ok('result' in (await mintFor(acme, 'acme-jwt-image')));
    assert.equal((await mintFor(beta, 'acme-jwt-image'))['error'] !== undefined, true);
    assert.equal(((await mintFor(beta, 'acme-jwt-image'))['error'] as { code: number }).code, -32001);
  });
});

describe('a node with --jwt-jwks-file, --jwt-issuer and --jwt-audience', () => {
  let node: TestNode;
  let jwksFile: string;
  const good = { iss: 'https://id.example', aud: 'edge' };

  let generated: string;

  before(async () => {
    // One key of our own (kid k1) and one made by `mimoe token keygen`, in one JWKS.
    generated = path.join(keysDir, 'generated');
    cli(['token', 'keygen', '--out', generated]);
    const made = JSON.parse(fs.readFileSync(path.join(generated, 'jwks.json'), 'utf8')) as { keys: JWK[] };
    const keys = [
      { ...(key.publicKey.export({ format: 'jwk' }) as JWK), kid: 'k1', use: 'sig' },
      ...made.keys,
    ];
    jwksFile = path.join(keysDir, 'jwks.json');
    fs.writeFileSync(jwksFile, JSON.stringify({ keys }));
    node = await TestNode.start({
      args: ['--jwt-jwks-file', jwksFile, '--jwt-issuer', good.iss, '--jwt-audience', good.aud],
    });
  });
  after(async () => {
    await node.stop();
  });

  const get = (token: string): Promise<Response> =>
    node.mcm('GET', '/mims', { auth: false, headers: { authorization: `Bearer ${token}` } });

  it('accepts a token whose kid, issuer and audience match', async () => {
    const res = await get(await mint(key.privateKey, good, { kid: 'k1' }));
    assert.equal(res.status, 200);
  });

  it('refuses an unknown kid, a wrong issuer, a wrong audience', async () => {
    for (const [token, message] of [
      [await mint(key.privateKey, good, { kid: 'k2' }), /unknown key id/],
      [
        await mint(key.privateKey, { ...good, iss: 'https://other.example' }, { kid: 'k1' }),
        /issuer not accepted/,
      ],
      [await mint(key.privateKey, { iss: good.iss }, { kid: 'k1' }), /audience not accepted/],
    ] as const) {
      const res = await get(token);
      assert.equal(res.status, 403);
      assert.match(((await res.json()) as ErrorBody).message, message);
    }
  });

  it('accepts a token from `mimoe token mint` signed with the keygen pair', async () => {
    const mintArgs = [
      'token',
      'mint',
      '--key',
      path.join(generated, 'private.pem'),
      '--client-id',
      'cli-client',
    ];
    const token = cli([...mintArgs, '--issuer', good.iss, '--audience', good.aud]);
    const res = await get(token);
    assert.equal(res.status, 200, await res.clone().text());
    // Without the issuer this node requires, the same key's token is refused.
    const noIssuer = await get(cli(mintArgs));
    assert.equal(noIssuer.status, 403);
    assert.match(((await noIssuer.json()) as ErrorBody).message, /issuer not accepted/);
  });
});

describe('a node without JWT keys', () => {
  it('answers a valid-looking JWT with the plain 403', async () => {
    const node = await TestNode.start();
    try {
      const res = await node.mcm('GET', '/images', {
        auth: false,
        headers: { authorization: `Bearer ${await mint(key.privateKey)}` },
      });
      assert.equal(res.status, 403);
      const body = (await res.json()) as ErrorBody;
      assert.equal(body.error, 'ERR_UNAUTHORIZED');
      assert.match(body.message, /a valid MCM API key \(Authorization: Bearer <MCM_API_KEY>\) is required/);
    } finally {
      await node.stop();
    }
  });
});

describe('a node with a bad key file', () => {
  for (const [label, flag, content, message] of [
    ['a missing PEM file', '--jwt-public-key', undefined, /does not exist/],
    ['a garbage PEM file', '--jwt-public-key', 'not a key', /is not a PEM file/],
    [
      'a private key',
      '--jwt-public-key',
      key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      /holds a private key/,
    ],
    ['a JWKS that is not JSON', '--jwt-jwks-file', '{', /is not valid JSON/],
    ['a JWKS with an HMAC secret', '--jwt-jwks-file', '{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}', /kty "oct"/],
  ] as const) {
    it(`refuses to start with ${label}, saying why, without a stack trace`, async () => {
      const workDir = tempDir();
      const keyFile = path.join(keysDir, `bad-${label.replaceAll(' ', '-')}`);
      if (content !== undefined) fs.writeFileSync(keyFile, content);
      try {
        await assert.rejects(TestNode.start({ workDir, args: [flag, keyFile] }), (err: Error) => {
          assert.match(err.message, /node exited with 1 before listening/);
          assert.match(err.message, /mimoe: cannot start: /);
          assert.match(err.message, message);
          assert.match(err.message, /\(ERR_JWT_KEY_INVALID\)/);
          assert.ok(err.message.includes(keyFile));
          assert.doesNotMatch(err.message, /\n\s+at /, 'a stack trace was printed');
          return true;
        });
      } finally {
        fs.rmSync(workDir, { recursive: true, force: true });
      }
    });
  }
});

async function waitFor(check: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}
