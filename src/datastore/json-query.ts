import { describe } from './args.js';

/**
 * SQL for getJsonItemsPaginated's options: the tag, filters and ordering run in SQLite with
 * json_extract / json_type, so only the requested page crosses into JavaScript.
 *
 * Semantics (documented for mim authors):
 * - Items whose value is not JSON (RFC 8259, as JSON.parse reads it) are skipped, and not counted.
 * - Paths: `$` (the whole value) or `$.a.b` with plain property names (letters, digits, `_`, `$`,
 *   `-`). Array indexes, wildcards and quoted names are refused with a TypeError.
 * - Filters compare typed: a number filter matches only JSON numbers, a string only JSON strings,
 *   a boolean only true/false; `null` (with `=` or `!=` only) matches JSON null. `!=` is the exact
 *   negation of `=`, so it also matches items where the path is missing or holds another type.
 *   Strings compare by code point (byte order of UTF-8), numbers numerically.
 * - orderBy sorts by each path in turn, missing values first when ascending; ties keep insertion order.
 */

export type ComparisonOperator = '=' | '!=' | '<' | '<=' | '>' | '>=';

export interface JsonFilter {
  jsonPath: string;
  comparisonOperator: ComparisonOperator;
  value: string | number | boolean | null;
}

export interface JsonOrder {
  jsonPath: string;
  order?: 1 | -1;
}

export interface JsonQueryOptions {
  tag?: string;
  orderBy?: JsonOrder[];
  filters?: JsonFilter[];
}

export interface JsonQuery {
  /** `WHERE ...` clause shared by the count and the page. */
  where: string;
  whereParams: unknown[];
  /** `ORDER BY ...` clause of the page (always ends with insertion order). */
  orderBy: string;
  orderParams: unknown[];
}

const METHOD = 'getJsonItemsPaginated';
const OPERATORS: readonly string[] = ['=', '!=', '<', '<=', '>', '>='];
const SEGMENT = /^[\p{L}\p{N}_$-]+$/u;

/** json_type() names for each kind of filter value. */
const JSON_TYPES = {
  number: `('integer', 'real')`,
  string: `('text')`,
  boolean: `('true', 'false')`,
} as const;

export function buildJsonQuery(options: unknown, tagFromArg: (value: unknown) => string): JsonQuery {
  const opts = optionsObject(options);
  const where: string[] = ['json_valid(value)'];
  const whereParams: unknown[] = [];

  if (opts['tag'] !== undefined && opts['tag'] !== null) {
    where.push('tag = ?');
    whereParams.push(tagFromArg(opts['tag']));
  }

  for (const [i, raw] of listOption(opts['filters'], 'filters').entries()) {
    const filter = objectAt(raw, `filters[${i}]`);
    const path = jsonPathArg(filter['jsonPath'], `filters[${i}].jsonPath`);
    const op = filter['comparisonOperator'];
    if (typeof op !== 'string' || !OPERATORS.includes(op)) {
      throw new TypeError(
        `${METHOD}: filters[${i}].comparisonOperator must be one of ${OPERATORS.join(' ')}, got ${describe(op)}`,
      );
    }
    const value = filter['value'];
    if (value === null) {
      if (op !== '=' && op !== '!=') {
        throw new TypeError(`${METHOD}: filters[${i}] compares with null, which only '=' and '!=' can do`);
      }
      const isNull = `IFNULL(json_type(value, ?) = 'null', 0)`;
      where.push(op === '=' ? isNull : `NOT ${isNull}`);
      whereParams.push(path);
      continue;
    }
    let bound: number | string;
    let types: string;
    if (typeof value === 'number') {
      if (!Number.isFinite(value))
        throw new TypeError(`${METHOD}: filters[${i}].value must be a finite number`);
      bound = value;
      types = JSON_TYPES.number;
    } else if (typeof value === 'string') {
      bound = value;
      types = JSON_TYPES.string;
    } else if (typeof value === 'boolean') {
      // json_extract() gives 1 and 0 for JSON true and false.
      bound = value ? 1 : 0;
      types = JSON_TYPES.boolean;
    } else {
      throw new TypeError(
        `${METHOD}: filters[${i}].value must be a string, number, boolean or null, got ${describe(value)}`,
      );
    }
    const sqlOp = op === '!=' ? '=' : op;
    const typed = `IFNULL(json_type(value, ?) IN ${types} AND json_extract(value, ?) ${sqlOp} ?, 0)`;
    where.push(op === '!=' ? `NOT ${typed}` : typed);
    whereParams.push(path, path, bound);
  }

  const order: string[] = [];
  const orderParams: unknown[] = [];
  for (const [i, raw] of listOption(opts['orderBy'], 'orderBy').entries()) {
    const entry = objectAt(raw, `orderBy[${i}]`);
    const path = jsonPathArg(entry['jsonPath'], `orderBy[${i}].jsonPath`);
    order.push(`json_extract(value, ?) ${directionArg(entry['order'], `orderBy[${i}].order`)}`);
    orderParams.push(path);
  }
  order.push('seq ASC');

  return { where: where.join(' AND '), whereParams, orderBy: order.join(', '), orderParams };
}

export function jsonPathArg(value: unknown, what: string): string {
  if (typeof value !== 'string')
    throw new TypeError(`${METHOD}: ${what} must be a string like '$.a.b', got ${describe(value)}`);
  if (value === '$') return value;
  const segments = value.startsWith('$.') ? value.slice(2).split('.') : [];
  if (segments.length === 0 || !segments.every((s) => SEGMENT.test(s))) {
    throw new TypeError(
      `${METHOD}: ${what} ${JSON.stringify(value)} is not supported: use '$' or a simple path like '$.a.b' ` +
        '(property names only: no [index], wildcards or quotes)',
    );
  }
  return value;
}

function directionArg(value: unknown, what: string): 'ASC' | 'DESC' {
  if (value === undefined || value === 1 || value === 'asc' || value === 'ASC') return 'ASC';
  if (value === -1 || value === 'desc' || value === 'DESC') return 'DESC';
  throw new TypeError(`${METHOD}: ${what} must be 1 (ascending) or -1 (descending), got ${describe(value)}`);
}

function optionsObject(value: unknown): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  return objectAt(value, 'options');
}

function objectAt(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${METHOD}: ${what} must be an object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

function listOption(value: unknown, what: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value))
    throw new TypeError(`${METHOD}: options.${what} must be an array, got ${describe(value)}`);
  return value;
}
