/**
 * Entry of the writer process (see writer.ts): `node writer-process.js SPEC_JSON`.
 * Paces each phase on a schedule (uniform: transaction i is due at start +
 * i / rate; or Poisson arrivals; a late writer catches up instead of
 * drifting), records each commit's wall
 * time, and writes its result as JSON on finishing or on SIGTERM.
 */
import Database from 'better-sqlite3';
import { statSync, writeFileSync } from 'node:fs';
import { prng, slice, textPool } from './rows.js';
import { MiB, max, percentile } from './stats.js';
import type { PhaseResult, WriterResult, WriterSpec } from './writer.js';

const spec = JSON.parse(process.argv[2]!) as WriterSpec;
let stopping = false;
process.on('SIGTERM', () => (stopping = true));

const conns = spec.dbs.map((path) => {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma(`busy_timeout = ${spec.busyTimeoutMs}`);
  db.pragma(`synchronous = ${spec.synchronous}`);
  if (spec.autocheckpoint !== null) db.pragma(`wal_autocheckpoint = ${spec.autocheckpoint}`);
  db.exec('CREATE TABLE IF NOT EXISTS rows(id INTEGER PRIMARY KEY, marker TEXT NOT NULL, body BLOB NOT NULL)');
  const hasItems = db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'items'").pluck().get() === 1;
  const maxItem = hasItems ? ((db.prepare('SELECT max(id) FROM items').pluck().get() as number | null) ?? 0) : 0;
  return {
    db,
    maxItem,
    insert: db.prepare('INSERT INTO rows(marker, body) VALUES (?, ?)'),
    update: hasItems ? db.prepare('UPDATE items SET body = ? WHERE id = ?') : null,
  };
});

const rand = prng(spec.seed);
// Arrival gaps get their own stream, so the rows written do not depend on the spacing.
const gaps = prng(spec.seed + 1);
const pool = textPool(Math.max(4 * MiB, 2 * Math.max(...spec.phases.map((p) => p.rowBytes))), spec.seed);
const commitMs: number[] = [];
const phases: PhaseResult[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function transaction(seq: number, rows: number, rowBytes: number, updates: number): void {
  const c = conns[seq % conns.length]!;
  const marker = `LAGMARK:${seq}:`;
  const body = () => slice(pool, rowBytes, rand);
  const work = () => {
    for (let r = 0; r < rows; r++) c.insert.run(marker, body());
    if (c.update && c.maxItem > 0) {
      for (let u = 0; u < updates; u++) c.update.run(slice(pool, 300 + Math.floor(rand() * 1400), rand), 1 + Math.floor(rand() * c.maxItem));
    }
  };
  // One insert alone is its own transaction, as an application's single-row write would be.
  if (rows === 1 && (updates === 0 || !c.update)) work();
  else c.db.transaction(work)();
}

async function main(): Promise<void> {
  let seq = 0;
  for (const p of spec.phases) {
    if (stopping) break;
    const first = seq;
    const lat: number[] = [];
    const start = performance.now();
    const startMs = Date.now();
    let due = start;
    for (let i = 0; i < p.count && !stopping; i++) {
      if (p.txPerSec > 0) {
        // Due times accumulate, so a late writer catches up instead of drifting.
        // Poisson gaps are capped at 3× the mean, so a phase's length stays predictable.
        if (i > 0) due += p.arrivals === 'poisson' ? (Math.min(3, -Math.log(1 - gaps())) * 1000) / p.txPerSec : 1000 / p.txPerSec;
        const wait = due - performance.now();
        if (wait >= 1) await sleep(wait);
      } else if (i % 1000 === 999) {
        await new Promise((r) => setImmediate(r)); // let SIGTERM through on long flat-out runs
      }
      const t = performance.now();
      transaction(seq, p.rowsPerTx, p.rowBytes, p.updates ?? 0);
      lat.push(performance.now() - t);
      commitMs[seq] = Date.now();
      seq++;
    }
    const elapsedMs = performance.now() - start;
    phases.push({
      name: p.name, first, count: seq - first, startMs, endMs: Date.now(), elapsedMs,
      latency: { p50: percentile(lat, 50), p99: percentile(lat, 99), max: max(lat) },
    });
    if (p.pauseAfterMs && !stopping && p !== spec.phases[spec.phases.length - 1]) await sleep(p.pauseAfterMs);
  }
  // Closing the last connection checkpoints and deletes the WAL: measure it first.
  const walBytes = spec.dbs.map((path) => {
    try {
      return statSync(`${path}-wal`).size;
    } catch {
      return 0;
    }
  });
  const result: WriterResult = { commitMs, phases, stopped: stopping, walBytes };
  writeFileSync(spec.out, JSON.stringify(result));
  for (const c of conns) c.db.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`writer failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
