import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { FileArea } from '../../src/datastore/file-area.js';
import { isMimoeError } from '../../src/errors/index.js';
import { assertTypeError, tempDir, treeOf } from './helpers.js';

let dir: string;
let root: string;
let outside: string;
let area: FileArea;

beforeEach(() => {
  dir = tempDir('mimoe-files-');
  root = path.join(dir, 'area');
  outside = path.join(dir, 'outside');
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'secret.txt'), 'top secret');
  area = new FileArea(root);
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('FileArea.resolve', () => {
  it('resolves relative paths inside the area, creating the area', () => {
    assert.equal(area.resolve('a.txt'), path.join(root, 'a.txt'));
    assert.equal(area.resolve('x/y/z.bin'), path.join(root, 'x', 'y', 'z.bin'));
    assert.equal(area.resolve('./x//y/./z'), path.join(root, 'x', 'y', 'z'));
    assert.equal(area.resolve('ünï cödé 🙂.txt'), path.join(root, 'ünï cödé 🙂.txt'));
    assert.ok(fs.statSync(root).isDirectory());
  });

  it('refuses absolute paths, .., NUL, empty names, reserved names and non-strings with TypeErrors', () => {
    const hostile: Array<[unknown, RegExp]> = [
      ['/etc/passwd', /absolute paths are not allowed/],
      [path.join(outside, 'secret.txt'), /absolute paths are not allowed/],
      ['\\windows\\system32', /absolute paths are not allowed/],
      ['..', /'\.\.' is not allowed/],
      ['../outside/secret.txt', /'\.\.' is not allowed/],
      ['a/../../outside/secret.txt', /'\.\.' is not allowed/],
      ['a/..', /'\.\.' is not allowed/],
      ['..\\outside\\secret.txt', /'\.\.' is not allowed/],
      ['a\0b', /NUL byte/],
      ['', /names no file/],
      ['.', /names no file/],
      ['./', /names no file/],
      [undefined, /must be a string/],
      [42, /must be a string/],
      ['x'.repeat(5000), /longer than/],
      // The names of unfinished writes, which the node removes at start.
      ['.mimoe-0123456789abcdef.tmp', /are reserved/],
      ['dir/.mimoe-0123456789abcdef.tmp/x', /are reserved/],
    ];
    for (const [p, why] of hostile) assertTypeError(() => area.resolve(p), why);
  });

  it('refuses a symlink inside the area that points out, at any depth', () => {
    fs.mkdirSync(path.join(root, 'sub'), { recursive: true });
    fs.symlinkSync(outside, path.join(root, 'sub', 'out-dir'));
    fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'out-file'));
    fs.symlinkSync('../../outside', path.join(root, 'sub', 'relative-out'));
    for (const p of [
      'sub/out-dir',
      'sub/out-dir/secret.txt',
      'sub/out-dir/new/deeper.txt',
      'out-file',
      'sub/relative-out/x',
    ]) {
      assertTypeError(() => area.resolve(p), /symbolic link that leads outside/);
    }
  });

  it('refuses a dangling symlink (writing through it would create a file anywhere)', () => {
    fs.mkdirSync(root, { recursive: true });
    fs.symlinkSync(path.join(outside, 'not-yet.txt'), path.join(root, 'dangling'));
    assertTypeError(() => area.resolve('dangling'), /leads nowhere/);
    assertTypeError(() => area.saveFile('dangling', b64('x')), /leads nowhere/);
    assert.equal(fs.existsSync(path.join(outside, 'not-yet.txt')), false);
  });

  it('allows a symlink that stays inside the area', () => {
    fs.mkdirSync(path.join(root, 'real'), { recursive: true });
    fs.writeFileSync(path.join(root, 'real', 'f.txt'), 'inside');
    fs.symlinkSync(path.join(root, 'real'), path.join(root, 'alias'));
    assert.equal(area.readFile('alias/f.txt').toString(), 'inside');
  });

  it('works when the area itself is reached through a symlink', () => {
    fs.mkdirSync(root, { recursive: true });
    const link = path.join(dir, 'area-link');
    fs.symlinkSync(root, link);
    const viaLink = new FileArea(link);
    viaLink.saveFile('f.txt', b64('ok'));
    assert.equal(fs.readFileSync(path.join(root, 'f.txt'), 'utf8'), 'ok');
  });
});

describe('FileArea.saveFile / writeFile / readFile / deleteFile', () => {
  it('saves base64 data atomically, creating directories, and leaves no temp files', () => {
    assert.equal(area.saveFile('docs/hello.txt', b64('hello world')), 11);
    assert.equal(area.saveFile('docs/hello.txt', b64('replaced')), 8);
    area.saveFile('bin.dat', Buffer.from([0, 1, 2, 255]).toString('base64'));
    assert.deepEqual(treeOf(root), { 'bin.dat': '\u0000\u0001\u0002\ufffd', 'docs/hello.txt': 'replaced' });
    assert.deepEqual(area.readFile('bin.dat'), Buffer.from([0, 1, 2, 255]));
    assert.equal(area.fileSize('docs/hello.txt'), 8);
    assert.equal(area.fileSize('docs'), undefined);
    assert.equal(area.fileSize('missing'), undefined);
  });

  it('accepts url-safe base64, an empty file and a 5 MB file', () => {
    area.saveFile('u', Buffer.from([251, 255]).toString('base64url'));
    assert.deepEqual(area.readFile('u'), Buffer.from([251, 255]));
    assert.equal(area.saveFile('empty', ''), 0);
    const big = Buffer.alloc(5 * 1024 * 1024, 7);
    assert.equal(area.saveFile('big', big.toString('base64')), big.length);
    assert.deepEqual(area.readFile('big'), big);
  });

  it('refuses data that is not a base64 string', () => {
    assertTypeError(() => area.saveFile('a', 'not base64 !!'), /not valid base64/);
    assertTypeError(() => area.saveFile('a', 123), /must be a base64 string/);
    assertTypeError(() => area.saveFile('../a', b64('x')), /'\.\.' is not allowed/);
  });

  it('writes through no symlink: saving over a symlink replaces the link, not its target', () => {
    fs.mkdirSync(path.join(root, 'real'), { recursive: true });
    fs.writeFileSync(path.join(root, 'real', 'target.txt'), 'original');
    fs.symlinkSync(path.join(root, 'real', 'target.txt'), path.join(root, 'link.txt'));
    area.saveFile('link.txt', b64('new'));
    assert.equal(fs.readFileSync(path.join(root, 'real', 'target.txt'), 'utf8'), 'original');
    assert.equal(fs.lstatSync(path.join(root, 'link.txt')).isSymbolicLink(), false);
  });

  it('never writes, reads or deletes outside through a symlink', () => {
    fs.mkdirSync(root, { recursive: true });
    fs.symlinkSync(outside, path.join(root, 'out'));
    assertTypeError(() => area.saveFile('out/secret.txt', b64('pwned')), /leads outside/);
    assertTypeError(() => area.saveFile('out/new.txt', b64('pwned')), /leads outside/);
    assertTypeError(() => area.readFile('out/secret.txt'), /leads outside/);
    assertTypeError(() => area.deleteFile('out/secret.txt'), /leads outside/);
    assertTypeError(() => area.createReadStream('out/secret.txt'), /leads outside/);
    assertTypeError(() => area.createWriteStream('out/x'), /leads outside/);
    assert.deepEqual(treeOf(outside), { 'secret.txt': 'top secret' });
  });

  it('deleteFile removes a file (true), reports a missing one (false), refuses a directory', () => {
    area.saveFile('d/f.txt', b64('x'));
    area.saveFile('d/g.txt', b64('y'));
    assert.equal(area.deleteFile('d/f.txt'), true);
    assert.equal(area.deleteFile('d/f.txt'), false);
    assert.equal(area.deleteFile('never/was.txt'), false);
    assertTypeError(() => area.deleteFile('d'), /is a directory/);
    // Folders a deletion leaves empty go too (a mim cannot name a folder to delete it).
    area.saveFile('e/f/x.txt', b64('x'));
    assert.equal(area.deleteFile('e/f/x.txt'), true);
    assert.equal(fs.existsSync(path.join(root, 'e')), false);
    assert.ok(fs.existsSync(path.join(root, 'd', 'g.txt')));
    assertTypeError(() => area.deleteFile('/etc/passwd'), /absolute/);
  });

  it('reading a missing file is ERR_FILE_NOT_FOUND; a directory or a file-as-parent is a TypeError', () => {
    assert.throws(
      () => area.readFile('nope.txt'),
      (err: unknown) =>
        isMimoeError(err) && err.code === 'ERR_FILE_NOT_FOUND' && /"nope\.txt"/.test(err.message),
    );
    area.saveFile('file', b64('x'));
    fs.mkdirSync(path.join(root, 'dir'));
    assertTypeError(() => area.readFile('dir'), /not a regular file/);
    assertTypeError(() => area.saveFile('file/child', b64('x')), /a parent of it is a file/);
    assertTypeError(() => area.saveFile('dir', b64('x')), /it is a directory/);
  });

  it('error messages name the relative path, never the host path', () => {
    try {
      area.readFile('missing/file.txt');
      assert.fail('expected an error');
    } catch (err) {
      assert.ok(err instanceof Error);
      assert.equal(err.message.includes(dir), false, err.message);
    }
  });
});

describe('FileArea streams', () => {
  it('createWriteStream writes atomically: nothing appears until commit', async () => {
    const w = area.createWriteStream('up/load.bin');
    await w.write(Buffer.from('part one, '));
    await w.write(Buffer.from('part two'));
    assert.equal(fs.existsSync(path.join(root, 'up', 'load.bin')), false);
    assert.equal(await w.commit(), 18);
    assert.equal(fs.readFileSync(path.join(root, 'up', 'load.bin'), 'utf8'), 'part one, part two');
    assert.deepEqual(Object.keys(treeOf(root)), ['up/load.bin']);
    await assert.rejects(w.commit(), TypeError);
  });

  it('abort discards the data and keeps the old file', async () => {
    area.saveFile('keep.txt', b64('old'));
    const w = area.createWriteStream('keep.txt');
    await w.write(Buffer.from('new data'));
    await w.abort();
    await w.abort();
    assert.deepEqual(treeOf(root), { 'keep.txt': 'old' });
  });

  it('createReadStream streams a file and gives its size', async () => {
    area.saveFile('r.txt', b64('stream me'));
    const { stream, size } = area.createReadStream('r.txt');
    assert.equal(size, 9);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), 'stream me');
  });
});

describe('FileArea quota', () => {
  const KiB = 1024;
  const bytes = (n: number, fill = 'x'): Buffer => Buffer.alloc(n, fill);
  const isFull = (err: unknown): boolean => isMimoeError(err) && err.code === 'ERR_DATASTORE_FULL';
  /** Regular file bytes actually on disk under `dir`, temporary files included. */
  const onDisk = (dir: string): number => {
    let total = 0;
    for (const d of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
      if (d.isFile()) total += fs.statSync(path.join(d.parentPath, d.name)).size;
    }
    return total;
  };

  it('counts writes, replacements and deletes, and agrees with the disk', () => {
    const q = new FileArea(root, { maxBytes: 10 * KiB });
    assert.equal(q.usage(), 0);
    q.writeFile('a.bin', bytes(3 * KiB));
    q.writeFile('dir/b.bin', bytes(2 * KiB));
    assert.equal(q.usage(), 5 * KiB);
    q.writeFile('a.bin', bytes(1 * KiB)); // replaces 3 KiB with 1 KiB
    assert.equal(q.usage(), 3 * KiB);
    q.saveFile('c.bin', bytes(KiB).toString('base64'));
    assert.equal(q.usage(), 4 * KiB);
    assert.equal(q.deleteFile('dir/b.bin'), true);
    assert.equal(q.deleteFile('dir/b.bin'), false);
    assert.equal(q.usage(), 2 * KiB);
    assert.equal(q.room(), 8 * KiB);
    assert.equal(onDisk(root), q.usage());
  });

  it('a write past the quota fails with ERR_DATASTORE_FULL, leaving the old file and no temporary file', () => {
    const q = new FileArea(root, { maxBytes: 4 * KiB });
    q.writeFile('keep.bin', bytes(KiB, 'o'));
    q.writeFile('other.bin', bytes(2 * KiB));
    assert.throws(
      () => q.writeFile('keep.bin', bytes(3 * KiB, 'n')),
      (err: unknown) => {
        assert.ok(isFull(err));
        const message = (err as Error).message;
        assert.match(message, /file area/);
        assert.match(message, /4096 bytes/);
        assert.match(message, /MiB/);
        assert.match(message, /keep\.bin/);
        return true;
      },
    );
    assert.throws(() => q.saveFile('new.bin', bytes(2 * KiB).toString('base64')), isFull);
    assert.deepEqual(fs.readdirSync(root).sort(), ['keep.bin', 'other.bin']);
    assert.deepEqual(fs.readFileSync(path.join(root, 'keep.bin')), bytes(KiB, 'o'));
    assert.equal(q.usage(), 3 * KiB);
    // Exactly up to the quota is fine, and so is a replacement that ends under it.
    q.writeFile('keep.bin', bytes(2 * KiB));
    assert.equal(q.usage(), 4 * KiB);
    assert.throws(() => q.writeFile('one-more.bin', bytes(1)), isFull);
    q.writeFile('empty.bin', bytes(0));
    // Deleting frees room.
    q.deleteFile('other.bin');
    q.writeFile('one-more.bin', bytes(2 * KiB));
    assert.equal(onDisk(root), 4 * KiB);
  });

  it('caps the files and folders of an area, so empty files and folders cannot fill the disk', () => {
    const q = new FileArea(root, { maxBytes: 10 * KiB, maxEntries: 5 });
    q.saveFile('a/b/one', '');
    assert.equal(q.entryCount(), 3);
    q.saveFile('a/b/one', b64('replaced'));
    q.saveFile('a/two', '');
    assert.equal(q.entryCount(), 4);
    assert.throws(
      () => q.saveFile('c/d', ''),
      (err: unknown) =>
        isMimoeError(err) && err.code === 'ERR_DATASTORE_FULL' && /5 files and folders/.test(err.message),
    );
    assert.equal(fs.existsSync(path.join(root, 'c')), false, 'nothing made for a refused write');
    q.saveFile('three', '');
    assert.equal(q.entryCount(), 5);
    // Deleting frees the file and the folders it leaves empty.
    q.deleteFile('a/b/one');
    assert.equal(q.entryCount(), 3);
    q.saveFile('c/d', '');
    assert.equal(new FileArea(root).entryCount(), q.entryCount());
    // The default: one file or folder per 4 KiB of quota, at least 1024.
    assert.equal(new FileArea(root, { maxBytes: 64 * 1024 * KiB }).maxEntries, 16 * 1024);
    assert.equal(new FileArea(root, { maxBytes: KiB }).maxEntries, 1024);
  });

  it('usage is counted from disk by a new FileArea: every regular file, links not followed, leftovers of dead writes removed', () => {
    fs.mkdirSync(path.join(root, 'deep', 'er'), { recursive: true });
    fs.writeFileSync(path.join(root, 'top.bin'), bytes(1000));
    fs.writeFileSync(path.join(root, 'deep', 'er', 'x.bin'), bytes(234));
    fs.writeFileSync(path.join(root, 'deep', '.mimoe-0123456789abcdef.tmp'), bytes(10));
    fs.writeFileSync(path.join(outside, 'big.bin'), bytes(100 * KiB));
    fs.symlinkSync(path.join(outside, 'big.bin'), path.join(root, 'link-to-big'));
    fs.symlinkSync(outside, path.join(root, 'link-to-dir'));
    const fresh = new FileArea(root, { maxBytes: 10 * KiB });
    assert.equal(fresh.usage(), 1234);
    // top.bin, deep, deep/er, deep/er/x.bin (links are not counted).
    assert.equal(fresh.entryCount(), 4);
    assert.equal(fs.existsSync(path.join(root, 'deep', '.mimoe-0123456789abcdef.tmp')), false);
    // A missing area holds nothing.
    assert.equal(new FileArea(path.join(dir, 'none')).usage(), 0);
    // Changes made through one FileArea are seen by the next one created.
    area.writeFile('more.bin', bytes(56));
    assert.equal(new FileArea(root).usage(), 1290);
  });

  it('a streamed write counts each chunk as it grows, and stops before a chunk that would pass the quota', async () => {
    const q = new FileArea(root, { maxBytes: 4 * KiB });
    q.writeFile('old.bin', bytes(KiB, 'o'));
    const w = q.createWriteStream('dl.bin');
    await w.write(bytes(KiB));
    await w.write(bytes(KiB));
    assert.equal(q.usage(), 3 * KiB);
    // Another write sees the room the stream holds.
    assert.throws(() => q.writeFile('x.bin', bytes(2 * KiB)), isFull);
    await assert.rejects(w.write(bytes(2 * KiB)), isFull);
    assert.equal(q.usage(), 3 * KiB);
    await w.abort();
    assert.equal(q.usage(), KiB);
    assert.deepEqual(fs.readdirSync(root), ['old.bin']);
  });

  it('commit counts the new file and frees the one it replaced; abort gives the bytes back', async () => {
    const q = new FileArea(root, { maxBytes: 10 * KiB });
    q.writeFile('f.bin', bytes(3 * KiB, 'o'));
    const w = q.createWriteStream('f.bin');
    await w.write(bytes(KiB));
    await w.write(bytes(KiB));
    assert.equal(q.usage(), 5 * KiB); // the old file stays until the new one is complete
    assert.equal(await w.commit(), 2 * KiB);
    assert.equal(q.usage(), 2 * KiB);
    const fresh = q.createWriteStream('new/g.bin');
    await fresh.write(bytes(500));
    assert.equal(await fresh.commit(), 500);
    assert.equal(q.usage(), 2 * KiB + 500);
    const dropped = q.createWriteStream('f.bin');
    await dropped.write(bytes(4 * KiB));
    assert.equal(q.usage(), 6 * KiB + 500);
    await dropped.abort();
    assert.equal(q.usage(), 2 * KiB + 500);
    assert.equal(onDisk(root), q.usage());
    assert.equal(new FileArea(root).usage(), q.usage());
    assert.deepEqual(fs.readFileSync(path.join(root, 'f.bin')), bytes(2 * KiB));
  });

  it('assertRoom refuses a declared size over the room left', () => {
    const q = new FileArea(root, { maxBytes: 2 * KiB });
    q.writeFile('a.bin', bytes(KiB));
    q.assertRoom('dl.bin', KiB);
    assert.throws(() => q.assertRoom('dl.bin', KiB + 1), isFull);
  });

  it('refuses a bad quota', () => {
    assert.throws(() => new FileArea(root, { maxBytes: -1 }), TypeError);
    assert.throws(() => new FileArea(root, { maxBytes: 1.5 }), TypeError);
  });
});
