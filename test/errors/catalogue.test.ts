import { it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ERROR_CODES } from '../../src/errors/index.js';
import { ROOT } from '../helpers/node-process.js';

it('docs/reference/errors.md lists every error code with its status, and nothing else', () => {
  const doc = fs.readFileSync(path.join(ROOT, 'docs', 'reference', 'errors.md'), 'utf8');
  const rows = new Map<string, number>();
  for (const m of doc.matchAll(/^\|\s*`(ERR_[A-Z_]+)`\s*\|\s*(\d{3})\s*\|/gm))
    rows.set(m[1] as string, Number(m[2]));
  const expected = new Map(Object.entries(ERROR_CODES).map(([code, e]) => [code, e.status]));
  assert.deepEqual(rows, expected);
});
