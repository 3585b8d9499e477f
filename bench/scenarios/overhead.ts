/**
 * overhead: the application's write throughput with the agent running, as a
 * share of the same writer alone, beside the same share with Litestream.
 * Workloads: a steady 500 tx/s writer (and its commit latency), a flat-out
 * writer of one-row transactions, and a flat-out writer of 100 × 1 KB-row
 * transactions. The same writer (SQLite's default autocheckpoint) runs in
 * every configuration; in full mode two more run beside walcast: one with
 * autocheckpoint off, as the README advises, and one with the agent at
 * cpuNice 10. Configurations alternate in a rotating order, each
 * on a fresh database; medians over rounds.
 * Targets: steady ≥ 0.98; flat-out ≥ 0.9 and above Litestream's ratio.
 */
import { join } from 'node:path';
import type { ScenarioContext } from '../lib/context.js';
import { createEmptyDb } from '../lib/dbgen.js';
import { filesUnder } from '../lib/files.js';
import { LitestreamProcess, writeLitestreamConfig } from '../lib/litestream.js';
import { waitUntil } from '../lib/procs.js';
import { figure, type Figure } from '../lib/report.js';
import type { Scenario } from '../lib/scenario.js';
import { median, ratio } from '../lib/stats.js';
import { startAgent, stopAgent, writeAgentConfig } from '../lib/walcast.js';
import { runWriter, writerSpec, type PhaseResult, type PhaseSpec } from '../lib/writer.js';

/**
 * `walcast-ac0`: beside walcast with the application's autocheckpoint off, as the README recommends.
 * `walcast-nice`: beside walcast with `cpuNice: 10` (off by default).
 */
type Config = 'alone' | 'walcast' | 'litestream' | 'walcast-ac0' | 'walcast-nice';
const CONFIGS: readonly Config[] = ['alone', 'walcast', 'litestream', 'walcast-ac0', 'walcast-nice'];
/** Configurations run in full mode only (smoke and quick keep to their time budget). */
const FULL_ONLY: readonly Config[] = ['walcast-ac0', 'walcast-nice'];

/** Per configuration and phase: transactions per second of each round, and steady commit latency p99. */
type Samples = Record<Config, { rates: Record<string, number[]>; p99: number[] }>;

async function runConfig(ctx: ScenarioContext, config: Config, round: number, phases: PhaseSpec[]): Promise<PhaseResult[]> {
  const dir = ctx.dir(`${config}-${round}`);
  const db = join(dir, 'app.db');
  createEmptyDb(db);
  let stop = async (): Promise<void> => {};
  if (config.startsWith('walcast')) {
    const settings = config === 'walcast-nice' ? { ...ctx.agentSettings, cpuNice: 10 } : ctx.agentSettings;
    const setup = writeAgentConfig(dir, [{ path: db, name: 'app' }], { settings });
    const agent = await startAgent(ctx, setup.config);
    await waitUntil(() => filesUnder(setup.replicaDir, '.snap').length > 0, 60_000, 'the first walcast snapshot');
    stop = () => stopAgent(agent);
  } else if (config === 'litestream') {
    const p = await LitestreamProcess.start(ctx, writeLitestreamConfig(dir, db, ctx.syncMs));
    stop = () => p.stop();
  }
  try {
    // The same writer everywhere (SQLite's default autocheckpoint), except walcast-ac0: the README's advice.
    const r = await runWriter(ctx, writerSpec([db], join(dir, 'writer.json'), phases, config === 'walcast-ac0' ? { autocheckpoint: 0 } : {}));
    return r.phases;
  } finally {
    await stop();
  }
}

/** The overhead scenario. */
export const overhead: Scenario = {
  name: 'overhead',
  summary: 'application write throughput beside the agent vs alone and vs beside litestream',
  async run(ctx) {
    const rounds = ctx.pick({ smoke: 1, quick: 1, full: 3 }); // three, so the median is a middle value, not the lower of two
    const steadySecs = ctx.pick({ smoke: 0.5, quick: 2, full: 10 });
    const steadyRate = ctx.pick({ smoke: 100, quick: 500, full: 500 });
    const oneRow = ctx.pick({ smoke: 2000, quick: 20_000, full: 200_000 });
    const hundredRows = ctx.pick({ smoke: 20, quick: 200, full: 2000 });
    const pause = ctx.pick({ smoke: 300, quick: 1000, full: 2000 });
    const phases: PhaseSpec[] = [
      { name: 'steady', txPerSec: steadyRate, count: steadyRate * steadySecs, rowsPerTx: 1, rowBytes: 200, pauseAfterMs: pause },
      { name: 'flat-1', txPerSec: 0, count: oneRow, rowsPerTx: 1, rowBytes: 100, pauseAfterMs: pause },
      { name: 'flat-100', txPerSec: 0, count: hundredRows, rowsPerTx: 100, rowBytes: 1024 },
    ];
    Object.assign(ctx.params, {
      rounds, phases, synchronous: 'NORMAL', busyTimeoutMs: 5000,
      walAutocheckpoint: { alone: 'SQLite default (1000)', walcast: 'SQLite default (1000)', litestream: 'SQLite default (1000)', 'walcast-ac0': 0, 'walcast-nice': 'SQLite default (1000)' },
      walcastConfig: ctx.mode === 'smoke' ? 'defaults with syncIntervalMs 200 (smoke)' : 'defaults (sync 1 s, poll 250 ms, checkpoint.minPages 1000, cpuNice 0); walcast-nice: cpuNice 10', litestreamConfig: `file replica, sync-interval ${ctx.syncMs} ms`,
    });
    ctx.notes.push(
      'Throughput = transactions / wall time of the phase, measured inside the writer process. Each configuration runs on a fresh database; the order rotates every round.',
      'flat-1 inserts one ~100-byte row per transaction; flat-100 inserts 100 rows of 1 KB per transaction.',
      "With SQLite's default autocheckpoint, every commit past 1000 WAL frames also tries a checkpoint, which a replicator's held read makes fail: beside walcast the flat-1 writer makes about 10 lock calls (fcntl) per commit instead of 6, at about 1.25 µs each on this machine, about a fifth of its time alone.",
    );

    const samples = Object.fromEntries(CONFIGS.map((c) => [c, { rates: {}, p99: [] }])) as unknown as Samples;
    for (let round = 0; round < rounds; round++) {
      const configs = ctx.mode === 'full' ? CONFIGS : CONFIGS.filter((c) => !FULL_ONLY.includes(c));
      const order = configs.map((_, i) => configs[(i + round) % configs.length]!);
      for (const config of order) {
        const res = await runConfig(ctx, config, round, phases);
        for (const p of res) (samples[config].rates[p.name] ??= []).push(p.count / (p.elapsedMs / 1000));
        const steady = res.find((p) => p.name === 'steady');
        if (steady?.latency.p99 != null) samples[config].p99.push(steady.latency.p99);
        ctx.log(`round ${round + 1} ${config}: ${res.map((p) => `${p.name} ${Math.round(p.count / (p.elapsedMs / 1000))} tx/s`).join(', ')}`);
      }
    }
    const rate = (c: Config, phase: string) => median(samples[c].rates[phase] ?? []);
    const figures: Figure[] = [];
    const labels: Record<string, string> = { steady: `steady ${steadyRate} tx/s`, 'flat-1': `flat-out ${oneRow.toLocaleString('en-US')} one-row tx`, 'flat-100': `flat-out ${hundredRows.toLocaleString('en-US')} tx of 100 × 1 KB` };
    for (const phase of ['steady', 'flat-1', 'flat-100']) {
      const lsRatio = ratio(rate('litestream', phase), rate('alone', phase));
      const checks =
        phase === 'steady'
          ? [{ kind: 'ratioMin' as const, value: 0.98 }]
          : [
              { kind: 'ratioMin' as const, value: 0.9 },
              { kind: 'custom' as const, text: `> litestream's ratio (${lsRatio?.toFixed(2) ?? '–'})`, met: lsRatio === null || ratio(rate('walcast', phase), rate('alone', phase)) === null ? null : ratio(rate('walcast', phase), rate('alone', phase))! > lsRatio },
            ];
      const details = { samples: Object.fromEntries(CONFIGS.map((c) => [c, samples[c].rates[phase]])), litestreamRatio: lsRatio };
      figures.push(figure({ id: `overhead.${phase}`, label: `${labels[phase]}, beside walcast`, unit: 'tx/s', walcast: rate('walcast', phase), baseline: rate('alone', phase), baselineName: 'alone', better: 'higher', checks, details }));
      figures.push(figure({ id: `overhead.${phase}.litestream`, label: `${labels[phase]}, walcast vs litestream`, unit: 'tx/s', walcast: rate('walcast', phase), baseline: rate('litestream', phase), baselineName: 'beside litestream', better: 'higher' }));
    }
    for (const phase of ctx.mode === 'full' ? ['steady', 'flat-1', 'flat-100'] : []) {
      figures.push(figure({ id: `overhead.${phase}.ac0`, label: `${labels[phase]}, beside walcast, app autocheckpoint off`, unit: 'tx/s', walcast: rate('walcast-ac0', phase), baseline: rate('alone', phase), baselineName: 'alone', better: 'higher' }));
      figures.push(figure({ id: `overhead.${phase}.nice`, label: `${labels[phase]}, beside walcast at cpuNice 10`, unit: 'tx/s', walcast: rate('walcast-nice', phase), baseline: rate('alone', phase), baselineName: 'alone', better: 'higher' }));
    }
    figures.splice(1, 0, figure({ id: 'overhead.steady.latency', label: 'steady commit latency p99', unit: 'ms', walcast: median(samples.walcast.p99), baseline: median(samples.alone.p99), baselineName: 'alone', better: 'lower', details: { litestream: median(samples.litestream.p99) } }));
    return figures;
  },
};
