import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, openSync, writeSync, closeSync, truncateSync, statSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { createWalDb, sqliteCli, sqliteCliVersion } from '../helpers/sqlite.js';
import { tempDir } from '../helpers/tmp.js';
import { readWalHeader, headerPosition, scanWal, positionHolds } from '../../core/wal-scanner.js';
import { frameOffset, WAL_FRAME_HEADER_SIZE } from '../../core/wal-format.js';

const test = suite('wal-scanner');

async function scanFile(walPath: string) {
  const fh = await open(walPath, 'r');
  try {
    const header = await readWalHeader(fh);
    assert.ok(header, 'WAL header parses');
    return { header: header!, scan: await scanWal(fh, headerPosition(header!)) };
  } finally {
    await fh.close();
  }
}

/** Rows SQLite itself sees in a copy of db + wal (it runs its own WAL recovery). */
function rowsSqliteSees(dbPath: string, walPath: string): number {
  const dir = tempDir('seen');
  copyFileSync(dbPath, join(dir, 'c.db'));
  copyFileSync(walPath, join(dir, 'c.db-wal'));
  const out = sqliteCli(join(dir, 'c.db'), "SELECT count(*) FROM sqlite_schema WHERE name='t';\nSELECT CASE WHEN EXISTS(SELECT 1 FROM sqlite_schema WHERE name='t') THEN (SELECT count(*) FROM t) ELSE -1 END;\n");
  return Number(out.trim().split('\n')[1]);
}

test('finds every commit of a WAL written by the bundled SQLite', async () => {
  const dir = tempDir();
  const db = createWalDb(join(dir, 'a.db'));
  db.exec('CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)');
  const ins = db.prepare('INSERT INTO t(v) VALUES (?)');
  for (let i = 0; i < 40; i++) ins.run(Buffer.alloc(3000, i));
  const pageCount = db.pragma('page_count', { simple: true }) as number;
  const { header, scan } = await scanFile(join(dir, 'a.db-wal'));
  db.close();
  assert.is(header.pageSize, 4096);
  assert.is(scan.commits.length, 41, 'schema commit + 40 inserts');
  assert.is(scan.commits[scan.commits.length - 1]!.dbPages, pageCount);
  assert.is(scan.end.frame, scan.count, 'every frame belongs to a whole transaction');
});

test(`finds every commit of a WAL written by the system sqlite3 CLI (${sqliteCliVersion()})`, async () => {
  const dir = tempDir();
  const path = join(dir, 'c.db');
  // The CLI checkpoints and deletes the WAL when it exits; keep a copy made while it is open.
  const sql = ['PRAGMA journal_mode=WAL;', 'PRAGMA wal_autocheckpoint=0;', 'CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);'];
  for (let i = 0; i < 25; i++) sql.push(`INSERT INTO t(v) VALUES (hex(randomblob(${100 + i * 50})));`);
  sql.push(`.shell cp ${path}-wal ${path}-wal.copy`);
  sqliteCli(path, sql.join('\n') + '\n');
  const { header, scan } = await scanFile(`${path}-wal.copy`);
  assert.ok(header.pageSize >= 512);
  assert.is(scan.commits.length, 26);
});

test('a corrupted frame ends the valid range where SQLite ends it', async () => {
  const dir = tempDir();
  const dbPath = join(dir, 'a.db');
  const db = createWalDb(dbPath);
  db.exec('CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)');
  const ins = db.prepare('INSERT INTO t(v) VALUES (?)');
  for (let i = 0; i < 30; i++) ins.run(Buffer.alloc(500, i));
  const walPath = join(dir, 'a.db-wal');
  const { scan: full } = await scanFile(walPath);
  // Flip one byte inside the page of a frame in the middle of the log.
  const victim = Math.floor(full.end.frame / 2);
  const broken = join(dir, 'broken-wal');
  copyFileSync(walPath, broken);
  const fd = openSync(broken, 'r+');
  const off = frameOffset(victim, 4096) + WAL_FRAME_HEADER_SIZE + 100;
  const byte = readFileSync(broken).subarray(off, off + 1)[0]!;
  writeSync(fd, Buffer.of(byte ^ 0xff), 0, 1, off);
  closeSync(fd);
  const { scan } = await scanFile(broken);
  db.close();
  assert.ok(scan.end.frame < victim, 'stops before the corrupted frame');
  const lastCommit = full.commits.filter((c) => c.commitFrame < victim).pop()!;
  assert.is(scan.end.frame, lastCommit.commitFrame, 'stops at the last commit before it');
  // SQLite's own recovery agrees: it sees exactly the transactions we accept.
  assert.is(rowsSqliteSees(dbPath, broken), scan.commits.length - 1);
});

test('a torn tail (partial last frame) waits, like SQLite', async () => {
  const dir = tempDir();
  const dbPath = join(dir, 'a.db');
  const db = createWalDb(dbPath);
  db.exec('CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)');
  db.transaction(() => {
    for (let i = 0; i < 10; i++) db.prepare('INSERT INTO t(v) VALUES (?)').run(Buffer.alloc(4000, i));
  })();
  db.prepare('INSERT INTO t(v) VALUES (1)').run();
  const walPath = join(dir, 'a.db-wal');
  const torn = join(dir, 'torn-wal');
  copyFileSync(walPath, torn);
  truncateSync(torn, statSync(torn).size - 100);
  const { scan } = await scanFile(torn);
  db.close();
  assert.is(scan.commits.length, 2, 'schema and the 10-row transaction; the torn one-row commit waits');
  assert.is(rowsSqliteSees(dbPath, torn), 10);
});

test('resumes from a position and recognises when it no longer holds', async () => {
  const dir = tempDir();
  const db = createWalDb(join(dir, 'a.db'));
  db.exec('CREATE TABLE t(x)');
  const fh = await open(join(dir, 'a.db-wal'), 'r');
  const header = (await readWalHeader(fh))!;
  const first = await scanWal(fh, headerPosition(header));
  db.prepare('INSERT INTO t VALUES (1)').run();
  db.prepare('INSERT INTO t VALUES (2)').run();
  const next = await scanWal(fh, first.end);
  assert.is(next.commits.length, 2);
  assert.is(next.firstFrame, first.end.frame + 1);
  assert.ok(await positionHolds(fh, header, next.end));
  // A restart rewrites the WAL from the start with new salts: the old position is gone.
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.prepare('INSERT INTO t VALUES (3)').run();
  const h2 = (await readWalHeader(fh))!;
  assert.is.not(h2.salt1, header.salt1);
  assert.not.ok(await positionHolds(fh, h2, next.end));
  await fh.close();
  db.close();
});

test('a scan of a reused WAL reads a few frames past the new ones, not the old cycle behind them', async () => {
  const dir = tempDir();
  const db = createWalDb(join(dir, 'a.db'));
  db.exec('CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)');
  const ins = db.prepare('INSERT INTO t(v) VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < 600; i++) ins.run(Buffer.alloc(3000, i));
  })();
  db.pragma('wal_checkpoint(PASSIVE)'); // everything backfilled: the next write starts the WAL over
  ins.run(Buffer.alloc(3000, 1));
  const walPath = join(dir, 'a.db-wal');
  assert.ok(statSync(walPath).size > 600 * 4096, 'the old cycle is still in the file');
  const fh = await open(walPath, 'r');
  let bytesRead = 0;
  const counting = { read: async (...args: Parameters<typeof fh.read>) => { const r = await fh.read(...args); bytesRead += r.bytesRead; return r; } } as unknown as typeof fh;
  const header = (await readWalHeader(fh))!;
  const scan = await scanWal(counting, headerPosition(header));
  await fh.close();
  db.close();
  assert.is(scan.commits.length, 1, 'the one commit of the new cycle');
  assert.ok(scan.end.frame >= 1 && scan.end.frame < 16);
  // The first block and the one read ahead of it: 16 + 32 frames at most.
  assert.ok(bytesRead <= 48 * (4096 + WAL_FRAME_HEADER_SIZE), `read ${bytesRead} bytes`);
});

test.run();
