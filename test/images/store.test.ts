// The image store's blobs on disk: a re-upload finds a blob damaged or edited since and rebuilds it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { packMimImage } from '../../src/images/pack.js';
import { ImageStore } from '../../src/images/store.js';
import { openNodeDb, type Db } from '../../src/state/node-db.js';
import { tempDir } from '../helpers/node-process.js';

const LIMITS = { maxImageBytes: 1024 * 1024, maxBundleBytes: 256 * 1024, maxTarEntries: 100 };

describe('image store blobs', () => {
  let dir: string;
  let db: Db;
  let images: ImageStore;
  before(() => {
    dir = tempDir('mimoe-images-');
    db = openNodeDb(dir);
    images = new ImageStore(db, dir, LIMITS);
  });
  after(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps an intact blob on re-upload, and rebuilds one edited on disk', async () => {
    const bundle = Buffer.from('mimikModule.exports = function (c, req, res) { res.end("ok"); };\n');
    const tar = await packMimImage({ bundle, name: 'hello', tag: '1' });
    const repaired: string[] = [];
    const onRepaired = (blob: string): void => void repaired.push(blob);
    const record = await images.ingest('api', Readable.from(tar), undefined, { onRepaired });
    const stored = images.blobs.bundlePath(record.blob);
    await images.ingest('api', Readable.from(tar), undefined, { onRepaired });
    assert.deepEqual(repaired, [], 'an intact blob is kept');

    fs.writeFileSync(stored, 'mimikModule.exports = function () { /* edited */ };');
    await images.ingest('api', Readable.from(tar), undefined, { onRepaired });
    assert.deepEqual(repaired, [record.blob]);
    assert.deepEqual(fs.readFileSync(stored), bundle);

    fs.truncateSync(images.blobs.tarPath(record.blob), 10);
    await images.ingest('api', Readable.from(tar), undefined, { onRepaired });
    assert.deepEqual(repaired, [record.blob, record.blob]);
    assert.deepEqual(fs.readFileSync(images.blobs.tarPath(record.blob)), tar);
    // Nothing left over in the work area.
    assert.deepEqual(fs.readdirSync(path.join(dir, 'tmp')), []);
  });
});
