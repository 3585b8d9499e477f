/**
 * Crashes: under a continuous writer (one row per transaction), the agent is
 * killed with SIGKILL at random moments (capture, upload, snapshot and
 * checkpoint all run often here) 20 times, then runs once more cleanly.
 * Afterwards every transaction committed while the agent was up must be
 * restorable, every restore must hold exactly the rows it should, verify must
 * prove every commit's checksum, and the newest restore must equal the live
 * database byte for byte.
 *
 * The application leaves checkpoints to walcast (wal_autocheckpoint=0), as the
 * README recommends for lossless history across agent crashes: otherwise the
 * application itself may restart the WAL while the agent is down.
 */
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { AgentProcess, restoreCli, sleep, writeConfig } from '../helpers/agent.js';
import { assertSameDatabase, restoreOk as restoreFrom, timeline } from '../helpers/backups.js';
import { logicalHash, pageExactImage, sqliteCli } from '../helpers/sqlite.js';
import { tempDir } from '../helpers/tmp.js';
import { SeqWriter } from '../helpers/writers.js';

/** Options of the crash loop. */
export interface CrashOptions {
  kills?: number;
  destinations?: (dir: string) => Record<string, unknown>[];
  /** Destination to restore from (default: the first). */
  restoreFrom?: string;
}

/** Rows of the seq table of a restored file: count, min, max, and whether every value is the one its id implies. */
function rowsOf(path: string): { count: number; max: number; ok: boolean } {
  const db = new Database(path, { readonly: true });
  try {
    const r = db.prepare("SELECT count(*) AS count, coalesce(min(id), 0) AS min, coalesce(max(id), 0) AS max, sum(v = 'value-' || id || '-' || substr('" + 'x'.repeat(200) + "', 1, id % 200)) AS good FROM seq").get() as { count: number; min: number; max: number; good: number | null };
    return { count: r.count, max: r.max, ok: r.count === r.max && (r.count === 0 || (r.min === 1 && r.good === r.count)) };
  } finally {
    db.close();
  }
}

/** Runs the crash loop and checks every transaction is restorable. */
export async function crashLoop(opts: CrashOptions = {}): Promise<void> {
  const KILLS = opts.kills ?? Number(process.env.WALCAST_CRASH_KILLS ?? 20);
  const dir = tempDir('crash');
  const db = join(dir, 'app.db');
  sqliteCli(db, "PRAGMA journal_mode=WAL; CREATE TABLE seq(id INTEGER PRIMARY KEY, v TEXT NOT NULL);\n");
  const destinations = opts.destinations?.(dir);
  const config = writeConfig(dir, { overrides: { snapshotIntervalMs: 1000, checkpoint: { minPages: 60 } }, ...(destinations ? { destinations } : {}) });
  const from = ['--destination', opts.restoreFrom ?? String(destinations?.[0]?.name ?? 'local')];
  const restoreOk = (cfg: string, out: string, ...args: string[]) => restoreFrom(cfg, out, ...args, ...from);
  const writer = SeqWriter.start(db, 1_000_000, 4, { WRITER_AUTOCHECKPOINT: '0' });
  const up: [number, number][] = [];
  const work = { checkpoints: 0, snapshots: 0, lastBeforeKill: new Map<string, number>() };
  let rnd = 12345;
  const random = (): number => ((rnd = (rnd * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  try {
    for (let i = 0; i < KILLS; i++) {
      const agent = await AgentProcess.start(config);
      const from = Date.now();
      await sleep(250 + random() * 1100);
      up.push([from, Date.now()]);
      await agent.kill();
      writeFileSync(join(dir, `agent-${i}.log`), agent.logs.map((l) => JSON.stringify(l)).join('\n'));
      work.checkpoints += agent.lines('checkpoint').length;
      work.snapshots += agent.lines('snapshot staged').length;
      const last = String(agent.logs[agent.logs.length - 1]?.msg ?? '');
      work.lastBeforeKill.set(last, (work.lastBeforeKill.get(last) ?? 0) + 1);
      await sleep(30 + random() * 300);
    }
    const agent = await AgentProcess.start(config);
    const from = Date.now();
    await sleep(1500);
    await writer.stop();
    await sleep(700);
    up.push([from, Date.now()]);
    assert.is(await agent.stop(), 0, 'the final run stops cleanly');
  } finally {
    await writer.stop().catch(() => {});
  }
  console.log(`kills: ${KILLS}; checkpoints run while killed agents were up: ${work.checkpoints}; snapshots staged: ${work.snapshots}; last log line before each kill: ${JSON.stringify(Object.fromEntries(work.lastBeforeKill))}`);
  assert.ok(work.checkpoints > 0 && work.snapshots > 0, 'kills happened among checkpoints and snapshots');
  const live = pageExactImage(db);
  const { generations, commits } = await timeline(config, from[1]);
  assert.ok(writer.commits.size > 500, `the writer committed many transactions (${writer.commits.size})`);

  // Every generation is a contiguous run of states: from its base snapshot, one row per commit.
  const covered: [number, number][] = [];
  for (const g of generations) {
    const base = join(dir, `base-${g.id}.db`);
    restoreOk(config, base, '--generation', g.id, '--txid', '0');
    const b = rowsOf(base);
    assert.ok(b.ok, `base snapshot of ${g.id} holds exactly rows 1..${b.max}`);
    const n = commits.filter((c) => c.generation === g.id).length;
    const last = join(dir, `last-${g.id}.db`);
    const lr = restoreOk(config, last, '--generation', g.id, '--txid', String(n));
    const l = rowsOf(last);
    assert.ok(l.ok, `newest state of ${g.id} holds exactly rows 1..${l.max}`);
    assert.is(l.max - b.max, n, `each commit of ${g.id} added one row`);
    assert.is(lr.txid, n);
    covered.push([b.max, l.max]);
    // A few states in between hold exactly what they should.
    for (let k = 0; k < 3 && n > 1; k++) {
      const t = 1 + Math.floor(random() * (n - 1));
      const mid = join(dir, `mid-${g.id}-${t}.db`);
      restoreOk(config, mid, '--generation', g.id, '--txid', String(t));
      const m = rowsOf(mid);
      assert.ok(m.ok && m.max === b.max + t, `txid ${t} of ${g.id} holds rows 1..${b.max + t} (got ${m.max})`);
    }
  }
  const restorable = (k: number): boolean => covered.some(([lo, hi]) => k >= lo && k <= hi);
  const whileUp = [...writer.commits].filter(([, t]) => up.some(([a, b]) => t >= a && t <= b)).map(([k]) => k);
  const missing = whileUp.filter((k) => !restorable(k));
  assert.equal(missing.slice(0, 10), [], `${missing.length} transactions committed while the agent was up are not restorable`);
  // With checkpoints left to walcast, even transactions committed while it was down are kept
  // (all but those before the first start, which the first snapshot holds as one state).
  const lost = [...writer.commits].filter(([k, t]) => t > up[0]![0] && !restorable(k)).map(([k]) => k);
  assert.equal(lost.slice(0, 10), [], `${lost.length} committed transactions are not restorable at all`);
  assert.is(generations.length, 1, 'every restart proved continuity');

  const v = restoreCli('verify', '--config', config, '--json', ...from);
  assert.is(v.code, 0, `verify proves every commit:\n${v.stdout}\n${v.stderr}`);
  const latest = join(dir, 'latest.db');
  restoreOk(config, latest);
  assertSameDatabase(latest, { sha256: live.sha256, logical: logicalHash(live.path) }, 'newest restore after the crashes');
}
