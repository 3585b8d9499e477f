/**
 * walcast's capture path run in-process over a WAL built beforehand, as the
 * agent's replicator runs it (db-replicator.ts stage()): WalTailer.observe()
 * (pass 1: checksum chain, page hashes) then buildSegment() (pass 2: read the
 * frames back, re-hash, seal with LZ4 + AES-256-GCM, fsync into a FileStorage).
 * Setup (opening the files, hashing the database file for the DbChecksum) is
 * kept out of the timed part, as the agent does it once at start.
 */
import type Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import type { DbChecksum } from '../../core/db-checksum.js';
import { hashDbFile } from '../../core/db-image.js';
import type { Keyring } from '../../core/keyring.js';
import type { Layout } from '../../core/layout.js';
import { ZERO_SHA256 } from '../../core/object-format.js';
import { formatChecksum } from '../../core/page-hash.js';
import { dbFilePages } from '../../core/sqlite-file.js';
import type { Storage } from '../../core/storage/storage.js';
import { headerPosition, type WalPosition } from '../../core/wal-scanner.js';
import { buildSegment } from '../../agent/segment-builder.js';
import { writeSnapshot } from '../../agent/snapshotter.js';
import { WalTailer } from '../../agent/wal-tailer.js';
import { prng, slice, textPool } from './rows.js';
import { MiB } from './stats.js';

/**
 * Commits transactions on `db` (autocheckpoint must be off) until its WAL
 * holds at least `walBytes`: each inserts `rowsPerTx` realistic rows into
 * `rows` and rewrites `updatesPerTx` random rows of `items` (when present).
 * Returns the transactions committed. Keep `db` open afterwards: closing the
 * last connection checkpoints and deletes the WAL.
 */
export function fillWal(db: Database.Database, walBytes: number, opts: { rowsPerTx?: number; updatesPerTx?: number; seed?: number } = {}): number {
  const rowsPerTx = opts.rowsPerTx ?? 100;
  const updates = opts.updatesPerTx ?? 0;
  const rand = prng(opts.seed ?? 3);
  const pool = textPool(8 * MiB, opts.seed ?? 3);
  db.exec('CREATE TABLE IF NOT EXISTS rows(id INTEGER PRIMARY KEY, marker TEXT NOT NULL, body BLOB NOT NULL)');
  const ins = db.prepare('INSERT INTO rows(marker, body) VALUES (?, ?)');
  const hasItems = db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'items'").pluck().get() === 1;
  const maxItem = hasItems ? (db.prepare('SELECT max(id) FROM items').pluck().get() as number) : 0;
  const upd = hasItems ? db.prepare('UPDATE items SET body = ? WHERE id = ?') : null;
  const walPath = `${db.name}-wal`;
  let tx = 0;
  const one = db.transaction((n: number) => {
    for (let r = 0; r < rowsPerTx; r++) ins.run(`LAGMARK:${n}:`, slice(pool, 200 + Math.floor(rand() * 800), rand));
    if (upd) for (let u = 0; u < updates; u++) upd.run(slice(pool, 300 + Math.floor(rand() * 1400), rand), 1 + Math.floor(rand() * maxItem));
  });
  for (;;) {
    one(tx++);
    if (tx % 50 === 0 && statSync(walPath).size >= walBytes) return tx;
  }
}

/** Capture state prepared outside the timed part. */
export interface CaptureSetup {
  tailer: WalTailer;
  sum: DbChecksum;
  pageSize: number;
  from: WalPosition;
}

/** Opens the database and WAL and computes the database file's checksum (the agent's start-up work). */
export async function prepareCapture(dbPath: string): Promise<CaptureSetup> {
  const tailer = new WalTailer(dbPath);
  const header = await tailer.open();
  const sum = await hashDbFile(tailer.db, header.pageSize, await dbFilePages(tailer.db, header));
  const walHeader = await tailer.header();
  if (!walHeader) throw new Error(`${dbPath} has no WAL to capture`);
  return { tailer, sum, pageSize: header.pageSize, from: headerPosition(walHeader) };
}

/** What one capture pass did. */
export interface CaptureStats {
  ms: number;
  walBytes: number;
  segmentBytes: number;
  segments: number;
  commits: number;
  pages: number;
  lastTxid: number;
  lastSha256: string;
}

/**
 * Captures the whole committed WAL into `storage`, `maxFrames` frames per
 * segment at most (the agent's MAX_SEGMENT_FRAMES is 16384), chaining
 * segments from txid 1. Timed from the first observe to the last fsync.
 */
export async function captureAll(
  setup: CaptureSetup,
  opts: { storage: Storage; keyring: Keyring; layout: Layout; generation: string; maxFrames: number },
): Promise<CaptureStats> {
  const s: CaptureStats = { ms: 0, walBytes: 0, segmentBytes: 0, segments: 0, commits: 0, pages: 0, lastTxid: 0, lastSha256: ZERO_SHA256 };
  let from = setup.from;
  const started = performance.now();
  for (;;) {
    const obs = await setup.tailer.observe(from, opts.maxFrames);
    if (obs.commits.length === 0) break;
    const built = await buildSegment({
      observations: [obs], firstTxid: s.lastTxid + 1, sum: setup.sum, pageSize: setup.pageSize, generation: opts.generation,
      prevSha256: s.lastSha256, layout: opts.layout, tailer: setup.tailer, keyring: opts.keyring, compress: true, staging: opts.storage,
    });
    s.walBytes += built.walBytes;
    s.segmentBytes += built.bytes;
    s.segments++;
    s.commits += built.commits.length;
    s.pages += built.pages;
    s.lastTxid = built.maxTxid;
    s.lastSha256 = built.sha256;
    from = obs.end;
  }
  s.ms = performance.now() - started;
  return s;
}

/** Stages the base snapshot (txid 0) of the database file alone, as a new generation would; call before captureAll, which advances the checksum. */
export async function snapshotDbFile(setup: CaptureSetup, opts: { storage: Storage; keyring: Keyring; layout: Layout; generation: string }): Promise<void> {
  await writeSnapshot({
    tailer: setup.tailer, position: null, dbPages: setup.sum.dbPages, pageSize: setup.pageSize, checksum: formatChecksum(setup.sum.value),
    txid: 0, generation: opts.generation, takenAtMs: Date.now() - 1, layout: opts.layout, keyring: opts.keyring, compress: true, staging: opts.storage,
  });
}
