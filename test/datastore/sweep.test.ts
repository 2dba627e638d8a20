import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { sweepInterrupted } from '../../src/datastore/index.js';
import { tempDir } from './helpers.js';

let dir: string;
beforeEach(() => {
  dir = tempDir('mimoe-sweep-');
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('sweepInterrupted (what a restore killed mid-way leaves)', () => {
  it('drops staging copies and old data already replaced', () => {
    fs.writeFileSync(path.join(dir, 'store.db'), 'live');
    fs.mkdirSync(path.join(dir, 'files'));
    fs.mkdirSync(path.join(dir, '.mimoe-restore-abc'));
    fs.writeFileSync(path.join(dir, '.mimoe-restore-abc', 'store.db'), 'staged');
    fs.mkdirSync(path.join(dir, '.mimoe-restore-files-def'));
    fs.writeFileSync(path.join(dir, '.mimoe-old-0a1b2c-store.db'), 'old');
    fs.mkdirSync(path.join(dir, '.mimoe-old-0a1b2c-files'));
    sweepInterrupted(dir);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['files', 'store.db']);
    assert.equal(fs.readFileSync(path.join(dir, 'store.db'), 'utf8'), 'live');
  });

  it('puts back live data moved aside but not yet replaced', () => {
    fs.writeFileSync(path.join(dir, '.mimoe-old-0a1b2c-store.db'), 'old live');
    fs.writeFileSync(path.join(dir, '.mimoe-old-0a1b2c-store.db-wal'), 'wal');
    fs.mkdirSync(path.join(dir, '.mimoe-old-0a1b2c-files'));
    fs.writeFileSync(path.join(dir, '.mimoe-old-0a1b2c-files', 'a.txt'), 'a');
    sweepInterrupted(dir);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['files', 'store.db', 'store.db-wal']);
    assert.equal(fs.readFileSync(path.join(dir, 'store.db'), 'utf8'), 'old live');
    assert.equal(fs.readFileSync(path.join(dir, 'files', 'a.txt'), 'utf8'), 'a');
  });

  it('removes the temporary files of unfinished writes from the file area, and nothing else', () => {
    const nested = path.join(dir, 'files', 'a', 'b');
    fs.mkdirSync(nested, { recursive: true });
    fs.writeFileSync(path.join(dir, 'files', '.mimoe-0123456789abcdef.tmp'), 'half');
    fs.writeFileSync(path.join(nested, '.mimoe-fedcba9876543210.tmp'), 'half');
    fs.writeFileSync(path.join(nested, 'kept.txt'), 'kept');
    fs.writeFileSync(path.join(nested, '.mimoe-notatemp.tmp'), 'kept');
    sweepInterrupted(dir);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'files')).sort(), ['a']);
    assert.deepEqual(fs.readdirSync(nested).sort(), ['.mimoe-notatemp.tmp', 'kept.txt']);
  });

  it('does nothing to a missing directory', () => {
    sweepInterrupted(path.join(dir, 'nope'));
  });
});
