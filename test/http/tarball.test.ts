import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { McmClient, McmApiError } from '../../src/client/mcm-client.js';
import { TestNode, tempDir } from '../helpers/node-process.js';
import { fixtureImage } from '../helpers/fixtures.js';

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** Mints a tarball code on `node` (account key unless another bearer is given). */
async function mint(
  node: TestNode,
  imageId: string,
  expiry?: number,
  key = node.accountKey,
): Promise<string> {
  const me = (await (
    await fetch(`${node.url}/jsonrpc/v1`, {
      method: 'POST',
      body: JSON.stringify({ jsonrpc: '2.0', method: 'getMe', id: 1 }),
    })
  ).json()) as { result: { nodeId: string } };
  const res = await fetch(`${node.url}/jsonrpc/v1`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      jsonrpc: '2.0',
      method: 'getEdgeHmacCode',
      params: [
        '',
        expiry ?? Math.floor(Date.now() / 1000) + 300,
        me.result.nodeId,
        `/mcm/v1/images/${encodeURIComponent(imageId)}/tarball`,
      ],
      id: 1,
    }),
  });
  const answer = (await res.json()) as { result?: { edgeHmacCode: string }; error?: unknown };
  assert.ok(answer.result, JSON.stringify(answer.error));
  return answer.result.edgeHmacCode;
}

function download(
  node: TestNode,
  imageId: string,
  query: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${node.url}/mcm/v1/images/${encodeURIComponent(imageId)}/tarball${query}`, { headers });
}

async function refusal(res: Response): Promise<[number, string]> {
  const body = (await res.json()) as { code: number; error: string };
  assert.equal(body.code, res.status);
  return [res.status, body.error];
}

describe('image tarball download', () => {
  let a: TestNode;
  let b: TestNode;
  let original: Buffer;

  before(async () => {
    [a, b] = await Promise.all([TestNode.start(), TestNode.start()]);
    original = await fixtureImage('hello-router', 'hello-v1');
    assert.equal((await a.upload(original)).status, 200);
  });
  after(async () => {
    await Promise.all([a.stop(), b.stop()]);
  });

  it('returns the uploaded tar byte for byte, with a valid code and no key', async () => {
    const code = await mint(a, 'api-hello-v1');
    const res = await download(a, 'api-hello-v1', `?hmac=${code}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/tar');
    assert.equal(res.headers.get('content-length'), String(original.length));
    assert.equal(res.headers.get('etag'), `"sha256:${sha256(original)}"`);
    assert.match(res.headers.get('content-disposition') ?? '', /attachment; filename="hello-v1.tar"/);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(sha256(body), sha256(original));
    // The code is reusable until it expires, and a (wrong) Authorization header changes nothing.
    const again = await download(a, 'api-hello-v1', `?hmac=${code}`, { authorization: 'Bearer wrong' });
    assert.equal(again.status, 200);
    await again.arrayBuffer();
    // The code is a credential: request log lines carry the path without its query.
    assert.ok(!JSON.stringify(a.logs).includes(code.split('.')[1] as string));
  });

  it('accepts a code minted with the MCM key', async () => {
    const res = await download(
      a,
      'api-hello-v1',
      `?hmac=${await mint(a, 'api-hello-v1', undefined, a.mcmKey)}`,
    );
    assert.equal(res.status, 200);
    assert.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(original));
  });

  it('answers 403 ERR_HMAC_INVALID for a missing, malformed, forged or other-image code', async () => {
    const code = await mint(a, 'api-hello-v1');
    const [expiry, mac] = code.split('.') as [string, string];
    const forgedMac = (mac.startsWith('A') ? 'B' : 'A') + mac.slice(1);
    for (const query of [
      '',
      '?hmac=',
      '?other=1',
      '?hmac=garbage',
      `?hmac=${Number(expiry) + 1000}.${mac}`,
      `?hmac=${expiry}.${forgedMac}`,
      `?hmac=${code}&hmac=${code}`,
    ]) {
      assert.deepEqual(
        await refusal(await download(a, 'api-hello-v1', query)),
        [403, 'ERR_HMAC_INVALID'],
        query,
      );
    }
    // A code for one image opens no other, including one of another client with the same name.
    const otherClient = await fixtureImage('hello-router', 'hello-v1');
    assert.equal((await a.upload(otherClient, { 'x-client-id': 'client-b' })).status, 200);
    assert.deepEqual(await refusal(await download(a, 'client-b-hello-v1', `?hmac=${code}`)), [
      403,
      'ERR_HMAC_INVALID',
    ]);
    const bCode = await mint(a, 'client-b-hello-v1');
    assert.deepEqual(await refusal(await download(a, 'api-hello-v1', `?hmac=${bCode}`)), [
      403,
      'ERR_HMAC_INVALID',
    ]);
    assert.equal((await download(a, 'client-b-hello-v1', `?hmac=${bCode}`)).status, 200);
  });

  it('answers 403 to a code minted by another node', async () => {
    const fromB = await mint(b, 'api-hello-v1');
    assert.deepEqual(await refusal(await download(a, 'api-hello-v1', `?hmac=${fromB}`)), [
      403,
      'ERR_HMAC_INVALID',
    ]);
  });

  it('answers 403 ERR_HMAC_EXPIRED once a genuine code has expired', async () => {
    const code = await mint(a, 'api-hello-v1', Math.floor(Date.now() / 1000) + 1);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    assert.deepEqual(await refusal(await download(a, 'api-hello-v1', `?hmac=${code}`)), [
      403,
      'ERR_HMAC_EXPIRED',
    ]);
  });

  it('the client reports refusals with their codes', async () => {
    const client = new McmClient({ url: a.url, apiKey: a.mcmKey });
    await assert.rejects(
      client.downloadTarball('api-hello-v1', 'forged'),
      (err: unknown) => err instanceof McmApiError && err.status === 403 && err.code === 'ERR_HMAC_INVALID',
    );
    const wrongKey = new McmClient({ url: a.url, apiKey: 'wrong' });
    await assert.rejects(
      wrongKey.tarballCode('api-hello-v1'),
      (err: unknown) =>
        err instanceof McmApiError && err.code === 'ERR_JSONRPC' && /-32001/.test(err.message),
    );
  });

  it('answers 404 for an unknown image with a valid code, 403 without one', async () => {
    const code = await mint(a, 'api-nothing');
    assert.deepEqual(await refusal(await download(a, 'api-nothing', `?hmac=${code}`)), [
      404,
      'ERR_IMAGE_NOT_FOUND',
    ]);
    assert.deepEqual(await refusal(await download(a, 'api-nothing', '?hmac=1.x')), [403, 'ERR_HMAC_INVALID']);
  });

  it('serves image ids holding a slash, percent-encoded in the path', async () => {
    const tar = await fixtureImage('hello-router', 'team/hello');
    assert.equal((await a.upload(tar)).status, 200);
    const res = await download(a, 'api-team/hello', `?hmac=${await mint(a, 'api-team/hello')}`);
    assert.equal(res.status, 200);
    assert.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(tar));
  });

  it('returns a gzip-compressed upload as it was sent', async () => {
    const gz = gzipSync(await fixtureImage('hello-router', 'gz-hello'));
    assert.equal((await a.upload(gz)).status, 200);
    const res = await download(a, 'api-gz-hello', `?hmac=${await mint(a, 'api-gz-hello')}`);
    // Named and typed as what it is, so the saved file opens with the right tool.
    assert.equal(res.headers.get('content-type'), 'application/gzip');
    assert.match(res.headers.get('content-disposition') ?? '', /filename="gz-hello.tar.gz"/);
    assert.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(gz));
  });

  it('a tarball downloaded from one node and uploaded to another deploys there and answers the same', async () => {
    // Through the typed client, as the CLI would: mint with the MCM key, stream the download to a file.
    const client = new McmClient({ url: a.url, apiKey: a.mcmKey });
    const { size, body } = await client.downloadTarball(
      'api-hello-v1',
      await client.tarballCode('api-hello-v1'),
    );
    assert.equal(size, original.length);
    const dir = tempDir();
    const file = path.join(dir, 'hello-v1.tar');
    await pipeline(Readable.fromWeb(body), fs.createWriteStream(file));
    const tar = fs.readFileSync(file);
    fs.rmSync(dir, { recursive: true, force: true });
    assert.equal(sha256(tar), sha256(original));

    const uploaded = await b.upload(tar);
    assert.equal(uploaded.status, 200);
    const imageOnB = (await uploaded.json()) as { id: string; digest: string; size: number };
    const imageOnA = (
      (await (await a.mcm('GET', '/images')).json()) as { data: { id: string; digest: string }[] }
    ).data.find((i) => i.id === 'api-hello-v1');
    assert.equal(imageOnB.id, 'api-hello-v1');
    assert.equal(imageOnB.digest, imageOnA?.digest);
    assert.equal(imageOnB.size, original.length);

    for (const node of [a, b]) {
      const dep = await node.deploy('hello', 'hello-v1', { 'MCM.BASE_API_PATH': '/hello/v1' });
      assert.equal(dep.status, 201);
    }
    const [fromA, fromB] = await Promise.all(
      [a, b].map(async (node) => {
        const r = await fetch(`${node.url}/api/hello/v1/hello`);
        return [r.status, await r.json()] as const;
      }),
    );
    assert.deepEqual(fromB, fromA);
    assert.deepEqual(fromB, [200, { message: 'hello' }]);
  });
});
