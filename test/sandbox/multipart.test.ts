// The sandbox's synchronous multipart/form-data reader (req.handleFormRequest), on bodies built by
// hand and by the platform's own FormData encoder.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formBoundary, parseMultipart, MAX_FORM_PARTS } from '../../src/sandbox/host/multipart.js';

function body(boundary: string, ...parts: string[]): Buffer {
  return Buffer.from(
    `preamble\r\n${parts.map((p) => `--${boundary}\r\n${p}\r\n`).join('')}--${boundary}--\r\nepilogue`,
  );
}

describe('multipart reader', () => {
  it('finds the boundary of multipart/form-data only', () => {
    assert.equal(formBoundary('multipart/form-data; boundary=abc'), 'abc');
    assert.equal(formBoundary('Multipart/Form-Data; charset=utf-8; boundary="a b:c"'), 'a b:c');
    assert.equal(formBoundary('multipart/mixed; boundary=abc'), undefined);
    assert.equal(formBoundary('application/json'), undefined);
    assert.equal(formBoundary('multipart/form-data'), undefined);
    assert.equal(formBoundary(undefined), undefined);
    assert.equal(formBoundary(`multipart/form-data; boundary=${'x'.repeat(71)}`), undefined);
  });

  it('reads fields, files, empty values and RFC 5987 file names', () => {
    const parts = parseMultipart(
      body(
        'XyZ',
        'Content-Disposition: form-data; name="title"\r\n\r\nhéllo',
        'content-disposition: form-data; name="empty"\r\n\r\n',
        'Content-Disposition: form-data; name="file"; filename="a \\"q\\".txt"\r\nContent-Type: text/plain\r\n\r\nline1\r\nline2',
        "Content-Disposition: form-data; name=raw; filename*=UTF-8''na%C3%AFve.txt\r\n\r\n--XyZnot-a-boundary",
      ),
      'XyZ',
    );
    assert.deepEqual(
      parts.map((p) => [p.name, p.filename, p.contentType, p.data.toString('utf8')]),
      [
        ['title', undefined, undefined, 'héllo'],
        ['empty', undefined, undefined, ''],
        ['file', 'a "q".txt', 'text/plain', 'line1\r\nline2'],
        ['raw', 'naïve.txt', undefined, '--XyZnot-a-boundary'],
      ],
    );
  });

  it('reads what the platform FormData encoder writes, binary included', async () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const form = new FormData();
    form.append('a', 'one');
    form.append('bin', new Blob([bytes]), 'b.bin');
    const req = new Request('http://x/', { method: 'POST', body: form });
    const boundary = formBoundary(req.headers.get('content-type') ?? '');
    assert.ok(boundary !== undefined);
    const parts = parseMultipart(Buffer.from(await req.arrayBuffer()), boundary);
    assert.equal(parts[0]?.data.toString(), 'one');
    assert.ok(parts[1]?.data.equals(bytes));
    assert.equal(parts[1]?.filename, 'b.bin');
  });

  it('refuses malformed bodies with a clear Error', () => {
    const cases: Array<[Buffer, RegExp]> = [
      [Buffer.from('no delimiter here'), /no boundary delimiter/],
      [
        Buffer.from('--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nunterminated'),
        /no closing boundary/,
      ],
      [Buffer.from('--b\r\nContent-Disposition: form-data; name="a"'), /no end of headers/],
      [Buffer.from('--b\r\nX-Other: 1\r\n\r\nv\r\n--b--'), /no Content-Disposition/],
      [Buffer.from('--b\r\nContent-Disposition: form-data\r\n\r\nv\r\n--b--'), /no name/],
      [Buffer.from('--bjunk\r\n'), /not followed by CRLF/],
    ];
    for (const [input, message] of cases) assert.throws(() => parseMultipart(input, 'b'), message);
    const many = body(
      'b',
      ...Array.from(
        { length: MAX_FORM_PARTS + 1 },
        () => 'Content-Disposition: form-data; name="x"\r\n\r\n1',
      ),
    );
    assert.throws(() => parseMultipart(many, 'b'), /more than/);
  });
});
