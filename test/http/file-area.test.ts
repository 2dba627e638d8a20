// The mim's file area through a real mim over HTTP (runtime.md §3–5): saveFile, deleteFile,
// req.handleFormRequest with every action, res.writeMimeFile streamed from disk, and paths that
// try to leave the area.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestNode } from '../helpers/node-process.js';
import { deployStorageMim, getJson, mimUrl } from '../helpers/storage-mim.js';

interface FormAnswer {
  calls: unknown[][];
  values: Record<string, string>;
  error?: { name: string; message: string; isTypeError: boolean };
}

describe('the file area: saveFile, deleteFile, handleFormRequest, writeMimeFile', () => {
  let node: TestNode;
  let base: string;
  let filesDir: string;
  before(async () => {
    node = await TestNode.start();
    await deployStorageMim(node, 'files');
    base = mimUrl(node, 'files');
    filesDir = path.join(node.workDir, 'datastore', 'api-files', 'files');
  });
  after(async () => {
    await node.stop();
  });

  const save = (name: string, data: Buffer | string) =>
    getJson(`${base}/save?name=${encodeURIComponent(name)}`, {
      method: 'POST',
      body: Buffer.from(data).toString('base64'),
    });

  const form = async (
    rules: unknown,
    body: FormData,
    detached = false,
  ): Promise<{ status: number; answer: FormAnswer }> => {
    const res = await fetch(
      `${base}/form?rules=${encodeURIComponent(JSON.stringify(rules))}${detached ? '&detached=1' : ''}`,
      { method: 'POST', body },
    );
    return { status: res.status, answer: (await res.json()) as FormAnswer };
  };

  it('saveFile writes into the area, writeMimeFile sends it back with its type, deleteFile removes it', async () => {
    assert.equal((await save('docs/hello.txt', 'hello file')).status, 200);
    assert.equal(fs.readFileSync(path.join(filesDir, 'docs', 'hello.txt'), 'utf8'), 'hello file');
    const res = await fetch(`${base}/file?name=docs/hello.txt&mime=text/plain`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/plain');
    assert.equal(await res.text(), 'hello file');
    const status = await fetch(`${base}/file?name=docs/hello.txt&mime=text/plain&status=203`);
    assert.equal(status.status, 203);
    assert.equal(await status.text(), 'hello file');
    const afterWrite = await fetch(`${base}/file?name=docs/hello.txt&prefix=before:`);
    assert.equal(await afterWrite.text(), 'before:hello file');
    assert.equal((await getJson(`${base}/delete-file?name=docs/hello.txt`)).status, 200);
    assert.equal(fs.existsSync(path.join(filesDir, 'docs', 'hello.txt')), false);
    // Deleting what is not there is not an error.
    assert.equal((await getJson(`${base}/delete-file?name=docs/hello.txt`)).status, 200);
  });

  it('writeMimeFile of a missing file throws inside the mim with ERR_FILE_NOT_FOUND', async () => {
    const { status, body } = await getJson(`${base}/file?name=nope.bin`);
    assert.equal(status, 400);
    assert.deepEqual((body as { error: { code: string } }).error.code, 'ERR_FILE_NOT_FOUND');
  });

  it('streams a multi-MB file intact', async () => {
    const data = crypto.randomBytes(6 * 1024 * 1024 + 123);
    assert.equal((await save('big/blob.bin', data)).status, 200);
    const res = await fetch(`${base}/file?name=big/blob.bin&mime=application/octet-stream`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    const got = Buffer.from(await res.arrayBuffer());
    assert.equal(got.length, data.length);
    assert.ok(got.equals(data), 'same bytes');
  });

  it('refuses paths that leave the area: .., absolute, and symlinks pointing out', async () => {
    fs.mkdirSync(filesDir, { recursive: true });
    fs.symlinkSync('/etc', path.join(filesDir, 'escape'));
    fs.symlinkSync('/etc/hostname', path.join(filesDir, 'hostname-link'));
    const hostile = [
      '../x',
      '../../datastore.key',
      '/etc/passwd',
      'a/../../x',
      'escape/passwd',
      'hostname-link',
    ];
    for (const name of hostile) {
      const saved = await save(name, 'pwned');
      assert.equal(saved.status, 400, `saveFile ${name}`);
      assert.equal((saved.body as FormAnswer).error?.isTypeError, true, `saveFile ${name} is a TypeError`);
      const sent = await getJson(`${base}/file?name=${encodeURIComponent(name)}`);
      assert.equal(sent.status, 400, `writeMimeFile ${name}`);
      const deleted = await getJson(`${base}/delete-file?name=${encodeURIComponent(name)}`);
      assert.equal(deleted.status, 400, `deleteFile ${name}`);
    }
    const body = new FormData();
    body.append('f', new Blob(['pwned']), 'f.txt');
    const stored = await form({ f: { action: 'store', path: '../outside.txt' } }, body);
    assert.equal(stored.status, 400);
    assert.equal(stored.answer.error?.isTypeError, true);
    assert.equal(fs.existsSync(path.join(filesDir, '..', 'outside.txt')), false);
    assert.equal(fs.readlinkSync(path.join(filesDir, 'escape')), '/etc', 'links untouched');
    fs.rmSync(path.join(filesDir, 'escape'));
    fs.rmSync(path.join(filesDir, 'hostname-link'));
  });

  it('handleFormRequest: found() chooses get, store, skip, a custom action or abort; all run before it returns', async () => {
    const big = 'ß'.repeat(100_000); // 200 kB of UTF-8: several get chunks
    const fileBytes = crypto.randomBytes(300_000);
    const body = new FormData();
    body.append('title', 'héllo');
    body.append('big', big);
    body.append('upload', new Blob([fileBytes], { type: 'application/octet-stream' }), 'photo.jpg');
    body.append('ignored', 'skip me');
    body.append('loud', 'quiet words');
    body.append('stop', 'abort here');
    body.append('after', 'never read');
    const { status, answer } = await form(
      {
        upload: { action: 'store', path: 'uploads/photo.jpg' },
        ignored: 'skip',
        loud: 'shout',
        stop: 'abort',
      },
      body,
    );
    assert.equal(status, 200, JSON.stringify(answer).slice(0, 300));
    const calls = answer.calls;
    assert.deepEqual(calls[0], ['found', 'title', null]);
    assert.deepEqual(calls[1], ['get', 'title', 5]);
    const bigGets = calls.filter((c) => c[0] === 'get' && c[1] === 'big');
    assert.ok(bigGets.length >= 3, `the big field came in ${bigGets.length} chunks`);
    assert.equal(answer.values['big'], big);
    assert.equal(answer.values['title'], 'héllo');
    assert.ok(
      calls.some((c) => c[0] === 'found' && c[1] === 'upload' && c[2] === 'photo.jpg'),
      'found() is given the file name',
    );
    assert.ok(
      calls.some((c) => c[0] === 'store' && c[1] === 'uploads/photo.jpg' && c[2] === fileBytes.length),
    );
    assert.ok(
      fs.readFileSync(path.join(filesDir, 'uploads', 'photo.jpg')).equals(fileBytes),
      'stored intact',
    );
    assert.equal(answer.values['ignored'], undefined, 'skipped');
    assert.ok(calls.some((c) => c[0] === 'shout' && c[1] === 'loud' && c[2] === 'QUIET WORDS'));
    assert.deepEqual(
      calls.filter((c) => c[0] === 'found').map((c) => c[1]),
      ['title', 'big', 'upload', 'ignored', 'loud', 'stop'],
      'nothing read after abort',
    );
    assert.deepEqual(calls.at(-1), ['returned'], 'every callback ran before handleFormRequest returned');
    // The stored file is a file of the area like any other.
    const back = await fetch(`${base}/file?name=uploads/photo.jpg&mime=image/jpeg`);
    assert.ok(Buffer.from(await back.arrayBuffer()).equals(fileBytes));
  });

  it('handleFormRequest works detached from req', async () => {
    const body = new FormData();
    body.append('a', '1');
    body.append('b', '2');
    const { status, answer } = await form({}, body, true);
    assert.equal(status, 200);
    assert.deepEqual(answer.values, { a: '1', b: '2' });
  });

  it('handleFormRequest: a custom action without its callback, a body that is not multipart, and a malformed one', async () => {
    const body = new FormData();
    body.append('a', '1');
    const missing = await form({ a: 'nosuch' }, body);
    assert.equal(missing.status, 400);
    assert.equal(missing.answer.error?.isTypeError, true);
    // An action named like an Object.prototype method is not a callback the mim gave.
    for (const inherited of ['toString', 'hasOwnProperty', 'constructor']) {
      const res = await form({ a: inherited }, body);
      assert.equal(res.status, 400, inherited);
      assert.equal(res.answer.error?.isTypeError, true, inherited);
    }
    const notForm = await fetch(`${base}/form`, {
      method: 'POST',
      body: 'plain',
      headers: { 'content-type': 'text/plain' },
    });
    assert.equal(notForm.status, 400);
    assert.match(((await notForm.json()) as FormAnswer).error?.message ?? '', /not multipart/);
    const broken = await fetch(`${base}/form`, {
      method: 'POST',
      body: '--xyz\r\ncontent-disposition: form-data; name="a"\r\n\r\nno end',
      headers: { 'content-type': 'multipart/form-data; boundary=xyz' },
    });
    assert.equal(broken.status, 400);
    assert.match(((await broken.json()) as FormAnswer).error?.message ?? '', /malformed/);
  });
});
