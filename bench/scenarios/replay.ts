/**
 * replay: point-in-time page writes per second over a long segment chain,
 * in-process through core/replay.ts as restore uses it, into a file and into
 * no sink (verify's path). The chain is real: a WAL of small transactions
 * spread over a populated database (random row updates), staged by walcast's
 * own capture code a few hundred commits per segment. Baseline: opening the
 * same chain (decrypt + decompress, no apply, no hashing). Snapshot time is
 * measured alone and subtracted, so the figure is the chain's.
 * Target: ≥ 100k page writes/s.
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Keyring } from '../../core/keyring.js';
import { RESTORE_ENV, RESTORE_NODE_FLAGS } from '../../core/node-flags.js';
import { Layout, newGenerationId } from '../../core/layout.js';
import { prefetch } from '../../core/prefetch.js';
import { fileSink } from '../../core/file-sink.js';
import { replay, type PageSink, type ReplayPlan } from '../../core/replay.js';
import { planRestore } from '../../core/restore-plan.js';
import { SegmentReader } from '../../core/segment.js';
import { FileStorage } from '../../core/storage/file-storage.js';
import type { ScenarioContext } from '../lib/context.js';
import { createFilledDb } from '../lib/dbgen.js';
import { removeDb, removeDbAndSettle, settle } from '../lib/files.js';
import { captureAll, fillWal, prepareCapture, snapshotDbFile } from '../lib/in-process-capture.js';
import { figure } from '../lib/report.js';
import type { Scenario } from '../lib/scenario.js';
import { median, MiB } from '../lib/stats.js';

/** Frames per segment: a long chain of modest segments, as an agent under steady load stages them. */
const FRAMES_PER_SEGMENT = 1024;

async function timeReplay(plan: ReplayPlan, storage: FileStorage, keyring: Keyring, sink: () => Promise<{ sink: PageSink | null; close: () => Promise<void> }>): Promise<{ ms: number; pages: number; commits: number }> {
  const s = await sink();
  const t = performance.now();
  try {
    const r = await replay(plan, storage, keyring, s.sink);
    return { ms: performance.now() - t, pages: r.pages, commits: r.commits };
  } finally {
    await s.close();
  }
}

/** The replay scenario. */
export const replayScenario: Scenario = {
  name: 'replay',
  nodeFlags: RESTORE_NODE_FLAGS, // it stands for the restore tool
  env: RESTORE_ENV,
  summary: 'PITR page writes/s over a long segment chain (file sink, null sink) vs decode-only',
  async run(ctx: ScenarioContext) {
    const baseBytes = ctx.pick({ smoke: 4 * MiB, quick: 32 * MiB, full: 256 * MiB });
    const walBytes = ctx.pick({ smoke: 8 * MiB, quick: 96 * MiB, full: 512 * MiB });
    const rounds = ctx.pick({ smoke: 1, quick: 2, full: 3 });
    const dir = ctx.dir('db');
    const dbPath = join(dir, 'replay.db');
    ctx.log(`building a ${baseBytes / MiB} MiB database and a ${walBytes / MiB} MiB WAL of random updates`);
    createFilledDb(dbPath, baseBytes);
    const db = new Database(dbPath);
    db.pragma('wal_autocheckpoint = 0');
    db.pragma('synchronous = OFF');
    ctx.onCleanup(() => db.close());
    const txs = fillWal(db, walBytes, { rowsPerTx: 2, updatesPerTx: 20 });
    settle(dbPath, `${dbPath}-wal`);

    const storage = new FileStorage(ctx.dir('replica'));
    const layout = new Layout('', 'bench');
    const generation = newGenerationId();
    const keyring = new Keyring(new Map([['k1', randomBytes(32)]]), 'k1');
    const setup = await prepareCapture(dbPath);
    await snapshotDbFile(setup, { storage, keyring, layout, generation });
    const cap = await captureAll(setup, { storage, keyring, layout, generation, maxFrames: FRAMES_PER_SEGMENT });
    await setup.tailer.close();
    ctx.log(`chain: ${cap.segments} segments, ${cap.commits} commits, ${cap.pages} page writes`);

    const plan = await planRestore(storage, layout, { kind: 'latest' });
    const snapOnly: ReplayPlan = { ...plan, target: { kind: 'txid', txid: 0 } };
    const out = join(ctx.dir('out'), 'restored.db');
    const toFile = async () => {
      removeDbAndSettle(out); // the last output's freeing and writeback stay out of the timed run
      const fh = await open(out, 'w');
      const sink = fileSink(fh);
      return { sink, close: async () => (await sink.settle(), await fh.sync(), await fh.close()) };
    };
    const toNull = async () => ({ sink: null, close: async () => {} });
    const decodeOnly = async (): Promise<number> => {
      const t = performance.now();
      for await (const { item, source } of prefetch(storage, plan.segments)) {
        const seg = await SegmentReader.open(source, keyring, item.key);
        for await (const run of seg.runs()) void run;
      }
      return performance.now() - t;
    };

    const fileRates: number[] = [];
    const nullRates: number[] = [];
    const decodeRates: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const nullSnap = await timeReplay(snapOnly, storage, keyring, toNull);
      const nullAll = await timeReplay(plan, storage, keyring, toNull);
      const fileSnap = await timeReplay(snapOnly, storage, keyring, toFile);
      const fileAll = await timeReplay(plan, storage, keyring, toFile);
      const decodeMs = await decodeOnly();
      nullRates.push(nullAll.pages / ((nullAll.ms - nullSnap.ms) / 1000));
      fileRates.push(fileAll.pages / ((fileAll.ms - fileSnap.ms) / 1000));
      decodeRates.push(cap.pages / (decodeMs / 1000));
      ctx.log(`round ${r + 1}: file ${Math.round(fileRates[r]!)}/s, null ${Math.round(nullRates[r]!)}/s, decode-only ${Math.round(decodeRates[r]!)}/s`);
    }
    removeDb(out);
    Object.assign(ctx.params, {
      baseDbBytes: baseBytes, walBytes: cap.walBytes, transactions: txs, workload: 'per transaction: 2 inserts + 20 random row updates',
      segments: cap.segments, commits: cap.commits, pageWrites: cap.pages, framesPerSegment: FRAMES_PER_SEGMENT, rounds,
    });
    ctx.notes.push(
      'Chain time = replay to the latest point minus replay of the snapshot alone (same sink), so snapshot pages are not counted.',
      'Baseline: the same chain fetched (prefetch) and opened with SegmentReader (decrypt, decompress), nothing applied or hashed.',
    );
    const decode = median(decodeRates);
    return [
      figure({ id: 'replay.file', label: 'replay page writes/s, file sink', unit: 'pages/s', walcast: median(fileRates), baseline: decode, baselineName: 'decode only', better: 'higher', checks: [{ kind: 'min', value: 100_000 }] }),
      figure({ id: 'replay.null', label: 'replay page writes/s, null sink (verify)', unit: 'pages/s', walcast: median(nullRates), baseline: decode, baselineName: 'decode only', better: 'higher', checks: [{ kind: 'min', value: 100_000 }] }),
    ];
  },
};
