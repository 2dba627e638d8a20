import path from 'node:path';
import Database from 'better-sqlite3-multiple-ciphers';

export type Db = Database.Database;

/**
 * The node's own state: images, mims, node identity. One SQLite file in the work dir, WAL mode.
 * Each migration runs once, in order, inside a transaction; `PRAGMA user_version` records the last.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS meta (
     key   TEXT PRIMARY KEY,
     value TEXT NOT NULL
   );
   CREATE TABLE IF NOT EXISTS images (
     id         TEXT PRIMARY KEY,
     client_id  TEXT NOT NULL,
     name       TEXT NOT NULL,
     digest     TEXT NOT NULL,
     repo_tags  TEXT NOT NULL,
     created    INTEGER NOT NULL,
     size       INTEGER NOT NULL,
     blob       TEXT NOT NULL,
     UNIQUE (client_id, name)
   );
   CREATE TABLE IF NOT EXISTS mims (
     id         TEXT PRIMARY KEY,
     client_id  TEXT NOT NULL,
     name       TEXT NOT NULL,
     image      TEXT NOT NULL,
     image_id   TEXT NOT NULL,
     blob       TEXT NOT NULL,
     created    INTEGER NOT NULL,
     env        TEXT NOT NULL,
     UNIQUE (client_id, name)
   );`,
];

export function openNodeDb(workDir: string): Db {
  const db = new Database(path.join(workDir, 'node.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  migrate(db);
  return db;
}

function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(
      `node.db schema version ${current} is newer than this mimoe understands (${MIGRATIONS.length})`,
    );
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    const sql = MIGRATIONS[v] as string;
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

export function getMeta(db: Db, key: string): string | undefined {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
  return row?.value;
}

export function setMeta(db: Db, key: string, value: string): void {
  db.prepare(
    'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
  ).run(key, value);
}
