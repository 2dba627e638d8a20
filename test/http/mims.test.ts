import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestNode } from '../helpers/node-process.js';
import { fixtureImage } from '../helpers/fixtures.js';
import type { MimView } from '../../src/mims/mim.js';

describe('MCM mims and routing to them', () => {
  let node: TestNode;
  before(async () => {
    node = await TestNode.start();
    assert.equal((await node.upload(await fixtureImage('hello-router', 'hello-v1'))).status, 200);
    assert.equal((await node.upload(await fixtureImage('raw-exports', 'raw-v1'))).status, 200);
  });
  after(async () => {
    await node.stop();
  });

  it('deploys with 201 and the seed mim object, defaults filled in', async () => {
    const before = Date.now();
    const res = await node.deploy('hello', 'hello-v1', { 'MCM.BASE_API_PATH': '/hello/v1', CUSTOM: 'x' });
    assert.equal(res.status, 201);
    const mim = (await res.json()) as MimView;
    assert.equal(mim.id, 'api-hello');
    assert.equal(mim.name, 'hello');
    assert.equal(mim.image, 'hello-v1');
    assert.equal(mim.imageId, 'api-hello-v1');
    assert.equal(mim.clientId, 'api');
    assert.equal(mim.state, 'started');
    assert.equal(mim.status, 'up');
    assert.ok(mim.created >= before && mim.created <= Date.now());
    assert.deepEqual(mim.env, {
      'MCM.BASE_API_PATH': '/hello/v1',
      CUSTOM: 'x',
      'MCM.WEBSOCKET_SUPPORT': 'false',
      'MCM.DB_ENCRYPTION_SUPPORT': 'false',
      'MCM.MAX_EXECUTION_TIME_SEC': '30',
      'MCM.RUNTIME': 'js',
    });
    const list = (await (await node.mcm('GET', '/mims')).json()) as { data: MimView[] };
    assert.deepEqual(list.data, [mim]);
  });

  it('routes /api/<base path>/<route> to the mim, with req.url relative to the mount', async () => {
    const hello = await fetch(`${node.url}/api/hello/v1/hello`);
    assert.equal(hello.status, 200);
    assert.match(hello.headers.get('content-type') ?? '', /application\/json/);
    assert.deepEqual(await hello.json(), { message: 'hello' });
    const echo = (await (
      await fetch(`${node.url}/api/hello/v1/echo?page=1`, {
        method: 'POST',
        body: 'payload',
        headers: { 'X-Thing': 'A' },
      })
    ).json()) as {
      url: string;
      method: string;
      headers: Record<string, string>;
      body: string;
      info: Record<string, string>;
      env: Record<string, string>;
    };
    assert.equal(echo.url, '/echo?page=1');
    assert.equal(echo.method, 'POST');
    assert.equal(echo.headers['x-thing'], 'A');
    assert.equal(echo.body, 'payload');
    assert.equal(echo.env['MCM.BASE_API_PATH'], '/hello/v1');
    assert.equal(echo.info['httpPort'], String(node.port));
    assert.equal(echo.info['apiRoot'], '/api/hello/v1');
    assert.equal(echo.info['serviceType'], 'api-hello-v1');
    const unknown = await fetch(`${node.url}/api/hello/v1/nope`);
    assert.equal(unknown.status, 404);
    const notMounted = await fetch(`${node.url}/api/hello/v2/hello`);
    assert.equal(notMounted.status, 404);
    assert.equal(((await notMounted.json()) as { error: string }).error, 'ERR_ROUTE_NOT_FOUND');
    const prefixOnly = await fetch(`${node.url}/api/hello/v1extra/hello`);
    assert.equal(prefixOnly.status, 404);
  });

  it('refuses invalid deploys with 400 and says why', async () => {
    const cases: [string, unknown, RegExp][] = [
      ['missing name', { image: 'hello-v1', env: { 'MCM.BASE_API_PATH': '/a' } }, /name/],
      ['name with a space', { name: 'a b', image: 'hello-v1', env: { 'MCM.BASE_API_PATH': '/a' } }, /space/],
      ['unknown image', { name: 'a', image: 'nope', env: { 'MCM.BASE_API_PATH': '/a' } }, /nope/],
      ['no base path', { name: 'a', image: 'hello-v1', env: {} }, /BASE_API_PATH/],
      [
        'base path not a path',
        { name: 'a', image: 'hello-v1', env: { 'MCM.BASE_API_PATH': 'a b' } },
        /BASE_API_PATH/,
      ],
      [
        'dot-dot base path',
        { name: 'a', image: 'hello-v1', env: { 'MCM.BASE_API_PATH': '/a/../b' } },
        /\.\./,
      ],
      [
        'addon env',
        { name: 'a', image: 'hello-v1', env: { 'MCM.BASE_API_PATH': '/a', 'MCM.ADDON.ID': 'x' } },
        /ADDON/,
      ],
      ['env not an object', { name: 'a', image: 'hello-v1', env: ['x'] }, /env/],
      [
        'env value an object',
        { name: 'a', image: 'hello-v1', env: { 'MCM.BASE_API_PATH': '/a', X: {} } },
        /X/,
      ],
      [
        'bad time limit',
        {
          name: 'a',
          image: 'hello-v1',
          env: { 'MCM.BASE_API_PATH': '/a', 'MCM.MAX_EXECUTION_TIME_SEC': 'soon' },
        },
        /MAX_EXECUTION/,
      ],
      [
        'wasm runtime',
        { name: 'a', image: 'hello-v1', env: { 'MCM.BASE_API_PATH': '/a', 'MCM.RUNTIME': 'wasm' } },
        /wasm/,
      ],
      ['body an array', [], /object/],
    ];
    for (const [label, body, pattern] of cases) {
      const res = await node.mcm('POST', '/mims', { body });
      assert.equal(res.status, 400, label);
      assert.match(((await res.json()) as { message: string }).message, pattern, label);
    }
  });

  it('answers 409 for a second deploy of the same id and for a taken mount path', async () => {
    const again = await node.deploy('hello', 'hello-v1', { 'MCM.BASE_API_PATH': '/other' });
    assert.equal(again.status, 409);
    const samePath = await node.deploy('hello2', 'raw-v1', { 'MCM.BASE_API_PATH': '/hello/v1/' });
    assert.equal(samePath.status, 409);
    assert.equal(((await samePath.json()) as { error: string }).error, 'ERR_MOUNT_CONFLICT');
  });

  it('serves /containers as a view of the same mims, taking imageName', async () => {
    const res = await node.mcm('POST', '/containers', {
      body: { name: 'raw', imageName: 'raw-v1', env: { 'MCM.BASE_API_PATH': '/raw/v1' } },
    });
    assert.equal(res.status, 201);
    const containers = (await (await node.mcm('GET', '/containers')).json()) as { data: MimView[] };
    const mims = (await (await node.mcm('GET', '/mims')).json()) as { data: MimView[] };
    assert.deepEqual(containers, mims);
    assert.ok(mims.data.some((m) => m.id === 'api-raw'));
    assert.equal((await node.mcm('DELETE', '/containers/api-raw')).status, 200);
    assert.equal((await fetch(`${node.url}/api/raw/v1/`)).status, 404);
  });

  it('keeps clients apart: another client sees, deletes and deploys from nothing of client api', async () => {
    const other = { 'x-client-id': 'client-b' };
    const list = (await (await node.mcm('GET', '/mims', { headers: other })).json()) as { data: MimView[] };
    assert.deepEqual(list.data, []);
    assert.equal((await node.mcm('DELETE', '/mims/api-hello', { headers: other })).status, 404);
    const dep = await node.deploy('x', 'hello-v1', { 'MCM.BASE_API_PATH': '/x' }, other);
    assert.equal(dep.status, 400);
    assert.equal(((await dep.json()) as { error: string }).error, 'ERR_MIM_IMAGE_UNKNOWN');
  });

  it('mounts another client at /{clientId}{basePath}, and at /api with MCM.API_ALIAS', async () => {
    const other = { 'x-client-id': 'client-c' };
    assert.equal((await node.upload(await fixtureImage('hello-router', 'c-image'), other)).status, 200);
    const dep = await node.deploy(
      'c',
      'c-image',
      { 'MCM.BASE_API_PATH': '/c/v1', 'MCM.API_ALIAS': 'true' },
      other,
    );
    assert.equal(dep.status, 201);
    const mim = (await dep.json()) as MimView;
    assert.equal(mim.id, 'client-c-c');
    assert.equal(mim.clientId, 'client-c');
    assert.deepEqual(await (await fetch(`${node.url}/client-c/c/v1/hello`)).json(), { message: 'hello' });
    assert.deepEqual(await (await fetch(`${node.url}/api/c/v1/hello`)).json(), { message: 'hello' });
    assert.equal((await node.mcm('DELETE', '/mims/client-c-c', { headers: other })).status, 200);
    assert.equal((await fetch(`${node.url}/api/c/v1/hello`)).status, 404);
  });

  it('deletes a mim: 200 with the mim, then 404', async () => {
    await node.deploy('gone', 'raw-v1', { 'MCM.BASE_API_PATH': '/gone' });
    const del = await node.mcm('DELETE', '/mims/api-gone');
    assert.equal(del.status, 200);
    assert.equal(((await del.json()) as MimView).id, 'api-gone');
    assert.equal((await node.mcm('DELETE', '/mims/api-gone')).status, 404);
  });
});
