import Database from 'better-sqlite3-multiple-ciphers';
import { MimoeError } from '../errors/index.js';
import type { Db } from './sqlite.js';

/**
 * The DataStore schema, one migration per version; `PRAGMA user_version` records how many ran.
 * Migrations are append-only: a shipped entry is never edited, a change is a new entry.
 *
 * `seq` is the insertion order. AUTOINCREMENT (not a bare rowid) guarantees a new key never reuses
 * the number of a deleted one, so "insertion order" stays the order of first insertion and an
 * iteration can bound itself to the items that existed when it started. Replacing a value keeps
 * the row (upsert), hence its position. Cost, measured: AUTOINCREMENT writes the sqlite_sequence
 * page on every insert, about 10% of the insert rate on a plain store and 30-40% on an encrypted
 * one (every page written is encrypted and MACed); updates and reads are unaffected.
 */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS items (
     seq   INTEGER PRIMARY KEY AUTOINCREMENT,
     key   TEXT NOT NULL UNIQUE,
     value TEXT NOT NULL,
     tag   TEXT
   );
   CREATE INDEX IF NOT EXISTS items_by_tag ON items (tag, seq) WHERE tag IS NOT NULL;`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function userVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/** Brings a store up to SCHEMA_VERSION. Safe when two processes open a new store at once. */
export function migrate(db: Db, file: string): void {
  assertKnownVersion(userVersion(db), file);
  if (userVersion(db) === SCHEMA_VERSION) return;
  // IMMEDIATE takes the write lock first, and the version is read again under it, so a second
  // process that raced us sees the migrated version and applies nothing.
  db.transaction(() => {
    const current = userVersion(db);
    assertKnownVersion(current, file);
    for (let v = current; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v] as string);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

function assertKnownVersion(version: number, file: string): void {
  if (version > SCHEMA_VERSION) {
    throw new MimoeError(
      'ERR_DATASTORE_UNREADABLE',
      `the DataStore ${file} has schema version ${version}, newer than this node understands (${SCHEMA_VERSION})`,
    );
  }
}

const SCHEMA_QUERY = 'SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name';

/**
 * Why `db` is not exactly a DataStore of some version we know, or undefined when it is. "Exactly"
 * means the same tables, indexes and SQL text as our migrations produce, and nothing else (no
 * triggers or views a foreign file could use to run code when it is later queried).
 */
export function schemaProblem(db: Db): string | undefined {
  const version = userVersion(db);
  if (version < 1) return 'it is not a DataStore (no schema version)';
  if (version > SCHEMA_VERSION) return `its schema version ${version} is newer than this node understands`;
  const reference = new Database(':memory:');
  try {
    for (let v = 0; v < version; v++) reference.exec(MIGRATIONS[v] as string);
    const expected = JSON.stringify(reference.prepare(SCHEMA_QUERY).all());
    const actual = JSON.stringify(db.prepare(SCHEMA_QUERY).all());
    return expected === actual
      ? undefined
      : `its tables are not those of a DataStore (schema version ${version})`;
  } finally {
    reference.close();
  }
}
