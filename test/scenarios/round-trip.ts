/**
 * Round trip under real writers: the sqlite3 CLI, python3's sqlite3 module and
 * a Node process write (inserts, updates, deletes, schema changes, blobs up to
 * 1 MB, a transaction over 100 MB) while the agent runs. At quiet points the
 * live database is recorded (page-exact image and logical hash); afterwards
 * every recorded state is restored by timestamp and by txid, and the newest
 * restore equals the final state.
 */
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { AgentProcess, sleep, writeConfig } from '../helpers/agent.js';
import { assertSameDatabase, restoreOk, timeline, waitCaptured } from '../helpers/backups.js';
import { logicalHash, pageExactImage, sqliteCli } from '../helpers/sqlite.js';
import { tempDir } from '../helpers/tmp.js';
import { nodeWriter, python } from '../helpers/writers.js';

/** Options of the round trip. */
export interface RoundTripOptions {
  /** Destination entries for the config; default: one file destination named "local". */
  destinations?: (dir: string) => Record<string, unknown>[];
  /**
   * Destinations to restore from, each on its own (`--destination`); default:
   * the first. The first is checked by timestamp and by txid, the others by
   * timestamp (the same states, fewer restores).
   */
  restoreFrom?: string[];
}

interface QuietPoint {
  label: string;
  atMs: number;
  sha256: string;
  logical: string;
}

/** Runs the round trip; every recorded state must restore bit-exact from every named destination. */
export async function roundTrip(opts: RoundTripOptions = {}): Promise<void> {
  const dir = tempDir('roundtrip');
  const db = join(dir, 'app.db');
  sqliteCli(db, 'PRAGMA journal_mode=WAL;\n');
  const destinations = opts.destinations?.(dir);
  const config = writeConfig(dir, { overrides: { checkpoint: { minPages: 200 } }, ...(destinations ? { destinations } : {}) });
  const sources = opts.restoreFrom ?? [String(destinations?.[0]?.name ?? 'local')];
  const agent = await AgentProcess.start(config);
  const points: QuietPoint[] = [];
  const quiet = async (label: string): Promise<void> => {
    const img = pageExactImage(db);
    await waitCaptured(config, img.path); // every commit so far was observed, so a timestamp from now on covers them all
    points.push({ label, atMs: Date.now(), sha256: img.sha256, logical: logicalHash(img.path) });
    await sleep(300); // the next commits are observed strictly after this point
  };

  try {
    sqliteCli(db, `PRAGMA busy_timeout=5000;
      CREATE TABLE cli_items(id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER, note TEXT);
      WITH RECURSIVE s(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM s WHERE v < 2000)
      INSERT INTO cli_items(name, n, note) SELECT 'name-' || v, v, hex(randomblob(64)) FROM s;
    `);
    await quiet('cli inserts');
    sqliteCli(db, `PRAGMA busy_timeout=5000;
      UPDATE cli_items SET n = n * 2, note = upper(note) WHERE id % 3 = 0;
      DELETE FROM cli_items WHERE id % 7 = 0;
      CREATE INDEX cli_items_n ON cli_items(n);
      ALTER TABLE cli_items ADD COLUMN extra TEXT DEFAULT 'e';
    `);
    await quiet('cli updates, deletes, schema');
    python(db, 'mixed', '7', '60');
    await quiet('python mixed with 1 MB blobs');
    nodeWriter(db, ['bulk', '110']);
    await quiet('node 110 MB transaction');
    python(db, 'mixed', '8', '40');
    sqliteCli(db, 'PRAGMA busy_timeout=5000; DELETE FROM bulk WHERE id % 2 = 0; DROP INDEX cli_items_n;');
    await quiet('after the big transaction');
  } finally {
    assert.is(await agent.stop(), 0, 'agent stops cleanly');
  }
  const final = pageExactImage(db);
  const finalLogical = logicalHash(final.path);

  const { generations, commits } = await timeline(config);
  assert.is(generations.length, 1, 'one generation: nothing broke continuity');
  assert.ok(commits.length > 100, `many commits recorded (${commits.length})`);

  for (const src of sources) {
    const from = ['--destination', src];
    for (const [i, p] of points.entries()) {
      const byTime = join(dir, `${src}-t${i}.db`);
      const r = restoreOk(config, byTime, '--timestamp', new Date(p.atMs).toISOString(), ...from);
      assertSameDatabase(byTime, p, `${src}: timestamp restore of "${p.label}"`);
      const txid = commits.filter((c) => c.observedAtMs <= p.atMs).pop()!.txid;
      assert.is(r.txid, txid);
      if (src !== sources[0]) continue;
      const byTxid = join(dir, `${src}-x${i}.db`);
      restoreOk(config, byTxid, '--txid', String(txid), ...from);
      assertSameDatabase(byTxid, p, `${src}: txid restore of "${p.label}"`);
    }
    const latest = join(dir, `${src}-latest.db`);
    restoreOk(config, latest, ...from);
    assertSameDatabase(latest, { sha256: final.sha256, logical: finalLogical }, `${src}: latest restore`);
  }
}
