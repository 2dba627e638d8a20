import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { spoolToFile } from '../../src/images/spool.js';

let dir: string;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimoe-spool-'));
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function chunks(count: number, size: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => Buffer.alloc(size, i % 256));
}

describe('spoolToFile', () => {
  it('writes the stream to disk and returns its size and sha256', async () => {
    const parts = chunks(40, 1000);
    const dest = path.join(dir, 'ok.tar');
    const result = await spoolToFile(Readable.from(parts), dest, 1_000_000);
    const expected = Buffer.concat(parts);
    assert.equal(result.size, expected.length);
    assert.equal(result.sha256, createHash('sha256').update(expected).digest('hex'));
    assert.deepEqual(fs.readFileSync(dest), expected);
  });

  it('accepts exactly maxBytes', async () => {
    const result = await spoolToFile(Readable.from(chunks(4, 250)), path.join(dir, 'exact.tar'), 1000);
    assert.equal(result.size, 1000);
  });

  it('past maxBytes stops reading, deletes the partial file and throws ERR_IMAGE_TOO_LARGE', async () => {
    const dest = path.join(dir, 'big.tar');
    let produced = 0;
    // An endless source: spooling only ends because the limit stops it.
    const endless = Readable.from(
      (function* () {
        for (;;) {
          produced += 1;
          yield Buffer.alloc(64 * 1024, 1);
        }
      })(),
    );
    await assert.rejects(spoolToFile(endless, dest, 1024 * 1024), { code: 'ERR_IMAGE_TOO_LARGE' });
    assert.equal(fs.existsSync(dest), false);
    assert.ok(endless.destroyed, 'the source is destroyed, so nothing more is read');
    assert.ok(produced < 100, `read ${produced} chunks after the limit`);
  });

  it('deletes the partial file on a stream error and rethrows it', async () => {
    const dest = path.join(dir, 'broken.tar');
    const failing = new Readable({ read() {} });
    failing.push(Buffer.alloc(5000, 2));
    setTimeout(() => failing.destroy(new Error('client went away')), 20);
    await assert.rejects(spoolToFile(failing, dest, 1_000_000), /client went away/);
    assert.equal(fs.existsSync(dest), false);
  });

  it('deletes the partial file when the source fails at once', async () => {
    const dest = path.join(dir, 'instant.tar');
    const failing = new Readable({
      read() {
        this.destroy(new Error('boom'));
      },
    });
    await assert.rejects(spoolToFile(failing, dest, 1000), /boom/);
    assert.equal(fs.existsSync(dest), false);
  });
});
