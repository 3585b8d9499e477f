/**
 * Real SQLite for tests: the system `sqlite3` CLI and the bundled library,
 * plus page-exact and logical references taken from a live database.
 */
import Database from 'better-sqlite3';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { tempDir } from './tmp.js';

/** Runs SQL through the system sqlite3 CLI; returns its stdout. */
export function sqliteCli(dbPath: string, sql: string): string {
  const r = spawnSync('sqlite3', ['-bail', dbPath], { input: sql, encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`sqlite3 failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Version printed by the system sqlite3 CLI. */
export function sqliteCliVersion(): string {
  return execFileSync('sqlite3', ['--version'], { encoding: 'utf8' }).split(' ')[0]!;
}

/** Creates a WAL-mode database with the bundled SQLite; autocheckpoint off unless asked. */
export function createWalDb(path: string, opts: { autocheckpoint?: number; pageSize?: number } = {}): Database.Database {
  const db = new Database(path);
  if (opts.pageSize) db.pragma(`page_size = ${opts.pageSize}`);
  db.pragma('journal_mode = WAL');
  db.pragma(`wal_autocheckpoint = ${opts.autocheckpoint ?? 0}`);
  db.pragma('busy_timeout = 5000');
  return db;
}

/**
 * Content hash of a database as SQLite reads it (the CLI's `.sha3sum`, over
 * schema and rows): a logical reference independent of walcast's code.
 */
export function logicalHash(dbPath: string): string {
  return sqliteCli(dbPath, '.sha3sum --schema\n').trim();
}

/**
 * Page-exact image of a live database (file plus WAL), made by SQLite itself:
 * copy the file and WAL aside, let the CLI recover and checkpoint the copy,
 * and hash the resulting file. Call at a quiet point.
 */
export function pageExactImage(dbPath: string): { sha256: string; path: string } {
  const dir = tempDir('ref');
  const copy = join(dir, 'ref.db');
  copyFileSync(dbPath, copy);
  if (existsSync(dbPath + '-wal')) copyFileSync(dbPath + '-wal', copy + '-wal');
  sqliteCli(copy, 'PRAGMA wal_checkpoint(TRUNCATE);\n');
  return { sha256: fileSha256(copy), path: copy };
}

/** SHA-256 of a file's bytes. */
export function fileSha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}
