/**
 * Databases of a given size for the bench, built fast: a base of realistic
 * rows, then doubled with INSERT … SELECT inside SQLite (journal off while
 * building, WAL mode at the end), so a 4 GiB database takes seconds, not
 * minutes. Copies of a row land far apart in the file, beyond LZ4's window,
 * so compression sees the base data's ratio, not the duplication.
 */
import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { settle } from './files.js';
import { prng, slice, textPool } from './rows.js';
import { MiB } from './stats.js';

/** Size facts of a database built by `createFilledDb`. */
export interface FilledDb {
  path: string;
  bytes: number;
  pages: number;
  pageSize: number;
  rows: number;
}

/**
 * Creates `path` with a table `items(id, k, body)` (and an empty `rows`) of about `bytes` bytes of
 * rows of 300-1700 bytes; WAL mode, checkpointed, closed.
 */
export function createFilledDb(path: string, bytes: number, seed = 7): FilledDb {
  const db = new Database(path);
  try {
    db.pragma('page_size = 4096');
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    db.exec('CREATE TABLE items(id INTEGER PRIMARY KEY, k TEXT NOT NULL, body BLOB NOT NULL)');
    // The writers' table, so every database in the bench has the same schema.
    db.exec('CREATE TABLE rows(id INTEGER PRIMARY KEY, marker TEXT NOT NULL, body BLOB NOT NULL)');
    const rand = prng(seed);
    const pool = textPool(Math.min(16 * MiB, Math.max(MiB, bytes >> 1)), seed);
    const ins = db.prepare('INSERT INTO items(k, body) VALUES (?, ?)');
    const base = Math.min(bytes, 32 * MiB);
    db.transaction(() => {
      for (let n = 0, i = 0; n < base; i++) {
        const row = slice(pool, 300 + Math.floor(rand() * 1400), rand);
        ins.run(`key-${i}-${Math.floor(rand() * 1e9).toString(36)}`, row);
        n += row.length + 40;
      }
    })();
    const size = () => (db.pragma('page_count', { simple: true }) as number) * 4096;
    const count = () => db.prepare('SELECT count(*) FROM items').pluck().get() as number;
    // Double (or top up) until the file reaches the target.
    for (let have = size(); have < bytes; have = size()) {
      const rows = count();
      const want = Math.max(1, Math.min(rows, Math.ceil(((bytes - have) / have) * rows)));
      db.prepare("INSERT INTO items(k, body) SELECT k || '-c', body FROM items ORDER BY id LIMIT ?").run(want);
    }
    db.pragma('journal_mode = WAL');
    const rows = count();
    const pages = db.pragma('page_count', { simple: true }) as number;
    return { path, bytes: statSync(path).size, pages, pageSize: 4096, rows };
  } finally {
    db.close();
    settle(path);
  }
}

/** Creates an empty WAL-mode database with the writer's table (`rows`), checkpointed so the file has a header. */
export function createEmptyDb(path: string): void {
  const db = new Database(path);
  db.pragma('page_size = 4096');
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE IF NOT EXISTS rows(id INTEGER PRIMARY KEY, marker TEXT NOT NULL, body BLOB NOT NULL)');
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}
