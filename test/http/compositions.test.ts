import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { TestNode, tempDir } from '../helpers/node-process.js';
import { fixtureImage } from '../helpers/fixtures.js';
import type { MimView } from '../../src/mims/mim.js';
import { McmClient, McmApiError } from '../../src/client/mcm-client.js';
import { buildProgram } from '../../src/cli/main.js';
import { Writable } from 'node:stream';

const entry = (name: string, base: string, image = 'hello-v1'): Record<string, unknown> => ({
  name,
  image,
  env: { 'MCM.BASE_API_PATH': base },
});

describe('POST /compositions', () => {
  let node: TestNode;
  before(async () => {
    node = await TestNode.start();
    const tar = await fixtureImage('hello-router', 'hello-v1');
    for (const client of ['api', 'stack', 'typed', 'cli']) {
      assert.equal((await node.upload(tar, { 'x-client-id': client })).status, 200);
    }
  });
  after(async () => {
    await node.stop();
  });

  async function mimIds(clientId?: string): Promise<string[]> {
    const headers: Record<string, string> = clientId === undefined ? {} : { 'x-client-id': clientId };
    const body = (await (await node.mcm('GET', '/mims', { headers })).json()) as { data: MimView[] };
    return body.data.map((m) => m.id);
  }

  it('deploys every mim with 201 and the array of mim objects; each answers at its mount', async () => {
    const res = await node.mcm('POST', '/compositions', {
      body: { mims: [entry('c-one', '/c-one/v1'), entry('c-two', '/c-two/v1')] },
      headers: { 'x-client-id': 'stack' },
    });
    assert.equal(res.status, 201);
    const views = (await res.json()) as MimView[];
    assert.deepEqual(
      views.map((v) => [v.id, v.clientId, v.state, v.env['MCM.BASE_API_PATH']]),
      [
        ['stack-c-one', 'stack', 'started', '/c-one/v1'],
        ['stack-c-two', 'stack', 'started', '/c-two/v1'],
      ],
    );
    for (const base of ['/stack/c-one/v1', '/stack/c-two/v1']) {
      const hello = await fetch(`${node.url}${base}/hello`);
      assert.equal(hello.status, 200);
    }
    assert.deepEqual(await mimIds('stack'), ['stack-c-one', 'stack-c-two']);
  });

  it('leaves nothing deployed when the third entry is invalid', async () => {
    const cases: [unknown, number, string, RegExp][] = [
      [
        { name: 'bad name', image: 'hello-v1', env: {} },
        400,
        'ERR_MIM_INVALID',
        /^mims\[2\]: name must not contain spaces/,
      ],
      [entry('r3', '/r3', 'no-such-image'), 400, 'ERR_MIM_IMAGE_UNKNOWN', /^mims\[2\]: image no-such-image/],
      [
        entry('r3', '/r1'),
        409,
        'ERR_MOUNT_CONFLICT',
        /^mims\[2\]: mount path \/api\/r1 is also claimed by mims\[0\]/,
      ],
      [entry('r1', '/r3'), 409, 'ERR_MIM_EXISTS', /^mims\[2\]: name r1 is already used by mims\[0\]/],
      [
        { name: 'r3', image: 'hello-v1', env: { 'MCM.BASE_API_PATH': '/r3', 'MCM.ADDON.ID': 'x' } },
        400,
        'ERR_MIM_INVALID',
        /^mims\[2\]: env keys starting with MCM\.ADDON\. are reserved/,
      ],
    ];
    for (const [third, status, code, message] of cases) {
      const res = await node.mcm('POST', '/compositions', {
        body: { mims: [entry('r1', '/r1'), entry('r2', '/r2'), third] },
      });
      assert.equal(res.status, status, JSON.stringify(third));
      const body = (await res.json()) as { error: string; message: string };
      assert.equal(body.error, code);
      assert.match(body.message, message);
      assert.deepEqual(await mimIds(), []);
      for (const base of ['/api/r1', '/api/r2']) {
        const routed = await fetch(`${node.url}${base}/hello`);
        assert.equal(routed.status, 404);
        assert.equal(((await routed.json()) as { error: string }).error, 'ERR_ROUTE_NOT_FOUND');
      }
    }
  });

  it('refuses entries clashing with mims already deployed, deploying none', async () => {
    assert.equal((await node.deploy('held', 'hello-v1', { 'MCM.BASE_API_PATH': '/held' })).status, 201);
    for (const [clash, code] of [
      [entry('fresh', '/held'), 'ERR_MOUNT_CONFLICT'],
      [entry('held', '/elsewhere'), 'ERR_MIM_EXISTS'],
    ] as const) {
      const res = await node.mcm('POST', '/compositions', { body: { mims: [entry('d1', '/d1'), clash] } });
      assert.equal(res.status, 409);
      const body = (await res.json()) as { error: string; message: string };
      assert.equal(body.error, code);
      assert.match(body.message, /^mims\[1\]: /);
      assert.deepEqual(await mimIds(), ['api-held']);
    }
    assert.equal((await node.mcm('DELETE', '/mims/api-held')).status, 200);
  });

  it('answers 400 for a body that is no composition: not an object, no array, empty, too many', async () => {
    const cases: [unknown, RegExp][] = [
      [[entry('x', '/x')], /must be a JSON object \{ mims/],
      [{}, /mims is required and must be an array/],
      [{ mims: 'x' }, /mims is required and must be an array/],
      [{ mims: [] }, /at least one mim/],
      [{ mims: Array.from({ length: 65 }, (_, i) => entry(`n${i}`, `/n${i}`)) }, /at most 64 mims, got 65/],
      [{ mims: [entry('x', '/x'), 'not an object'] }, /^mims\[1\]: the body must be a JSON object/],
    ];
    for (const [body, message] of cases) {
      const res = await node.mcm('POST', '/compositions', { body });
      assert.equal(res.status, 400, JSON.stringify(body).slice(0, 80));
      const err = (await res.json()) as { code: number; error: string; message: string };
      assert.equal(err.error, 'ERR_MIM_INVALID');
      assert.match(err.message, message);
    }
    const malformed = await node.mcm('POST', '/compositions', {
      body: '{"mims": [',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(malformed.status, 400);
    assert.deepEqual(await mimIds(), []);
  });

  it('needs the MCM key', async () => {
    const res = await node.mcm('POST', '/compositions', { body: { mims: [entry('x', '/x')] }, auth: false });
    assert.equal(res.status, 403);
  });

  it('deploys through the typed client and `mimoe composition deploy`', async () => {
    const client = new McmClient({ url: node.url, apiKey: node.mcmKey, clientId: 'typed' });
    const views = await client.deployComposition([entry('t1', '/t1')]);
    assert.deepEqual(
      views.map((v) => v.id),
      ['typed-t1'],
    );
    await assert.rejects(client.deployComposition([entry('t1', '/t1')]), (err: McmApiError) => {
      assert.equal(err.status, 409);
      assert.equal(err.code, 'ERR_MIM_EXISTS');
      return true;
    });

    const dir = tempDir('mimoe-composition-cli-');
    try {
      const file = path.join(dir, 'stack.json');
      fs.writeFileSync(file, JSON.stringify({ mims: [entry('k1', '/k1'), entry('k2', '/k2')] }));
      const out = { text: '' };
      const err = { text: '' };
      const sink = (t: { text: string }): Writable =>
        new Writable({
          write(chunk: Buffer, _enc, cb) {
            t.text += chunk.toString();
            cb();
          },
        });
      const previous = process.exitCode;
      const run = async (args: string[]): Promise<number> => {
        process.exitCode = 0;
        await buildProgram({ stdout: sink(out), stderr: sink(err) }).parseAsync(args, { from: 'user' });
        const code = typeof process.exitCode === 'number' ? process.exitCode : 0;
        process.exitCode = previous;
        return code;
      };
      const args = ['--url', node.url, '--api-key', node.mcmKey, '--client-id', 'cli'];
      assert.equal(await run(['composition', 'deploy', file, ...args]), 0, err.text);
      assert.match(out.text, /Deployed cli-k1 \(image hello-v1\)\nDeployed cli-k2/);
      assert.equal(await run(['composition', 'deploy', file, ...args]), 1);
      assert.match(err.text, /mims\[0\]: mim cli-k1 is already deployed \[ERR_MIM_EXISTS\] \(HTTP 409\)/);
      assert.deepEqual(await mimIds('cli'), ['cli-k1', 'cli-k2']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
