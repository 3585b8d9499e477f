/**
 * Outage: under continuous writes the S3 server is stopped for 60 s and
 * restarted. No transaction may be lost, the agent must catch up, the
 * application must never block, and the local-folder destination must stay
 * current throughout.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { AgentProcess, sleep, writeConfig } from '../helpers/agent.js';
import { assertSameDatabase, restoreOk } from '../helpers/backups.js';
import { s3DestinationConfig, startS3rver } from '../helpers/servers.js';
import { logicalHash, pageExactImage, sqliteCli } from '../helpers/sqlite.js';
import { tempDir } from '../helpers/tmp.js';
import { SeqWriter } from '../helpers/writers.js';

const test = suite('outage');
const OUTAGE_MS = Number(process.env.WALCAST_OUTAGE_MS ?? 60_000);

async function lags(port: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^walcast_replication_lag_seconds\{db="app",destination="([^"]+)"\} (\S+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

test(`S3 down for ${OUTAGE_MS / 1000} s under writes: nothing lost, the file destination stays current, the application never blocks`, async () => {
  const dir = tempDir('outage');
  const db = join(dir, 'app.db');
  sqliteCli(db, 'PRAGMA journal_mode=WAL; CREATE TABLE seq(id INTEGER PRIMARY KEY, v TEXT NOT NULL);\n');
  let s3 = await startS3rver();
  const config = writeConfig(dir, {
    destinations: [{ name: 'local', type: 'file', path: join(dir, 'replica') }, s3DestinationConfig(s3, 's3', 'outage')],
    overrides: { metrics: { listen: '127.0.0.1:0' }, syncIntervalMs: 500 },
  });
  const agent = await AgentProcess.start(config);
  const port = Number((await agent.waitFor((l) => l.msg === 'metrics and health listening')).port);
  const writer = SeqWriter.start(db, 1_000_000, 10);
  try {
    await sleep(2000);
    await s3.stop();
    const downFrom = Date.now();
    let worstLocal = 0;
    while (Date.now() - downFrom < OUTAGE_MS) {
      await sleep(2500);
      const l = await lags(port);
      worstLocal = Math.max(worstLocal, l.local!);
    }
    const downTo = Date.now();
    const s3LagAtEnd = (await lags(port)).s3!;
    s3 = await startS3rver({ port: s3.port, dir: s3.dir, bucket: s3.bucket });
    const upAt = Date.now();
    for (;;) {
      if ((await lags(port)).s3! < 2) break;
      if (Date.now() - upAt > 45_000) assert.unreachable(`S3 did not catch up: ${JSON.stringify(await lags(port))}`);
      await sleep(500);
    }
    const caughtUpMs = Date.now() - upAt;
    await writer.stop();
    await sleep(1500);

    assert.ok(worstLocal < 2.5, `the file destination stayed current (worst lag ${worstLocal.toFixed(2)} s)`);
    assert.ok(s3LagAtEnd > (OUTAGE_MS / 1000) * 0.8, `S3 lag grew through the outage (${s3LagAtEnd.toFixed(1)} s)`);
    // The application never blocked: commits kept their pace through the outage.
    const times = [...writer.commits.values()].filter((t) => t >= downFrom && t <= downTo).sort((a, b) => a - b);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    assert.ok(times.length > (OUTAGE_MS / 1000) * 20, `the writer kept committing (${times.length} commits while S3 was down)`);
    assert.ok(Math.max(...gaps) < 1000, `longest pause between commits ${Math.max(...gaps)} ms`);
    console.log(`outage: ${times.length} commits while down, longest pause ${Math.max(...gaps)} ms, S3 lag ${s3LagAtEnd.toFixed(1)} s at the end, caught up in ${caughtUpMs} ms`);
  } finally {
    await writer.stop().catch(() => {});
    assert.is(await agent.stop(), 0);
    await s3.stop();
  }
  // Restart S3 to read back what it holds: every transaction, bit-exact.
  s3 = await startS3rver({ port: s3.port, dir: s3.dir, bucket: s3.bucket });
  try {
    const live = pageExactImage(db);
    const out = join(dir, 'from-s3.db');
    restoreOk(config, out, '--destination', 's3');
    assertSameDatabase(out, { sha256: live.sha256, logical: logicalHash(live.path) }, 'restore from S3 after the outage');
    const rows = new Database(out, { readonly: true }).prepare('SELECT count(*) c, max(id) m FROM seq').get() as { c: number; m: number };
    assert.is(rows.c, writer.commits.size, 'every committed transaction is there');
    assert.is(rows.m, writer.commits.size);
  } finally {
    await s3.stop();
  }
});

test.run();
