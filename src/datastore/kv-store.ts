import fs from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3-multiple-ciphers';
import { MimoeError } from '../errors/index.js';
import { callbackArg, countArg, nameArg, valueArg } from './args.js';
import { dataKeyHex } from './encryption.js';
import { buildJsonQuery } from './json-query.js';
import { migrate } from './schema.js';
import { openSqlite, type Db } from './sqlite.js';

/**
 * A mim's DataStore (runtime.md §3 `context.storage`): string keys to string values, each item
 * optionally tagged, kept in insertion order, in one SQLite file per mim. Every method is
 * synchronous, because a mim's `context.storage.getItem` is.
 *
 * Ordering: an item keeps the position of its first insertion; replacing its value (setItem or
 * setItemWithTag on an existing key) keeps that position, removing and re-adding it moves it last.
 * Tags: setItemWithTag sets (or replaces) the tag; setItem changes only the value and keeps the
 * item's tag, so updating a tagged item (a chat message) leaves it in its group.
 *
 * Iteration (eachItem, eachItemByTag) visits the items that existed when it started, in order,
 * each with its value at the moment it is visited. The callback may write: an item it removes
 * before its turn is not visited, an item it adds is not visited, a value it replaces is seen
 * replaced. Rows are read in pages and no statement is left open while the callback runs, so
 * writes never conflict with the iteration and memory stays bounded on large stores.
 *
 * Arguments come from mims, so every one is checked at run time whatever its static type (keys and
 * values are typed `unknown` for that reason); a bad one is a plain TypeError naming the method.
 */

export interface KvStoreOptions {
  /** 32 bytes, or 64 hex characters (loadOrCreateDataKey's format). Absent: the store is plain. */
  encryptionKey?: Buffer | string | undefined;
  /** Largest size of the store file; writes past it fail with ERR_DATASTORE_FULL. */
  maxBytes?: number | undefined;
}

/** Default quota of one mim's store: a mim cannot fill the node's disk through its key/value store. */
export const DEFAULT_MAX_STORE_BYTES = 1024 * 1024 * 1024;

export type ItemCallback = (key: string, value: string) => void;

export interface JsonPage {
  items: unknown[];
  /** Items matching the tag and filters (JSON values only), before offset/limit. */
  totalCount: number;
}

/** Rows read per page while iterating. */
const PAGE = 256;
/** Distinct getJsonItemsPaginated query shapes whose prepared statements are kept. */
const QUERY_CACHE_LIMIT = 64;

type Row = [seq: number, key: string, value: string];

export class KvStore {
  readonly file: string;
  private readonly db: Db;
  /** Counts writes through this store, so an iteration notices writes its callback made. */
  private writes = 0;
  private readonly queryCache = new Map<string, Database.Statement>();
  private readonly st: {
    get: Database.Statement<[string], string>;
    set: Database.Statement<[string, string]>;
    setTagged: Database.Statement<[string, string, string]>;
    remove: Database.Statement<[string]>;
    removeTag: Database.Statement<[string]>;
    maxSeq: Database.Statement<[], number | null>;
    page: Database.Statement<[number, number, number], Row>;
    tagPage: Database.Statement<[string, number, number, number], Row>;
  };

  /**
   * Opens the store in `file`, creating it (and its directory) if needed.
   *
   * Durability: WAL with synchronous=NORMAL. A write is in the OS page cache once setItem returns,
   * so a killed process (kill -9, a crashed sandbox) loses no acknowledged write; only an OS crash
   * or power loss may lose the last commits (never corrupting the file). FULL would fsync the WAL
   * on every setItem: measured here, 5k instead of 60k writes per second, for protection against
   * power loss only.
   */
  static open(file: string, opts: KvStoreOptions = {}): KvStore {
    // Check the key before creating anything, so a bad argument leaves no trace on disk.
    if (opts.encryptionKey !== undefined) dataKeyHex(opts.encryptionKey);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const db = openSqlite(file, { encryptionKey: opts.encryptionKey });
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      migrate(db, file);
      // The quota is a page count; SQLite answers SQLITE_FULL past it (and never shrinks below
      // the current size, so an existing larger store stays readable).
      const pageSize = db.pragma('page_size', { simple: true }) as number;
      const maxBytes = opts.maxBytes ?? DEFAULT_MAX_STORE_BYTES;
      db.pragma(`max_page_count = ${Math.max(1, Math.floor(maxBytes / pageSize))}`);
      return new KvStore(db, file, maxBytes);
    } catch (err) {
      db.close();
      // Opening writes too (the WAL, a migration): a full disk is said as such.
      if ((err as { code?: unknown }).code === 'SQLITE_FULL')
        throw new MimoeError(
          'ERR_DATASTORE_FULL',
          "the DataStore cannot be opened: the node's disk is full",
          {
            cause: err,
          },
        );
      throw err;
    }
  }

  private constructor(
    db: Db,
    file: string,
    private readonly maxBytes: number,
  ) {
    this.db = db;
    this.file = file;
    this.st = {
      get: db.prepare<[string], string>('SELECT value FROM items WHERE key = ?').pluck(),
      set: db.prepare<[string, string]>(
        'INSERT INTO items (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ),
      setTagged: db.prepare<[string, string, string]>(
        'INSERT INTO items (key, value, tag) VALUES (?, ?, ?) ' +
          'ON CONFLICT (key) DO UPDATE SET value = excluded.value, tag = excluded.tag',
      ),
      remove: db.prepare<[string]>('DELETE FROM items WHERE key = ?'),
      removeTag: db.prepare<[string]>('DELETE FROM items WHERE tag = ?'),
      maxSeq: db.prepare<[], number | null>('SELECT max(seq) FROM items').pluck(),
      page: db
        .prepare<[number, number, number], Row>(
          'SELECT seq, key, value FROM items WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?',
        )
        .raw(),
      tagPage: db
        .prepare<[string, number, number, number], Row>(
          'SELECT seq, key, value FROM items WHERE tag = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?',
        )
        .raw(),
    };
  }

  get closed(): boolean {
    return !this.db.open;
  }

  getItem(key: unknown): string | null {
    this.assertOpen();
    return this.st.get.get(nameArg('getItem', 'key', key)) ?? null;
  }

  setItem(key: unknown, value: unknown): void {
    this.assertOpen();
    const k = nameArg('setItem', 'key', key);
    const v = valueArg('setItem', value);
    this.growing(() => this.st.set.run(k, v));
    this.writes++;
  }

  /** Runs a write that may grow the file, turning SQLite's "full" into the quota's error. */
  private growing(write: () => unknown): void {
    try {
      write();
    } catch (err) {
      if ((err as { code?: unknown }).code === 'SQLITE_FULL') {
        // SQLite says "full" for its page quota and for a full disk alike: the page count tells.
        const pages = this.db.pragma('page_count', { simple: true }) as number;
        const maxPages = this.db.pragma('max_page_count', { simple: true }) as number;
        const message =
          pages >= maxPages - 1
            ? `the DataStore is full (its quota is ${this.maxBytes} bytes)`
            : "the DataStore cannot grow: the node's disk is full";
        throw new MimoeError('ERR_DATASTORE_FULL', message, { cause: err });
      }
      throw err;
    }
  }

  removeItem(key: unknown): void {
    this.assertOpen();
    // Even a removal appends to the WAL: on a full disk it fails like a write.
    this.growing(() => this.st.remove.run(nameArg('removeItem', 'key', key)));
    this.writes++;
  }

  setItemWithTag(key: unknown, value: unknown, tag: unknown): void {
    this.assertOpen();
    const k = nameArg('setItemWithTag', 'key', key);
    const v = valueArg('setItemWithTag', value);
    const t = nameArg('setItemWithTag', 'tag', tag);
    this.growing(() => this.st.setTagged.run(k, v, t));
    this.writes++;
  }

  removeItemsByTag(tag: unknown): void {
    this.assertOpen();
    this.growing(() => this.st.removeTag.run(nameArg('removeItemsByTag', 'tag', tag)));
    this.writes++;
  }

  eachItem(callback: ItemCallback): void {
    this.assertOpen();
    const cb = callbackArg<ItemCallback>('eachItem', callback);
    this.iterate(cb, (after, last) => this.st.page.all(after, last, PAGE));
  }

  eachItemByTag(tag: unknown, callback: ItemCallback): void {
    this.assertOpen();
    const t = nameArg('eachItemByTag', 'tag', tag);
    const cb = callbackArg<ItemCallback>('eachItemByTag', callback);
    this.iterate(cb, (after, last) => this.st.tagPage.all(t, after, last, PAGE));
  }

  /**
   * The insertion number of the newest item (0 for an empty store). With readPage, the cursor
   * that eachItem is built on, for callers that iterate across a boundary (a mim's isolate):
   * read `lastSeq()` once, then pages after 0, after the last row seen, ... up to it.
   */
  lastSeq(): number {
    this.assertOpen();
    return this.st.maxSeq.get() ?? 0;
  }

  /**
   * Up to `limit` items with `after < seq <= last`, in insertion order, optionally of one tag, as
   * `[seq, key, value]` rows. Nothing stays open after it returns, so the caller may write between pages.
   */
  readPage(tag: unknown, after: unknown, last: unknown, limit: unknown): Array<[number, string, string]> {
    this.assertOpen();
    const a = countArg('readPage', 'after', after);
    const l = countArg('readPage', 'last', last);
    const n = countArg('readPage', 'limit', limit);
    if (tag === undefined || tag === null) return this.st.page.all(a, l, n);
    return this.st.tagPage.all(nameArg('eachItemByTag', 'tag', tag), a, l, n);
  }

  /**
   * A page of the JSON values, optionally of one tag, filtered and ordered in SQL (see
   * json-query.ts for the exact semantics). Values that are not JSON are skipped and not counted.
   */
  getJsonItemsPaginated(offset: unknown, limit: unknown, options?: unknown): JsonPage {
    this.assertOpen();
    const off = countArg('getJsonItemsPaginated', 'offset', offset);
    const lim = countArg('getJsonItemsPaginated', 'limit', limit);
    const q = buildJsonQuery(options, (tag) => nameArg('getJsonItemsPaginated', 'tag', tag));
    const count = this.cached(`SELECT count(*) FROM items WHERE ${q.where}`).pluck();
    const page = this.cached(
      `SELECT value FROM items WHERE ${q.where} ORDER BY ${q.orderBy} LIMIT ? OFFSET ?`,
    ).pluck();
    // One read transaction, so the count and the page come from the same snapshot.
    return this.db.transaction((): JsonPage => {
      const totalCount = count.get(...q.whereParams) as number;
      const values = lim === 0 ? [] : (page.all(...q.whereParams, ...q.orderParams, lim, off) as string[]);
      return { items: values.map((v) => JSON.parse(v) as unknown), totalCount };
    })();
  }

  /** Closes the database. Idempotent; any later call throws. */
  close(): void {
    if (!this.db.open) return;
    this.queryCache.clear();
    this.db.close();
  }

  private iterate(cb: ItemCallback, readPage: (after: number, last: number) => Row[]): void {
    const last = this.st.maxSeq.get() ?? 0;
    let after = 0;
    for (;;) {
      this.assertOpen();
      const rows = readPage(after, last);
      const epoch = this.writes;
      let reread = false;
      for (const [seq, key, value] of rows) {
        after = seq;
        cb(key, value);
        // The callback wrote: the rest of this page may be stale (removed or replaced), read it again.
        if (this.writes !== epoch) {
          reread = true;
          break;
        }
      }
      if (!reread && rows.length < PAGE) return;
    }
  }

  private cached(sql: string): Database.Statement {
    let stmt = this.queryCache.get(sql);
    if (stmt === undefined) {
      if (this.queryCache.size >= QUERY_CACHE_LIMIT) this.queryCache.clear();
      stmt = this.db.prepare(sql);
      this.queryCache.set(sql, stmt);
    }
    return stmt;
  }

  private assertOpen(): void {
    if (!this.db.open) throw new TypeError(`the DataStore ${this.file} is closed`);
  }
}
