// The one map from errors to HTTP answers: coded errors keep their status, a full disk is told as
// such wherever it was met, everything else is a bare 500 that leaks nothing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MimoeError } from '../../src/errors/index.js';
import { toHttpError } from '../../src/http/errors.js';

function systemError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

describe('toHttpError', () => {
  it('keeps the status and message of coded errors', () => {
    const e = toHttpError(new MimoeError('ERR_MIM_NOT_FOUND', 'mim api-x not found'));
    assert.deepEqual(e, { status: 404, code: 'ERR_MIM_NOT_FOUND', message: 'mim api-x not found' });
  });

  it('answers 507 ERR_DISK_FULL for a write that found no room, without the host path', () => {
    for (const code of ['ENOSPC', 'EDQUOT', 'SQLITE_FULL']) {
      const e = toHttpError(systemError(code, `${code}: no space left on device, write '/srv/work/x'`));
      assert.equal(e.status, 507, code);
      assert.equal(e.code, 'ERR_DISK_FULL', code);
      assert.doesNotMatch(e.message, /\/srv/);
    }
  });

  it("says what Fastify's JSON refusal may mean: bad syntax or a prototype-poisoning key", () => {
    const e = toHttpError({
      statusCode: 400,
      code: 'FST_ERR_CTP_INVALID_JSON_BODY',
      message: 'Body is not valid JSON',
    });
    assert.equal(e.status, 400);
    assert.equal(e.code, 'ERR_BAD_REQUEST');
    assert.match(e.message, /not valid JSON, or holds a __proto__ or constructor\.prototype key/);
  });

  it('answers a bare 500 for anything else', () => {
    for (const err of [systemError('EACCES', "open '/srv/secret'"), new Error('boom'), 'text', null, 42]) {
      assert.deepEqual(toHttpError(err), { status: 500, code: 'ERR_INTERNAL', message: 'internal error' });
    }
  });
});
