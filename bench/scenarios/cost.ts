/**
 * cost: what a destination is charged for: objects written per minute idle
 * and under a steady load (PUT requests), and bytes stored per WAL byte
 * written. walcast and Litestream run at the same time, each on its own copy
 * under an identical writer; objects are counted as they appear (fs.watch +
 * poll). WAL bytes come from a reference run of the same deterministic
 * writer with no tool and no checkpoint, so the whole WAL stays to be
 * measured. Targets: 0 idle; ≤ 60/min at sync 1 s; stored ≤ Litestream's.
 */
import { join } from 'node:path';
import { createEmptyDb } from '../lib/dbgen.js';
import { filesUnder } from '../lib/files.js';
import { LitestreamProcess, writeLitestreamConfig } from '../lib/litestream.js';
import { sleep, waitUntil } from '../lib/procs.js';
import { ReplicaWatcher } from '../lib/replica-watch.js';
import { figure } from '../lib/report.js';
import type { Scenario } from '../lib/scenario.js';
import { startAgent, stopAgent, writeAgentConfig } from '../lib/walcast.js';
import { runWriter, startWriter, writerSpec, type PhaseSpec } from '../lib/writer.js';

/** The cost scenario. */
export const cost: Scenario = {
  name: 'cost',
  summary: 'objects written per minute idle and under load, stored bytes per WAL byte; vs litestream',
  async run(ctx) {
    const idleSecs = ctx.pick({ smoke: 1, quick: 5, full: 60 });
    const loadSecs = ctx.pick({ smoke: 1, quick: 8, full: 60 });
    const rate = ctx.pick({ smoke: 100, quick: 500, full: 500 });
    const phases: PhaseSpec[] = [{ name: 'load', txPerSec: rate, count: rate * loadSecs, rowsPerTx: 1, rowBytes: 200 }];
    Object.assign(ctx.params, {
      idleSeconds: idleSecs, loadSeconds: loadSecs, load: `${rate} one-row transactions/s (200-byte realistic rows)`, syncIntervalMs: ctx.syncMs,
      walAutocheckpoint: { walcast: 0, litestream: 'SQLite default (1000)', reference: 0 },
    });
    ctx.notes.push(
      'Objects = files that appeared in the destination (temp files excluded) during the window; walcast writes one object per PUT, as does Litestream. The loaded rate is taken from 2 s into the load (steady state) from the spacing of the objects (n − 1 gaps from the first to the last; a count over a fixed window is off by up to one object); details hold the raw counts.',
      "Stored bytes = the WAL-carrying objects (walcast segments, Litestream .wal.lz4 files) that appeared from the load's start until both tools had shipped it; snapshots are counted separately.",
    );
    const wDir = ctx.dir('walcast');
    const lDir = ctx.dir('litestream');
    const wDb = join(wDir, 'app.db');
    const lDb = join(lDir, 'app.db');
    createEmptyDb(wDb);
    createEmptyDb(lDb);
    const setup = writeAgentConfig(wDir, [{ path: wDb, name: 'app' }], { settings: ctx.agentSettings });
    const ls = writeLitestreamConfig(lDir, lDb, ctx.syncMs);
    const [agent, lsProc] = await Promise.all([startAgent(ctx, setup.config), LitestreamProcess.start(ctx, ls)]);
    await waitUntil(() => filesUnder(setup.replicaDir, '.snap').length > 0, 60_000, 'the first walcast snapshot');
    const wWatch = new ReplicaWatcher(setup.replicaDir, (rel) => !rel.endsWith('.walcast-tmp')).start();
    const lWatch = new ReplicaWatcher(ls.replicaDir, (rel) => !rel.endsWith('.tmp')).start();
    ctx.onCleanup(() => (wWatch.stop(), lWatch.stop()));
    await sleep(ctx.pick({ smoke: 300, quick: 1500, full: 1500 })); // start-up objects settle before the idle window opens

    ctx.log(`idle for ${idleSecs} s`);
    const idleStart = Date.now();
    await sleep(idleSecs * 1000);
    const idleEnd = Date.now();
    ctx.log(`loading both at ${rate} tx/s for ${loadSecs} s`);
    const loadStart = Date.now();
    await Promise.all([
      startWriter(ctx, writerSpec([wDb], join(wDir, 'writer.json'), phases, { autocheckpoint: 0 })).done,
      startWriter(ctx, writerSpec([lDb], join(lDir, 'writer.json'), phases)).done,
    ]);
    const loadEnd = Date.now();
    await sleep(ctx.pick({ smoke: 1500, quick: 2500, full: 2500 }));
    const settled = Date.now();
    wWatch.stop();
    lWatch.stop();
    await Promise.all([stopAgent(agent), lsProc.stop()]);

    // The same writer with no tool and no checkpoint: its WAL holds every frame the load wrote.
    const rDir = ctx.dir('reference');
    const rDb = join(rDir, 'app.db');
    createEmptyDb(rDb);
    const ref = await runWriter(ctx, writerSpec([rDb], join(rDir, 'writer.json'), phases.map((p) => ({ ...p, txPerSec: 0 })), { autocheckpoint: 0 }));
    const walBytes = Math.max(0, ref.walBytes[0]! - 32);

    // Reported to 0.1/min: the first and last objects' upload times jitter by
    // a few ms, which moves a one-minute rate by a few hundredths.
    const tenth = (v: number) => Math.round(v * 10) / 10;
    const perMin = (w: ReplicaWatcher, from: number, to: number) => w.countBetween(from, to) / ((to - from) / 60_000);
    // Steady state: the first commit after the idle spell ships at once (by design), then one object per interval;
    // skipping the first 2 s keeps that one-off object from inflating a short window's rate.
    const steadyFrom = loadStart + Math.min(2000, (loadEnd - loadStart) / 4);
    const isSeg = (rel: string) => rel.endsWith('.seg');
    const isLsWal = (rel: string) => rel.endsWith('.wal.lz4');
    const wStored = wWatch.bytesBetween(loadStart, settled, isSeg);
    const lStored = lWatch.bytesBetween(loadStart, settled, isLsWal);
    const details = {
      walBytes, walcastSegmentBytes: wStored, litestreamWalBytes: lStored,
      walcastObjects: { idle: wWatch.countBetween(idleStart, idleEnd), load: wWatch.countBetween(loadStart, loadEnd) },
      litestreamObjects: { idle: lWatch.countBetween(idleStart, idleEnd), load: lWatch.countBetween(loadStart, loadEnd) },
      walcastSnapshotBytes: wWatch.bytesBetween(0, Infinity, (r) => r.endsWith('.snap')) || null,
    };
    ctx.log(`objects/min idle ${perMin(wWatch, idleStart, idleEnd)} vs ${perMin(lWatch, idleStart, idleEnd)}; load ${wWatch.ratePerMin(steadyFrom, loadEnd).toFixed(0)} vs ${lWatch.ratePerMin(steadyFrom, loadEnd).toFixed(0)}; stored ${wStored} vs ${lStored} of ${walBytes} WAL bytes`);
    return [
      figure({ id: 'cost.idle', label: 'objects written per minute, idle', unit: '/min', walcast: perMin(wWatch, idleStart, idleEnd), baseline: perMin(lWatch, idleStart, idleEnd), baselineName: 'litestream', better: 'lower', checks: [{ kind: 'max', value: 0 }] }),
      figure({ id: 'cost.load', label: `objects written per minute, ${rate} tx/s, sync ${ctx.syncMs / 1000} s`, unit: '/min', walcast: tenth(wWatch.ratePerMin(steadyFrom, loadEnd)), baseline: tenth(lWatch.ratePerMin(steadyFrom, loadEnd)), baselineName: 'litestream', better: 'lower', checks: [{ kind: 'max', value: 60_000 / ctx.syncMs }], details }),
      figure({ id: 'cost.storage', label: 'stored bytes / WAL bytes', unit: '', walcast: walBytes ? wStored / walBytes : null, baseline: walBytes ? lStored / walBytes : null, baselineName: 'litestream', better: 'lower', checks: [{ kind: 'ratioMax', value: 1 }], details }),
    ];
  },
};
