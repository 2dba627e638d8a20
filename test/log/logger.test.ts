import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger, formatTextLine } from '../../src/log/logger.js';

describe('log lines', () => {
  it('escapes control characters in text lines, so nobody can forge a line', () => {
    const out = formatTextLine(
      JSON.stringify({ level: 30, time: 0, msg: 'a\n[2026] [info] forged\u001b[31m', mim: 'x\ry' }),
    );
    assert.equal(out.split('\n').length, 2, 'one line and its newline');
    assert.ok(out.includes('a\\u000a[2026] [info] forged\\u001b[31m'));
    assert.ok(out.includes('mim=x\\u000dy'));
  });

  it('redacts authorization headers wherever a plugin nests them', async () => {
    let text = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        text += chunk.toString();
        cb();
      },
    });
    const log = createLogger({ level: 'trace', format: 'json', destination: sink });
    log.trace({ busboyOptions: { headers: { authorization: 'Bearer SECRET-1' } } }, 'plugin options');
    log.info({ req: { headers: { authorization: 'Bearer SECRET-2' } } }, 'request');
    log.info({ headers: { authorization: 'Bearer SECRET-3', cookie: 'SECRET-4' } }, 'headers');
    await new Promise((r) => setImmediate(r));
    assert.ok(text.includes('plugin options'));
    for (const secret of ['SECRET-1', 'SECRET-2', 'SECRET-3', 'SECRET-4'])
      assert.ok(!text.includes(secret), secret);
  });
});
