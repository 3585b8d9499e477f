/**
 * memory: the agent's peak RSS replicating a small and a large database
 * under load (initial snapshot included), and the restore tool's peak RSS
 * restoring the large one; baselines: a Node process that only imports the
 * agent's dependencies, each other, and Litestream (replicating and
 * restoring the same database after the same writes). Targets: agent and
 * restore ≤ 1.5× the import-only baseline; large/small ≤ 1.3; restore below
 * Litestream's restore after writes.
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ScenarioContext } from '../lib/context.js';
import { createFilledDb } from '../lib/dbgen.js';
import { filesUnder, removeDb, removeDbAndSettle, settle } from '../lib/files.js';
import { LitestreamProcess, restoreLitestream, writeLitestreamConfig } from '../lib/litestream.js';
import { programEnv } from '../../core/node-flags.js';
import { memoryOf, runTimed, sleep, waitUntil } from '../lib/procs.js';
import { figure } from '../lib/report.js';
import type { Scenario } from '../lib/scenario.js';
import { GiB, MiB } from '../lib/stats.js';
import { restoreWalcast, startAgent, stopAgent, writeAgentConfig } from '../lib/walcast.js';
import { startWriter, writerSpec, type PhaseSpec } from '../lib/writer.js';

/** The dependencies the agent loads, as the issue lists them. */
const DEPENDENCIES = ['better-sqlite3', 'lz4-napi', 'msgpackr', 'pino', 'prom-client', 'p-queue', 'zod', '@node-rs/xxhash'];

/** Peak RSS (MiB) of a Node process that imports the dependencies and stays up a moment. */
async function importOnlyRss(ctx: ScenarioContext): Promise<number | null> {
  // Resolved here (inside the repository), so the script may live in any scratch folder.
  const urls = DEPENDENCIES.map((d) => import.meta.resolve(d));
  const script = join(ctx.workDir, 'imports-only.mjs');
  writeFileSync(script, `${urls.map((u, i) => `import * as m${i} from '${u}';`).join('\n')}\nvoid [${urls.map((_, i) => `m${i}`).join(', ')}];\nsetTimeout(() => {}, 300);\n`);
  const r = await runTimed(ctx, process.execPath, [script], { env: programEnv() }); // as the programs run
  if (r.code !== 0) throw new Error(`import-only baseline failed: ${r.stderr}`);
  return r.peakRssMiB;
}

function size(bytes: number): string {
  return bytes >= GiB ? `${bytes / GiB} GiB` : `${bytes / MiB} MiB`;
}

/** The memory scenario. */
export const memory: Scenario = {
  name: 'memory',
  summary: 'agent peak RSS (small and large db under load) and restore peak RSS vs import-only node and litestream',
  async run(ctx) {
    const small = ctx.pick({ smoke: 4 * MiB, quick: 64 * MiB, full: 64 * MiB });
    const large = ctx.pick({ smoke: 16 * MiB, quick: 512 * MiB, full: 4 * GiB });
    const loadSecs = ctx.pick({ smoke: 0.5, quick: 5, full: 30 });
    const rate = ctx.pick({ smoke: 100, quick: 500, full: 500 });
    const phases: PhaseSpec[] = [{ name: 'load', txPerSec: rate, count: rate * loadSecs, rowsPerTx: 1, rowBytes: 1024, updates: 4 }];
    Object.assign(ctx.params, {
      smallDbBytes: small, largeDbBytes: large, load: `${rate} tx/s for ${loadSecs} s, each 1 insert of 1 KiB + 4 random row updates`,
      baselineImports: DEPENDENCIES, walAutocheckpoint: { walcast: 0, litestream: 'SQLite default (1000)' },
      ...(ctx.mode !== 'full' ? { sizeNote: `${ctx.mode} mode: ${size(small)} and ${size(large)} instead of 64 MiB and 4 GiB` } : {}),
    });
    ctx.notes.push(
      'Agent peak RSS = VmHWM of the agent process read at the end of the load, so it includes the initial snapshot of the database.',
      'Restore peak RSS = ru_maxrss of the restore command (/usr/bin/time). Litestream replicates its own copy under an identical writer, at the same time.',
      'The import-only baseline imports exactly the listed packages, in the environment the programs run with (MALLOC_ARENA_MAX=1); the agent loads the SDK of a storage backend only for a destination of that type, so here (folder destinations) it loads neither the S3 nor the Azure SDK.',
    );
    const baseline = await importOnlyRss(ctx);
    ctx.log(`import-only node: ${baseline?.toFixed(0)} MiB`);

    // Small database: the agent alone.
    const sDir = ctx.dir('small');
    const sDb = join(sDir, 'app.db');
    createFilledDb(sDb, small);
    const sSetup = writeAgentConfig(sDir, [{ path: sDb, name: 'app' }], { settings: ctx.agentSettings });
    const sAgent = await startAgent(ctx, sSetup.config);
    await startWriter(ctx, writerSpec([sDb], join(sDir, 'writer.json'), phases, { autocheckpoint: 0 })).done;
    await sleep(ctx.pick({ smoke: 300, quick: 1000, full: 1500 }));
    const smallRss = memoryOf(sAgent.child.pid!)?.hwmMiB ?? null;
    await stopAgent(sAgent);
    ctx.log(`agent, ${size(small)}: ${smallRss?.toFixed(0)} MiB`);

    // Large database: walcast and Litestream side by side, each on its own copy.
    const lDir = ctx.dir('large');
    const lsDir = ctx.dir('large-litestream');
    const lDb = join(lDir, 'app.db');
    const lsDb = join(lsDir, 'app.db');
    ctx.log(`building a ${size(large)} database`);
    createFilledDb(lDb, large);
    copyFileSync(lDb, lsDb);
    settle(lsDb);
    const lSetup = writeAgentConfig(lDir, [{ path: lDb, name: 'app' }], { settings: ctx.agentSettings });
    const ls = writeLitestreamConfig(lsDir, lsDb, ctx.syncMs);
    const [lAgent, lsProc] = await Promise.all([startAgent(ctx, lSetup.config), LitestreamProcess.start(ctx, ls, 600_000)]);
    await waitUntil(() => filesUnder(lSetup.replicaDir, '.snap').length > 0, 600_000, 'the walcast snapshot upload');
    await Promise.all([
      startWriter(ctx, writerSpec([lDb], join(lDir, 'writer.json'), phases, { autocheckpoint: 0 })).done,
      startWriter(ctx, writerSpec([lsDb], join(lsDir, 'writer.json'), phases)).done,
    ]);
    await sleep(ctx.pick({ smoke: 300, quick: 1500, full: 2500 }));
    const largeRss = memoryOf(lAgent.child.pid!)?.hwmMiB ?? null;
    const lsRss = memoryOf(lsProc.pid)?.hwmMiB ?? null;
    await Promise.all([stopAgent(lAgent), lsProc.stop()]);
    ctx.log(`agent, ${size(large)}: ${largeRss?.toFixed(0)} MiB; litestream ${lsRss?.toFixed(0)} MiB`);

    // The databases are no longer needed: free the disk before restoring.
    removeDb(lDb);
    removeDbAndSettle(lsDb);
    const out = join(ctx.dir('out'), 'restored.db');
    const wRestore = await restoreWalcast(ctx, lSetup.config, out);
    removeDbAndSettle(out);
    const lRestore = await restoreLitestream(ctx, ls, out);
    removeDbAndSettle(out);
    ctx.log(`restore ${size(large)}: walcast ${wRestore.peakRssMiB?.toFixed(0)} MiB, litestream ${lRestore.peakRssMiB?.toFixed(0)} MiB`);

    const below = wRestore.peakRssMiB !== null && lRestore.peakRssMiB !== null ? wRestore.peakRssMiB < lRestore.peakRssMiB : null;
    return [
      figure({ id: 'memory.agent.small', label: `agent peak RSS, ${size(small)} db under load`, unit: 'MiB', walcast: smallRss, baseline, baselineName: 'node importing deps', better: 'lower', checks: [{ kind: 'ratioMax', value: 1.5 }] }),
      figure({ id: 'memory.agent.large', label: `agent peak RSS, ${size(large)} db under load`, unit: 'MiB', walcast: largeRss, baseline, baselineName: 'node importing deps', better: 'lower', checks: [{ kind: 'ratioMax', value: 1.5 }] }),
      figure({ id: 'memory.agent.scale', label: `agent peak RSS, ${size(large)} / ${size(small)}`, unit: 'MiB', walcast: largeRss, baseline: smallRss, baselineName: `agent, ${size(small)}`, better: 'lower', checks: [{ kind: 'ratioMax', value: 1.3 }] }),
      figure({ id: 'memory.agent.litestream', label: `agent peak RSS, ${size(large)}, vs litestream replicate`, unit: 'MiB', walcast: largeRss, baseline: lsRss, baselineName: 'litestream', better: 'lower' }),
      figure({ id: 'memory.restore', label: `restore peak RSS, ${size(large)} after writes`, unit: 'MiB', walcast: wRestore.peakRssMiB, baseline, baselineName: 'node importing deps', better: 'lower', checks: [{ kind: 'ratioMax', value: 1.5 }] }),
      figure({
        id: 'memory.restore.litestream', label: `restore peak RSS, ${size(large)}, vs litestream restore`, unit: 'MiB', walcast: wRestore.peakRssMiB, baseline: lRestore.peakRssMiB,
        baselineName: 'litestream', better: 'lower', checks: [{ kind: 'custom', text: "< litestream's", met: below }],
        details: { walcastRestoreSeconds: wRestore.ms / 1000, litestreamRestoreSeconds: lRestore.ms / 1000 },
      }),
    ];
  },
};
