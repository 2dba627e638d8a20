import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { readMimImage } from '../../src/images/read-image.js';
import { tempDir } from '../helpers/node-process.js';
import { packWithMimikPackager } from '../helpers/mimik-packager.js';

/** Reads the tar that mimik's own packager (@mimik/edge-ms-packager) writes: a real third-party producer. */
describe('images written by @mimik/edge-ms-packager', () => {
  it("are read back with the packager's name, tag and bundle", { timeout: 30_000 }, async () => {
    const bundle = 'mimikModule.exports = function (context, req, res) { res.end("from the packager"); };\n';
    const { tar, repoTag } = packWithMimikPackager(Buffer.from(bundle), 'hello', '1.4.2');
    assert.equal(repoTag, 'hello-v1:1.4.2');
    const dir = tempDir();
    try {
      const tarPath = path.join(dir, 'image.tar');
      fs.writeFileSync(tarPath, tar);
      const image = await readMimImage(tarPath, { maxBundleBytes: 1024 * 1024, maxEntries: 100 });
      assert.equal(image.name, 'hello-v1');
      assert.deepEqual(image.repoTags, ['hello-v1:1.4.2']);
      assert.equal(image.bundle.toString(), bundle);
      // The packager copies a fixed config from 2019.
      assert.equal(image.created, Math.floor(Date.parse('2019-07-25T18:12:12.744862287Z') / 1000));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
