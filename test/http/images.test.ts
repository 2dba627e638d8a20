import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { TestNode } from '../helpers/node-process.js';
import { fixtureImage } from '../helpers/fixtures.js';
import type { ImageView } from '../../src/images/image.js';

describe('MCM images', () => {
  let node: TestNode;
  before(async () => {
    node = await TestNode.start({ args: ['--max-image-mb', '1'] });
  });
  after(async () => {
    await node.stop();
  });

  it('uploads a packed image and answers the seed image object', async () => {
    const tar = await fixtureImage('hello-router', 'my-agent-v1', '1.0.0');
    const res = await node.upload(tar);
    assert.equal(res.status, 200);
    const image = (await res.json()) as ImageView;
    assert.equal(image.id, 'api-my-agent-v1');
    assert.equal(image.name, 'my-agent-v1');
    assert.deepEqual(image.repoTags, ['my-agent-v1:1.0.0']);
    assert.equal(image.size, tar.length);
    assert.equal(image.digest, `sha256:${createHash('sha256').update(tar).digest('hex')}`);
    assert.ok(
      Number.isInteger(image.created) && image.created > 1_000_000_000 && image.created < 10_000_000_000,
    );
    const list = (await (await node.mcm('GET', '/images')).json()) as { data: ImageView[] };
    assert.deepEqual(list.data, [image]);
  });

  it('accepts a gzip-compressed image', async () => {
    const res = await node.upload(gzipSync(await fixtureImage('raw-exports', 'gz-image')));
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as ImageView).id, 'api-gz-image');
  });

  it('scopes images by client id', async () => {
    const other = { 'x-client-id': 'other-client' };
    const list = (await (await node.mcm('GET', '/images', { headers: other })).json()) as {
      data: ImageView[];
    };
    assert.deepEqual(list.data, []);
    const del = await node.mcm('DELETE', '/images/api-my-agent-v1', { headers: other });
    assert.equal(del.status, 404);
    const up = await node.upload(await fixtureImage('raw-exports', 'their-image'), other);
    assert.equal(((await up.json()) as ImageView).id, 'other-client-their-image');
    const mine = (await (await node.mcm('GET', '/images')).json()) as { data: ImageView[] };
    assert.ok(!mine.data.some((i) => i.id === 'other-client-their-image'));
  });

  it('replaces an image uploaded again under the same name', async () => {
    await node.upload(await fixtureImage('raw-exports', 'replaced', '1'));
    const second = (await (
      await node.upload(await fixtureImage('async', 'replaced', '2'))
    ).json()) as ImageView;
    assert.deepEqual(second.repoTags, ['replaced:2']);
    const list = (await (await node.mcm('GET', '/images')).json()) as { data: ImageView[] };
    assert.equal(list.data.filter((i) => i.name === 'replaced').length, 1);
  });

  it('answers 400 with a precise message for things that are not mim images', async () => {
    for (const [label, bytes, pattern] of [
      ['random bytes', Buffer.from('this is not a tar at all'.repeat(40)), /tar|archive|manifest/i],
      ['an empty file', Buffer.alloc(0), /./],
    ] as const) {
      const res = await node.upload(bytes);
      assert.equal(res.status, 400, label);
      const body = (await res.json()) as { error: string; message: string };
      assert.equal(body.error, 'ERR_IMAGE_INVALID', label);
      assert.match(body.message, pattern, label);
    }
  });

  it('answers 400 when the multipart field is missing or the body is not multipart', async () => {
    const form = new FormData();
    form.append('file', new Blob([Buffer.from('x')]), 'x.tar');
    const wrongField = await node.mcm('POST', '/images', { body: form });
    assert.equal(wrongField.status, 400);
    const json = await node.mcm('POST', '/images', { body: { image: 'x' } });
    assert.equal(json.status, 400);
  });

  it('answers 413 past the size limit and keeps serving', async () => {
    const form = new FormData();
    form.append('image', new Blob([Buffer.alloc(2 * 1024 * 1024, 1)]), 'big.tar');
    const res = await node.mcm('POST', '/images', { body: form });
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { error: string }).error, 'ERR_IMAGE_TOO_LARGE');
    assert.equal((await node.mcm('GET', '/images')).status, 200);
  });

  it('deletes an image, 404 for an unknown one, 409 while a mim uses it', async () => {
    await node.upload(await fixtureImage('raw-exports', 'used-image'));
    const dep = await node.deploy('user', 'used-image', { 'MCM.BASE_API_PATH': '/user/v1' });
    assert.equal(dep.status, 201);
    const busy = await node.mcm('DELETE', '/images/api-used-image');
    assert.equal(busy.status, 409);
    assert.match(((await busy.json()) as { message: string }).message, /api-user/);
    assert.equal((await node.mcm('DELETE', '/mims/api-user')).status, 200);
    const del = await node.mcm('DELETE', '/images/api-used-image');
    assert.equal(del.status, 200);
    assert.equal(((await del.json()) as ImageView).id, 'api-used-image');
    assert.equal((await node.mcm('DELETE', '/images/api-used-image')).status, 404);
  });
});
