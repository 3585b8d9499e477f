/**
 * fan-in: one agent replicating 100 databases, against one agent
 * replicating one: CPU (user + system, from /proc) and RSS, idle and under a
 * light load of the same rate per database. Recorded, no target: it shows
 * what each extra database costs.
 */
import { join } from 'node:path';
import type { AgentProcess } from '../../test/helpers/agent.js';
import type { ScenarioContext } from '../lib/context.js';
import { createEmptyDb } from '../lib/dbgen.js';
import { cpuSecondsOf, memoryOf, sleep } from '../lib/procs.js';
import { figure } from '../lib/report.js';
import type { Scenario } from '../lib/scenario.js';
import { startAgent, stopAgent, writeAgentConfig } from '../lib/walcast.js';
import { runWriter, writerSpec } from '../lib/writer.js';

/** CPU use and memory of one agent over an idle and a loaded window. */
interface AgentCost {
  startS: number;
  idleCpuPct: number;
  loadCpuPct: number;
  rssMiB: number;
  hwmMiB: number;
}

async function cpuOver(agent: AgentProcess, run: () => Promise<unknown>): Promise<number> {
  const pid = agent.child.pid!;
  const c0 = cpuSecondsOf(pid)!;
  const t0 = performance.now();
  await run();
  const c1 = cpuSecondsOf(pid)!;
  return ((c1 - c0) / ((performance.now() - t0) / 1000)) * 100;
}

async function measure(ctx: ScenarioContext, n: number, idleSecs: number, loadSecs: number, perDbTxPerSec: number): Promise<AgentCost> {
  const dir = ctx.dir(`dbs-${n}`);
  const dbs = Array.from({ length: n }, (_, i) => ({ path: join(dir, `db${String(i).padStart(3, '0')}.db`), name: `db${String(i).padStart(3, '0')}` }));
  for (const d of dbs) createEmptyDb(d.path);
  const setup = writeAgentConfig(dir, dbs, { settings: ctx.agentSettings });
  const t = performance.now();
  const agent = await startAgent(ctx, setup.config);
  const startS = (performance.now() - t) / 1000;
  try {
    await sleep(ctx.mode === 'smoke' ? 300 : 2000); // first snapshots upload and the agent settles
    const idleCpuPct = await cpuOver(agent, () => sleep(idleSecs * 1000));
    const rate = perDbTxPerSec * n;
    const phases = [{ name: 'load', txPerSec: rate, count: Math.round(rate * loadSecs), rowsPerTx: 1, rowBytes: 200 }];
    const loadCpuPct = await cpuOver(agent, () => runWriter(ctx, writerSpec(dbs.map((d) => d.path), join(dir, 'writer.json'), phases, { autocheckpoint: 0 })));
    const m = memoryOf(agent.child.pid!)!;
    ctx.log(`${n} database(s): start ${startS.toFixed(1)} s, idle CPU ${idleCpuPct.toFixed(1)} %, load CPU ${loadCpuPct.toFixed(1)} %, RSS ${m.rssMiB.toFixed(0)} MiB (peak ${m.hwmMiB.toFixed(0)})`);
    return { startS, idleCpuPct, loadCpuPct, rssMiB: m.rssMiB, hwmMiB: m.hwmMiB };
  } finally {
    await stopAgent(agent);
  }
}

/** The fan-in scenario. */
export const fanIn: Scenario = {
  name: 'fan-in',
  summary: '100 databases in one agent: CPU and RSS vs one database',
  async run(ctx) {
    const n = ctx.pick({ smoke: 2, quick: 10, full: 100 });
    const idleSecs = ctx.pick({ smoke: 0.5, quick: 2, full: 20 });
    const loadSecs = ctx.pick({ smoke: 0.5, quick: 3, full: 20 });
    const perDb = 2;
    Object.assign(ctx.params, { databases: n, idleSeconds: idleSecs, loadSeconds: loadSecs, loadPerDatabase: `${perDb} one-row tx/s`, config: 'walcast defaults, one file destination, sqliteWorkers 1' });
    ctx.notes.push('CPU % = (user + system seconds of the agent process) / wall seconds × 100 over the window (100 % = one core). RSS read at the end of the load.');
    if (n !== 100) ctx.notes.push(`${ctx.mode} mode: ${n} databases instead of 100 (the agent starts databases one after another, about a second each).`);
    const one = await measure(ctx, 1, idleSecs, loadSecs, perDb);
    const many = await measure(ctx, n, idleSecs, loadSecs, perDb);
    const per = (x: number) => x / n;
    return [
      figure({ id: 'fan-in.idle-cpu', label: `agent CPU idle, ${n} dbs vs 1`, unit: '%', walcast: many.idleCpuPct, baseline: one.idleCpuPct, baselineName: '1 db', better: 'lower' }),
      figure({ id: 'fan-in.load-cpu', label: `agent CPU, ${perDb} tx/s per db, ${n} dbs vs 1`, unit: '%', walcast: many.loadCpuPct, baseline: one.loadCpuPct, baselineName: '1 db', better: 'lower', details: { perDatabasePct: per(many.loadCpuPct) } }),
      figure({ id: 'fan-in.rss', label: `agent RSS under load, ${n} dbs vs 1`, unit: 'MiB', walcast: many.rssMiB, baseline: one.rssMiB, baselineName: '1 db', better: 'lower', details: { peakMiB: { many: many.hwmMiB, one: one.hwmMiB }, perExtraDatabaseMiB: (many.rssMiB - one.rssMiB) / Math.max(1, n - 1) } }),
      figure({ id: 'fan-in.start', label: `agent start-up, ${n} dbs vs 1`, unit: 's', walcast: many.startS, baseline: one.startS, baselineName: '1 db', better: 'lower' }),
    ];
  },
};
