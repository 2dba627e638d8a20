// The disk reserve: kept in the work dir, given up once so that a delete can run on a full disk.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { RESERVE_BYTES, RESERVE_FILE, freeingWrite, keepDiskReserve } from '../../src/state/disk-reserve.js';
import { openNodeDb, type Db } from '../../src/state/node-db.js';
import { tempDir } from '../helpers/node-process.js';

describe('disk reserve', () => {
  let dir: string;
  let db: Db;
  before(() => {
    dir = tempDir('mimoe-reserve-');
    db = openNodeDb(dir);
  });
  after(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const reserve = (): string => path.join(dir, RESERVE_FILE);

  it('is written whole, owner-only, and rewritten when short', () => {
    keepDiskReserve(dir);
    assert.equal(fs.statSync(reserve()).size, RESERVE_BYTES);
    assert.equal(fs.statSync(reserve()).mode & 0o077, 0);
    fs.truncateSync(reserve(), 10);
    keepDiskReserve(dir);
    assert.equal(fs.statSync(reserve()).size, RESERVE_BYTES);
  });

  it('is given up once for a write that meets a full disk, which then runs again', () => {
    keepDiskReserve(dir);
    let calls = 0;
    const result = freeingWrite(db, () => {
      calls++;
      if (calls === 1) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      return 'deleted';
    });
    assert.equal(result, 'deleted');
    assert.equal(calls, 2);
    assert.equal(fs.existsSync(reserve()), false);
    // Without a reserve left, the failure stands.
    assert.throws(
      () =>
        freeingWrite(db, () => {
          throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
        }),
      /disk is full/,
    );
  });

  it('is kept for any other failure', () => {
    keepDiskReserve(dir);
    assert.throws(
      () =>
        freeingWrite(db, () => {
          throw Object.assign(new Error('constraint'), { code: 'SQLITE_CONSTRAINT' });
        }),
      /constraint/,
    );
    assert.equal(fs.statSync(reserve()).size, RESERVE_BYTES);
  });
});
