/**
 * capture: WAL bytes per second through walcast's capture path (read →
 * segment → LZ4 → AES-256-GCM → fsynced file), in-process over a real WAL
 * written by SQLite, against the raw cost of the same sealing: the same WAL
 * bytes read in 1 MiB chunks, LZ4-compressed (lz4-napi compressSync) and
 * encrypted (node:crypto aes-256-gcm), nothing else. Runs alternate, medians
 * are reported. Target: ≥ 150 MB/s and ≥ 0.6× the raw baseline.
 */
import Database from 'better-sqlite3';
import { createCipheriv, randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { compressSync } from 'lz4-napi';
import { Layout, newGenerationId } from '../../core/layout.js';
import { Keyring } from '../../core/keyring.js';
import { AGENT_NODE_FLAGS } from '../../core/node-flags.js';
import { FileStorage } from '../../core/storage/file-storage.js';
import type { ScenarioContext } from '../lib/context.js';
import { createEmptyDb } from '../lib/dbgen.js';
import { settle } from '../lib/files.js';
import { captureAll, fillWal, prepareCapture, type CaptureStats } from '../lib/in-process-capture.js';
import { figure, type Figure } from '../lib/report.js';
import type { Scenario } from '../lib/scenario.js';
import { median, MiB } from '../lib/stats.js';

const MB = 1e6;
/** The agent's cap on frames per segment (db-replicator.ts MAX_SEGMENT_FRAMES). */
const MAX_SEGMENT_FRAMES = 16_384;
const CHUNK = 1 << 20;

/** Seals the WAL file's bytes the minimal way: 1 MiB chunks, LZ4 then AES-256-GCM; returns ms. */
async function rawSeal(walPath: string): Promise<{ ms: number; bytes: number; sealed: number }> {
  const key = randomBytes(32);
  const buf = Buffer.allocUnsafe(CHUNK);
  const fh = await open(walPath, 'r');
  let bytes = 0;
  let sealed = 0;
  const started = performance.now();
  try {
    for (let i = 0; ; i++) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, bytes);
      if (bytesRead === 0) break;
      bytes += bytesRead;
      const packed = compressSync(buf.subarray(0, bytesRead));
      const iv = Buffer.alloc(12);
      iv.writeUInt32BE(i, 8);
      const c = createCipheriv('aes-256-gcm', key, iv);
      sealed += c.update(packed).length + c.final().length + c.getAuthTag().length;
    }
  } finally {
    await fh.close();
  }
  return { ms: performance.now() - started, bytes, sealed };
}

async function runCapture(ctx: ScenarioContext, dbPath: string, keyring: Keyring): Promise<CaptureStats> {
  const stagingDir = ctx.dir('staging');
  const setup = await prepareCapture(dbPath);
  try {
    return await captureAll(setup, {
      storage: new FileStorage(stagingDir), keyring, layout: new Layout('', 'bench'), generation: newGenerationId(), maxFrames: MAX_SEGMENT_FRAMES,
    });
  } finally {
    await setup.tailer.close();
    rmSync(stagingDir, { recursive: true, force: true });
  }
}

/** The capture scenario. */
export const capture: Scenario = {
  name: 'capture',
  nodeFlags: AGENT_NODE_FLAGS, // it stands for the agent's capture path
  summary: 'WAL bytes/s through observe → segment → LZ4 → AES-GCM → file, vs raw LZ4+AES-GCM',
  async run(ctx) {
    const walBytes = ctx.pick({ smoke: 8 * MiB, quick: 256 * MiB, full: 1024 * MiB });
    const rounds = ctx.pick({ smoke: 1, quick: 3, full: 5 });
    const dir = ctx.dir('db');
    const dbPath = join(dir, 'capture.db');
    createEmptyDb(dbPath);
    const db = new Database(dbPath);
    db.pragma('wal_autocheckpoint = 0');
    db.pragma('synchronous = NORMAL');
    ctx.onCleanup(() => db.close());
    ctx.log(`writing a ${walBytes / MiB} MiB WAL`);
    const txs = fillWal(db, walBytes, { rowsPerTx: 100 });
    settle(`${dbPath}-wal`, dbPath);
    const walSize = statSync(`${dbPath}-wal`).size;
    Object.assign(ctx.params, {
      walTargetBytes: walBytes, walFileBytes: walSize, transactions: txs, rowsPerTx: 100, rowBytes: '200-1000 (realistic records)',
      pageSize: 4096, maxSegmentFrames: MAX_SEGMENT_FRAMES, rounds, walAutocheckpoint: 0,
    });
    ctx.notes.push(
      'In-process: WalTailer.observe + buildSegment as the agent stages a segment, into a FileStorage (fsync, rename); DbChecksum setup (hashDbFile) is untimed.',
      'Baseline: the same WAL file read in 1 MiB chunks, lz4-napi compressSync + aes-256-gcm, no hashing, no writes. Page cache warm for both; runs alternate; medians.',
    );

    const keyring = new Keyring(new Map([['k1', randomBytes(32)]]), 'k1');
    const caps: CaptureStats[] = [];
    const raws: { ms: number; bytes: number; sealed: number }[] = [];
    for (let r = 0; r < rounds; r++) {
      caps.push(await runCapture(ctx, dbPath, keyring));
      raws.push(await rawSeal(`${dbPath}-wal`));
      ctx.log(`round ${r + 1}: capture ${(caps[r]!.walBytes / MB / (caps[r]!.ms / 1000)).toFixed(0)} MB/s, raw ${(raws[r]!.bytes / MB / (raws[r]!.ms / 1000)).toFixed(0)} MB/s`);
    }
    const capRate = median(caps.map((c) => c.walBytes / MB / (c.ms / 1000)))!;
    const rawRate = median(raws.map((c) => c.bytes / MB / (c.ms / 1000)))!;
    const last = caps[caps.length - 1]!;
    const figures: Figure[] = [
      figure({
        id: 'capture.throughput', label: 'capture throughput (WAL bytes)', unit: 'MB/s', walcast: capRate, baseline: rawRate,
        baselineName: 'raw lz4+aes-gcm', better: 'higher', checks: [{ kind: 'min', value: 150 }, { kind: 'ratioMin', value: 0.6 }],
        details: { walBytes: last.walBytes, segments: last.segments, commits: last.commits, pages: last.pages, runsMs: caps.map((c) => Math.round(c.ms)), rawRunsMs: raws.map((c) => Math.round(c.ms)) },
      }),
      figure({
        id: 'capture.size', label: 'sealed bytes / WAL bytes', unit: '', walcast: last.segmentBytes / last.walBytes, baseline: raws[0]!.sealed / raws[0]!.bytes,
        baselineName: 'raw lz4+aes-gcm', better: 'lower',
      }),
    ];
    return figures;
  },
};
