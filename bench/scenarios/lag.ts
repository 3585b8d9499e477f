/**
 * lag: from commit to acknowledged (restorable), measured tool-neutrally. The
 * writer stamps each transaction's commit time and writes its marker into
 * the row; a watcher records when each object appears in the destination
 * (file rename, or s3rver's metadata file written after the object); the
 * objects are then opened (walcast: decrypted; Litestream: LZ4-frame
 * decompressed) and each marker's lag is the appearance of the first object
 * holding it minus its commit. Phases: 500 tx/s, 20 MB/s bulk, and sparse:
 * 1 tx/s on average at random (Poisson) moments.
 * Targets: p99 ≤ Litestream's at the same sync interval and ≤ sync + 100 ms;
 * sparse p50 ≤ 100 ms.
 */
import { join } from 'node:path';
import { s3DestinationConfig, startS3rver, type S3rverHandle } from '../../test/helpers/servers.js';
import type { ScenarioContext } from '../lib/context.js';
import { createEmptyDb } from '../lib/dbgen.js';
import { filesUnder } from '../lib/files.js';
import { LitestreamProcess, writeLitestreamConfig } from '../lib/litestream.js';
import { firstSeen, lagStats, markersInLitestreamFile, markersInWalcastObject, type LagStats } from '../lib/markers.js';
import { sleep, waitUntil } from '../lib/procs.js';
import { ReplicaWatcher, litestreamFiles, s3rverObjectOf, s3rverWalcastFiles, walcastFiles } from '../lib/replica-watch.js';
import { figure, type Check, type Figure } from '../lib/report.js';
import type { Scenario } from '../lib/scenario.js';
import { MiB } from '../lib/stats.js';
import { keyringOf, startAgent, stopAgent, writeAgentConfig } from '../lib/walcast.js';
import { runWriter, writerSpec, type PhaseSpec } from '../lib/writer.js';

type Tool = 'walcast' | 'litestream';
type Dest = 'file' | 's3';
type PhaseName = 'steady' | 'bulk' | 'sparse';

/** One replication run under the writer. */
interface LagRun {
  tool: Tool;
  dest: Dest;
  syncMs: number;
  phases: PhaseName[];
}

/** Lag of each phase of one run. */
type RunResult = Partial<Record<PhaseName, LagStats>>;

function phaseSpecs(ctx: ScenarioContext, names: readonly PhaseName[]): PhaseSpec[] {
  const secs = ctx.pick({ smoke: { steady: 1, bulk: 1, sparse: 2 }, quick: { steady: 3, bulk: 2, sparse: 6 }, full: { steady: 20, bulk: 10, sparse: 40 } });
  const pause = ctx.pick({ smoke: 500, quick: 1100, full: 2000 });
  const steadyRate = ctx.pick({ smoke: 100, quick: 500, full: 500 });
  const bulkRow = ctx.pick({ smoke: 256 * 1024, quick: MiB, full: MiB });
  const all: Record<PhaseName, PhaseSpec> = {
    steady: { name: 'steady', txPerSec: steadyRate, count: steadyRate * secs.steady, rowsPerTx: 1, rowBytes: 200, pauseAfterMs: pause },
    // 20 transactions a second of one 1 MiB row: 20 MB/s.
    bulk: { name: 'bulk', txPerSec: 20, count: 20 * secs.bulk, rowsPerTx: 1, rowBytes: bulkRow, pauseAfterMs: pause },
    // One transaction a second on average, at random moments: how fast a lone commit ships.
    sparse: { name: 'sparse', txPerSec: 1, count: secs.sparse, rowsPerTx: 1, rowBytes: 200, arrivals: ctx.mode === 'smoke' ? 'uniform' : 'poisson' },
  };
  return names.map((n) => all[n]);
}

async function runOnce(ctx: ScenarioContext, run: LagRun, s3: S3rverHandle | null, index: number): Promise<RunResult> {
  const label = `${run.tool}-${run.dest}-${run.syncMs}ms`;
  const dir = ctx.dir(label);
  const db = join(dir, 'app.db');
  createEmptyDb(db);
  const phases = phaseSpecs(ctx, run.phases);
  let root: string;
  let accept: (rel: string) => boolean;
  let opener: (abs: string, rel: string) => Promise<Set<number>> | Set<number>;
  let stop: () => Promise<void>;
  if (run.tool === 'walcast') {
    const prefix = `run${index}`;
    const destination = run.dest === 's3' ? s3DestinationConfig(s3!, 's3', prefix) : undefined;
    const setup = writeAgentConfig(dir, [{ path: db, name: 'app' }], { settings: { syncIntervalMs: run.syncMs }, ...(destination ? { destination } : {}) });
    root = run.dest === 's3' ? join(s3!.dir, s3!.bucket, prefix) : setup.replicaDir;
    accept = run.dest === 's3' ? s3rverWalcastFiles : walcastFiles;
    const keyring = keyringOf(setup.config);
    opener = (abs, rel) => markersInWalcastObject(run.dest === 's3' ? s3rverObjectOf(abs) : abs, keyring, rel);
    const agent = await startAgent(ctx, setup.config);
    await waitUntil(() => filesUnder(root, run.dest === 's3' ? '.snap._S3rver_metadata.json' : '.snap').length > 0, 60_000, 'the first walcast snapshot');
    stop = () => stopAgent(agent);
  } else {
    const ls = writeLitestreamConfig(dir, db, run.syncMs);
    root = ls.replicaDir;
    accept = litestreamFiles;
    opener = (abs) => markersInLitestreamFile(abs);
    const p = await LitestreamProcess.start(ctx, ls);
    stop = () => p.stop();
  }
  const watcher = new ReplicaWatcher(root, accept).start();
  ctx.onCleanup(() => watcher.stop());
  let result: Awaited<ReturnType<typeof runWriter>>;
  try {
    // README: walcast wants the application's autocheckpoint off; Litestream runs with SQLite's default.
    result = await runWriter(ctx, writerSpec([db], join(dir, 'writer.json'), phases, run.tool === 'walcast' ? { autocheckpoint: 0 } : {}));
    await sleep(run.syncMs + ctx.pick({ smoke: 600, quick: 1000, full: 1500 })); // the last commits ship within one interval
  } finally {
    watcher.stop();
    await stop();
  }
  const seen = await firstSeen(watcher.appeared(), root, opener);
  const out: RunResult = {};
  for (const p of result.phases) {
    const stats = lagStats(result.commitMs, seen, p.first, p.count);
    out[p.name as PhaseName] = stats;
    // A transaction never seen in the replica would make the percentiles lie: say so loudly.
    if (stats.missing) ctx.notes.push(`WARNING: ${label}, ${p.name}: ${stats.missing} of ${stats.count} transactions never appeared in the destination`);
  }
  ctx.log(`${label}: ${Object.entries(out).map(([k, v]) => `${k} p50 ${v.p50?.toFixed(3)} p99 ${v.p99?.toFixed(3)} max ${v.max?.toFixed(3)}${v.missing ? ` missing ${v.missing}` : ''}`).join('; ')}`);
  return out;
}

/** The lag scenario. */
export const lag: Scenario = {
  name: 'lag',
  summary: 'commit → acknowledged lag p50/p99/max: 500 tx/s, 20 MB/s, 1 tx/s; file and S3; sync 1 s and 100 ms; vs litestream',
  async run(ctx) {
    const all: PhaseName[] = ['steady', 'bulk', 'sparse'];
    const runs: LagRun[] = ctx.pick<LagRun[]>({
      smoke: [
        { tool: 'walcast', dest: 'file', syncMs: 200, phases: ['steady', 'sparse'] },
        { tool: 'litestream', dest: 'file', syncMs: 200, phases: ['steady'] },
      ],
      quick: [
        { tool: 'walcast', dest: 'file', syncMs: 1000, phases: all },
        { tool: 'litestream', dest: 'file', syncMs: 1000, phases: all },
        { tool: 'walcast', dest: 's3', syncMs: 1000, phases: ['steady'] },
        { tool: 'walcast', dest: 'file', syncMs: 100, phases: ['steady'] },
        { tool: 'litestream', dest: 'file', syncMs: 100, phases: ['steady'] },
      ],
      full: [1000, 100].flatMap((syncMs) => [
        { tool: 'walcast' as const, dest: 'file' as const, syncMs, phases: all },
        { tool: 'litestream' as const, dest: 'file' as const, syncMs, phases: all },
        { tool: 'walcast' as const, dest: 's3' as const, syncMs, phases: all },
      ]),
    });
    const s3 = runs.some((r) => r.dest === 's3') ? await startS3rver({ bucket: 'walcast-bench' }) : null;
    if (s3) ctx.onCleanup(() => s3.stop());
    Object.assign(ctx.params, {
      runs: runs.map((r) => `${r.tool}/${r.dest}/sync ${r.syncMs} ms: ${r.phases.join(', ')}`),
      phases: phaseSpecs(ctx, all),
      walcastConfig: 'defaults (pollIntervalMs 250) with syncIntervalMs set',
      litestreamConfig: 'file replica, sync-interval = the run\'s; monitor-interval = sync-interval when below 1 s',
      walAutocheckpoint: { walcast: 0, litestream: 'SQLite default (1000)' },
      synchronous: 'NORMAL',
    });
    ctx.notes.push(
      'Lag = first appearance (fs.watch + 5 ms poll) of an object holding the transaction\'s marker − the writer\'s wall-clock commit time. File destinations acknowledge by rename; for S3 the object counts when s3rver has written its metadata file (after the object).',
      'S3 runs compare against Litestream replicating to a local folder at the same sync interval (Litestream is run to folders only).',
      'Sparse transactions arrive at exponential gaps (mean 1 s): at exactly 1 tx/s both tools would only show the phase of the writer against their 1 s timers.',
    );

    const results = new Map<string, RunResult>();
    for (const [i, r] of runs.entries()) results.set(`${r.tool}/${r.dest}/${r.syncMs}`, await runOnce(ctx, r, s3, i));

    const figures: Figure[] = [];
    for (const r of runs.filter((x) => x.tool === 'walcast')) {
      const w = results.get(`walcast/${r.dest}/${r.syncMs}`)!;
      const l = results.get(`litestream/file/${r.syncMs}`) ?? {};
      for (const phase of r.phases) {
        const ws = w[phase]!;
        const ls = l[phase];
        const base = `${phase}, ${r.dest}, sync ${r.syncMs} ms`;
        const details = { walcast: ws, litestream: ls ?? null };
        const p99Checks: Check[] = phase === 'sparse' ? [] : [{ kind: 'ratioMax', value: 1 }, { kind: 'max', value: (r.syncMs + 100) / 1000 }];
        const p50Checks: Check[] = phase === 'sparse' ? [{ kind: 'max', value: 0.1 }] : [];
        const id = `lag.${r.dest}.${r.syncMs}ms.${phase}`;
        const bn = ls ? 'litestream' : null;
        figures.push(figure({ id: `${id}.p50`, label: `lag p50, ${base}`, unit: 's', walcast: ws.p50, baseline: ls?.p50 ?? null, baselineName: bn, better: 'lower', checks: p50Checks, details }));
        figures.push(figure({ id: `${id}.p99`, label: `lag p99, ${base}`, unit: 's', walcast: ws.p99, baseline: ls?.p99 ?? null, baselineName: bn, better: 'lower', checks: ls || phase === 'sparse' ? p99Checks : p99Checks.filter((c) => c.kind === 'max') }));
        figures.push(figure({ id: `${id}.max`, label: `lag max, ${base}`, unit: 's', walcast: ws.max, baseline: ls?.max ?? null, baselineName: bn, better: 'lower' }));
      }
    }
    return figures;
  },
};
