// Per-mim DataStore quotas on a real node (--mim-files-max-mb, --mim-store-max-mb): a mim that
// fills its file area through saveFile, a form upload or an outputFile download, or its key/value
// store, gets ERR_DATASTORE_FULL naming the quota, and another mim on the node writes on.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixtureImage } from '../helpers/fixtures.js';
import { TestNode, tempDir } from '../helpers/node-process.js';
import { deployStorageMim, getJson, mimUrl } from '../helpers/storage-mim.js';

const KiB = 1024;
const MiB = 1024 * KiB;

interface MimError {
  name: string;
  message: string;
  code: string | null;
}

interface CallEvent {
  kind: 'success' | 'error';
  result: { data?: string; message?: string; code?: string };
}

/** Serves `/sized?n=N` (with Content-Length) and `/chunked?n=N` (without), and records how each ended. */
function startTarget(): Promise<{ server: http.Server; ended: Promise<'finished' | 'cut'>[] }> {
  const ended: Promise<'finished' | 'cut'>[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const n = Number(url.searchParams.get('n'));
    ended.push(
      new Promise((resolve) => res.on('close', () => resolve(res.writableFinished ? 'finished' : 'cut'))),
    );
    if (url.pathname === '/sized') {
      res.setHeader('content-length', String(n));
      res.end(Buffer.alloc(n, 's'));
      return;
    }
    // Chunked, with backpressure: a client that stops reading stops the server too.
    let sent = 0;
    const chunk = Buffer.alloc(64 * KiB, 'c');
    const pump = (): void => {
      while (sent < n) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    res.on('error', () => undefined);
    pump();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, ended })));
}

/** Regular files under `dir`, with their sizes (temporary files of unfinished writes included). */
function filesUnder(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  if (!fs.existsSync(dir)) return out;
  for (const d of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const full = path.join(d.parentPath, d.name);
    if (d.isFile()) out[path.relative(dir, full).split(path.sep).join('/')] = fs.statSync(full).size;
  }
  return out;
}

describe('DataStore quotas (--mim-files-max-mb, --mim-store-max-mb)', () => {
  let node: TestNode;
  let target: { server: http.Server; ended: Promise<'finished' | 'cut'>[] };
  let targetUrl: string;
  const filesOf = (mimId: string): string => path.join(node.workDir, 'datastore', mimId, 'files');

  before(async () => {
    target = await startTarget();
    targetUrl = `http://127.0.0.1:${(target.server.address() as AddressInfo).port}`;
    node = await TestNode.start({ args: ['--mim-files-max-mb', '1', '--mim-store-max-mb', '1'] });
    await deployStorageMim(node, 'quota-a');
    await deployStorageMim(node, 'quota-b');
    assert.equal((await node.upload(await fixtureImage('outbound', 'outbound-img'))).status, 200);
    const dep = await node.deploy('outbound', 'outbound-img', { 'MCM.BASE_API_PATH': '/out/v1' });
    assert.equal(dep.status, 201);
  });
  after(async () => {
    await node.stop();
    target.server.closeAllConnections();
    await new Promise((resolve) => target.server.close(resolve));
  });

  const save = (mim: string, name: string, size: number) =>
    getJson(`${mimUrl(node, mim)}/save?name=${encodeURIComponent(name)}`, {
      method: 'POST',
      body: Buffer.alloc(size, name).toString('base64'),
    });
  const errorOf = (body: unknown): MimError => (body as { error: MimError }).error;
  const assertQuotaError = (error: MimError | undefined): void => {
    assert.equal(error?.code, 'ERR_DATASTORE_FULL', JSON.stringify(error));
    assert.match(error.message, /file area/);
    assert.match(error.message, /1048576 bytes \(1 MiB\)/);
  };

  it('saveFile past the file area quota throws ERR_DATASTORE_FULL in the mim; the old file stays, another mim writes on', async () => {
    assert.equal((await save('quota-a', 'a.bin', 600 * KiB)).status, 200);
    const over = await save('quota-a', 'b.bin', 500 * KiB);
    assert.equal(over.status, 400);
    assertQuotaError(errorOf(over.body));
    // Replacing a.bin by a larger one that does not fit fails too, and leaves it as it was.
    assertQuotaError(errorOf((await save('quota-a', 'a.bin', 1100 * KiB)).body));
    assert.deepEqual(filesUnder(filesOf('api-quota-a')), { 'a.bin': 600 * KiB });

    // Another mim has its own quota.
    assert.equal((await save('quota-b', 'b.bin', 900 * KiB)).status, 200);

    // Room freed is room to write again.
    assert.equal((await getJson(`${mimUrl(node, 'quota-a')}/delete-file?name=a.bin`)).status, 200);
    assert.equal((await save('quota-a', 'b.bin', 1000 * KiB)).status, 200);
    assert.deepEqual(filesUnder(filesOf('api-quota-a')), { 'b.bin': 1000 * KiB });
    assert.equal((await getJson(`${mimUrl(node, 'quota-a')}/delete-file?name=b.bin`)).status, 200);
  });

  it('a form upload stored past the quota fails in handleFormRequest with the same error', async () => {
    const form = new FormData();
    form.append('f', new Blob([Buffer.alloc(1100 * KiB, 'u')]), 'big.bin');
    const rules = { f: { action: 'store', path: 'uploads/big.bin' } };
    const res = await fetch(
      `${mimUrl(node, 'quota-a')}/form?rules=${encodeURIComponent(JSON.stringify(rules))}`,
      {
        method: 'POST',
        body: form,
      },
    );
    assert.equal(res.status, 400);
    assertQuotaError(errorOf(await res.json()));
    assert.deepEqual(filesUnder(filesOf('api-quota-a')), {});
  });

  it('an outputFile download stops at the quota and the error callback gets ERR_DATASTORE_FULL', async () => {
    const call = async (options: Record<string, unknown>): Promise<CallEvent[]> => {
      const res = await fetch(`${node.url}/api/out/v1/call`, {
        method: 'POST',
        body: JSON.stringify(options),
      });
      assert.equal(res.status, 200, await res.clone().text());
      return (await res.json()) as CallEvent[];
    };
    const quotaEvent = (events: CallEvent[]): void => {
      assert.equal(events.length, 1, JSON.stringify(events));
      assert.equal(events[0]?.kind, 'error');
      assertQuotaError({
        name: 'Error',
        message: events[0].result.message ?? '',
        code: events[0].result.code ?? null,
      });
    };

    // A declared Content-Length over the room is refused before anything is written.
    quotaEvent(await call({ url: `${targetUrl}/sized?n=${2 * MiB}`, outputFile: 'dl/sized.bin' }));
    // Without one, the download is cut as soon as it would pass the quota: the server never
    // gets to send all of a body 32 times the quota.
    const before = target.ended.length;
    quotaEvent(await call({ url: `${targetUrl}/chunked?n=${32 * MiB}`, outputFile: 'dl/chunked.bin' }));
    assert.equal(await target.ended[before], 'cut');
    quotaEvent(
      await call({
        url: `${targetUrl}/chunked?n=${2 * MiB}`,
        outputFile: 'dl/stream.bin',
        mode: 'stream',
      }).then((events) => events.filter((e) => e.kind === 'error')),
    );
    assert.deepEqual(filesUnder(filesOf('api-outbound')), {});

    // A download that fits is written whole, and counts against the quota afterwards.
    const [fits] = await call({ url: `${targetUrl}/chunked?n=${640 * KiB}`, outputFile: 'dl/fits.bin' });
    assert.equal(fits?.kind, 'success', JSON.stringify(fits));
    assert.deepEqual(filesUnder(filesOf('api-outbound')), { 'dl/fits.bin': 640 * KiB });
    quotaEvent(await call({ url: `${targetUrl}/sized?n=${512 * KiB}`, outputFile: 'dl/second.bin' }));

    // The other mims' areas are not touched by it.
    assert.equal((await save('quota-a', 'after-download.bin', 900 * KiB)).status, 200);
  });

  it('--mim-store-max-mb caps the key/value store: ERR_DATASTORE_FULL long before the default 1 GiB', async () => {
    // 2000 items of 1 KiB are about 2 MiB of SQLite pages: past a 1 MiB quota.
    const full = await getJson(`${mimUrl(node, 'quota-a')}/fill?prefix=k&from=0&to=2000&size=1024`);
    assert.equal(full.status, 400, JSON.stringify(full.body));
    const error = errorOf(full.body);
    assert.equal(error.code, 'ERR_DATASTORE_FULL');
    assert.match(error.message, /1048576 bytes/);
    const storeFile = path.join(node.workDir, 'datastore', 'api-quota-a', 'store.db');
    assert.ok(fs.statSync(storeFile).size <= MiB, `store.db is ${fs.statSync(storeFile).size} bytes`);
    // Another mim's store is its own.
    const other = await getJson(`${mimUrl(node, 'quota-b')}/fill?prefix=k&from=0&to=100&size=1024`);
    assert.equal(other.status, 200, JSON.stringify(other.body));
  });
});

describe('the quota flags', () => {
  for (const [flag, value, message] of [
    ['--mim-files-max-mb', '0', /--mim-files-max-mb.*expected a whole number of MiB, at least 1/],
    ['--mim-store-max-mb', 'lots', /--mim-store-max-mb.*expected a whole number/],
    ['--mim-files-max-mb', '-5', /--mim-files-max-mb.*expected a whole number/],
    [
      '--mim-files-max-mb',
      '99999999999',
      /--mim-files-max-mb.*expected a whole number of MiB, at most 1073741824/,
    ],
  ] as const) {
    it(`refuses to start with ${flag} ${value}, saying why`, async () => {
      const workDir = tempDir();
      try {
        await assert.rejects(TestNode.start({ workDir, args: [flag, value] }), (err: Error) => {
          assert.match(err.message, /node exited with 1 before listening/);
          assert.match(err.message, message);
          return true;
        });
      } finally {
        fs.rmSync(workDir, { recursive: true, force: true });
      }
    });
  }
});
