import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { MimoeError } from '../../src/errors/index.js';
import { ImageStore } from '../../src/images/store.js';
import { packMimImage } from '../../src/images/pack.js';
import { deployComposition, parseComposition } from '../../src/mims/compositions.js';
import type { MimRegistry } from '../../src/mims/registry.js';
import { openNodeDb, type Db } from '../../src/state/node-db.js';
import { tempDir } from '../helpers/node-process.js';
import { registryFor, StandInHost } from '../helpers/registry.js';

// A deploy that fails only when it happens, halfway through a composition: the stand-in host
// refuses the third mim on cue. The API cannot provoke this on purpose.

let dir: string;
let db: Db;
let host: StandInHost;
let mims: MimRegistry;

beforeEach(async () => {
  dir = tempDir('mimoe-compositions-');
  db = openNodeDb(dir);
  const images = new ImageStore(db, dir, {
    maxImageBytes: 1 << 22,
    maxBundleBytes: 1 << 20,
    maxTarEntries: 100,
  });
  host = new StandInHost();
  mims = registryFor(dir, db, images, host);
  const tar = await packMimImage({ bundle: Buffer.from('mimikModule.exports = 1;'), name: 'img', tag: '1' });
  await images.ingest('api', Readable.from(tar));
});
afterEach(() => {
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const entries = (n: number): unknown[] =>
  Array.from({ length: n }, (_, i) => ({
    name: `m${i}`,
    image: 'img',
    env: { 'MCM.BASE_API_PATH': `/m${i}` },
  }));

describe('deployComposition', () => {
  it('rolls back the mims deployed before a deploy that fails halfway, DataStores included', async () => {
    host.refuse = (spec) => spec.mimId === 'api-m2';
    await assert.rejects(
      deployComposition(mims, 'api', parseComposition({ mims: entries(4) })),
      (err: MimoeError) => {
        assert.equal(err.code, 'ERR_SHUTTING_DOWN');
        assert.match(err.message, /^mims\[2\]: the node is shutting down/);
        assert.equal(err.details?.['index'], 2);
        return true;
      },
    );
    assert.deepEqual(mims.list('api'), []);
    assert.equal(host.running.size, 0);
    for (const i of [0, 1, 2]) {
      assert.equal(mims.mounts.resolve(`/api/m${i}`), undefined);
      assert.equal(fs.existsSync(mims.dataDir(`api-m${i}`)), false);
    }
    // Nothing half-done is left to get in the way: the same composition deploys once allowed.
    host.refuse = () => false;
    const views = await deployComposition(mims, 'api', parseComposition({ mims: entries(4) }));
    assert.deepEqual(
      views.map((v) => v.id),
      ['api-m0', 'api-m1', 'api-m2', 'api-m3'],
    );
  });

  it('checks every entry before deploying the first', async () => {
    const list = entries(3);
    list[2] = { name: 'm2', image: 'img', env: { 'MCM.BASE_API_PATH': '/m0' } };
    await assert.rejects(deployComposition(mims, 'api', parseComposition({ mims: list })), {
      code: 'ERR_MOUNT_CONFLICT',
      message: /^mims\[2\]: mount path \/api\/m0 is also claimed by mims\[0\]/,
    });
    assert.equal(host.running.size, 0);
    list[2] = { name: 'm0', image: 'img', env: { 'MCM.BASE_API_PATH': '/other' } };
    await assert.rejects(deployComposition(mims, 'api', parseComposition({ mims: list })), {
      code: 'ERR_MIM_EXISTS',
      message: /^mims\[2\]: name m0 is already used by mims\[0\]/,
    });
    assert.equal(mims.count(), 0);
  });
});
