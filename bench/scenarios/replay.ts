/**
 * replay: point-in-time page writes per second over a long segment chain,
 * through core/replay.ts as restore uses it, into a file and into no sink
 * (verify's path). The chain is real: a WAL of small transactions spread over
 * a populated database (random row updates), staged by walcast's own capture
 * code a few hundred commits per segment. The timed rounds run in a fresh
 * process with the restore tool's Node flags and environment
 * (lib/replay-rounds.ts), not in the runner that built the chain. Baseline:
 * opening the same chain (decrypt + decompress, no apply, no hashing).
 * Snapshot time is measured alone and subtracted, so the figure is the chain's.
 * Target: ≥ 100k page writes/s.
 */
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { Keyring } from '../../core/keyring.js';
import { RESTORE_NODE_FLAGS, restoreEnv } from '../../core/node-flags.js';
import { Layout, newGenerationId } from '../../core/layout.js';
import { FileStorage } from '../../core/storage/file-storage.js';
import type { ScenarioContext } from '../lib/context.js';
import { createFilledDb } from '../lib/dbgen.js';
import { settle } from '../lib/files.js';
import { captureAll, fillWal, prepareCapture, snapshotDbFile } from '../lib/in-process-capture.js';
import { REPLAY_ROUNDS } from '../lib/paths.js';
import { exitOf } from '../lib/procs.js';
import type { ReplayRoundsResult, ReplayRoundsSpec } from '../lib/replay-rounds.js';
import { figure } from '../lib/report.js';
import type { Scenario } from '../lib/scenario.js';
import { median, MiB } from '../lib/stats.js';

/** Frames per segment: a long chain of modest segments, as an agent under steady load stages them. */
const FRAMES_PER_SEGMENT = 1024;

/** Runs the timed rounds in a fresh process started as the restore tool is; returns its rates. */
async function timedRounds(ctx: ScenarioContext, spec: ReplayRoundsSpec): Promise<ReplayRoundsResult> {
  const child = ctx.track(spawn(process.execPath, [...RESTORE_NODE_FLAGS, REPLAY_ROUNDS], { stdio: ['pipe', 'pipe', 'inherit'], env: restoreEnv() }));
  child.stdin!.end(JSON.stringify(spec));
  const [out, code] = await Promise.all([text(child.stdout!), exitOf(child)]);
  if (code !== 0) throw new Error(`the replay rounds process exited with ${code} (its error is above)`);
  return JSON.parse(out) as ReplayRoundsResult;
}

/** The replay scenario. */
export const replayScenario: Scenario = {
  name: 'replay',
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

    const replica = ctx.dir('replica');
    const storage = new FileStorage(replica);
    const layout = new Layout('', 'bench');
    const generation = newGenerationId();
    const key = randomBytes(32);
    const keyring = new Keyring(new Map([['k1', key]]), 'k1');
    const setup = await prepareCapture(dbPath);
    await snapshotDbFile(setup, { storage, keyring, layout, generation });
    const cap = await captureAll(setup, { storage, keyring, layout, generation, maxFrames: FRAMES_PER_SEGMENT });
    await setup.tailer.close();
    ctx.log(`chain: ${cap.segments} segments, ${cap.commits} commits, ${cap.pages} page writes`);

    const rates = await timedRounds(ctx, {
      replica, prefix: layout.prefix, db: layout.db, keyId: 'k1', keyHex: key.toString('hex'),
      out: join(ctx.dir('out'), 'restored.db'), rounds, pages: cap.pages,
    });
    rates.file.forEach((f, r) => ctx.log(`round ${r + 1}: file ${Math.round(f)}/s, null ${Math.round(rates.null[r]!)}/s, decode-only ${Math.round(rates.decode[r]!)}/s`));
    Object.assign(ctx.params, {
      baseDbBytes: baseBytes, walBytes: cap.walBytes, transactions: txs, workload: 'per transaction: 2 inserts + 20 random row updates',
      segments: cap.segments, commits: cap.commits, pageWrites: cap.pages, framesPerSegment: FRAMES_PER_SEGMENT, rounds,
    });
    ctx.notes.push(
      'Chain time = replay to the latest point minus replay of the snapshot alone (same sink), so snapshot pages are not counted.',
      'Baseline: the same chain fetched (prefetch) and opened with SegmentReader (decrypt, decompress), nothing applied or hashed.',
    );
    const decode = median(rates.decode);
    return [
      figure({ id: 'replay.file', label: 'replay page writes/s, file sink', unit: 'pages/s', walcast: median(rates.file), baseline: decode, baselineName: 'decode only', better: 'higher', checks: [{ kind: 'min', value: 100_000 }] }),
      figure({ id: 'replay.null', label: 'replay page writes/s, null sink (verify)', unit: 'pages/s', walcast: median(rates.null), baseline: decode, baselineName: 'decode only', better: 'higher', checks: [{ kind: 'min', value: 100_000 }] }),
    ];
  },
};
