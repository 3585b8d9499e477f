/**
 * Outage: under continuous writes the S3 server is stopped for 60 s and
 * restarted. No transaction may be lost, the agent must catch up, the
 * application must never block, and the local-folder destination must stay
 * current throughout. And when an outage fills staging, capture pauses and
 * says so, the WAL keeps what is not captured, and capture resumes when the
 * destination returns.
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

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = new RegExp(`^${name}\\{db="app"\\} (\\S+)$`, 'm').exec(text);
  assert.ok(m, `metric ${name} is exported`);
  return Number(m![1]);
}

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

test('a full staging pauses capture and says so; nothing is lost, and capture resumes when the destination returns', async () => {
  const dir = tempDir('outage');
  const db = join(dir, 'app.db');
  sqliteCli(db, 'PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB NOT NULL);\n');
  let s3 = await startS3rver();
  const config = writeConfig(dir, { destinations: [s3DestinationConfig(s3, 's3', 'full')], overrides: { metrics: { listen: '127.0.0.1:0' }, staging: { maxBytes: 1 << 20 } } });
  const agent = await AgentProcess.start(config);
  const port = Number((await agent.waitFor((l) => l.msg === 'metrics and health listening')).port);
  const insert = (rows: number) => sqliteCli(db, `PRAGMA busy_timeout=5000; WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ${rows}) INSERT INTO t(b) SELECT randomblob(400) FROM s;\n`);
  const waitMetric = async (name: string, ok: (v: number) => boolean, what: string) => {
    for (const until = Date.now() + 60_000; !ok(await metric(port, name)); await sleep(200)) {
      if (Date.now() > until) assert.unreachable(`${what}: ${name} stayed ${await metric(port, name)}\n${agent.logs.slice(-20).map((l) => JSON.stringify(l)).join('\n')}`);
    }
  };
  try {
    await s3.stop();
    for (let i = 0; i < 4; i++) {
      insert(1000); // about 450 KB of incompressible pages: staged, not uploaded
      await sleep(400);
    }
    await waitMetric('walcast_staging_full', (v) => v === 1, 'staging filled up');
    assert.ok((await metric(port, 'walcast_staging_bytes')) > 1 << 20, 'staged bytes passed staging.maxBytes');
    const captured = await metric(port, 'walcast_captured_txid');
    const cpuBefore = agent.cpuSeconds();
    for (let i = 0; i < 4; i++) {
      insert(10); // waits in the WAL while capture is paused
      await sleep(500);
    }
    // Paused capture looks at the poll (50 ms here), not in a loop: that took a quarter of a core.
    const cpu = agent.cpuSeconds() - cpuBefore;
    assert.ok(cpu < 0.25, `the paused agent used ${cpu.toFixed(2)} s of CPU in 2 s`);
    assert.is(await metric(port, 'walcast_staging_full'), 1, 'still paused');
    assert.is(await metric(port, 'walcast_captured_txid'), captured, 'nothing more was staged');
    assert.is(agent.logs.filter((l) => l.msg === 'staging is full; capture paused').length, 1, 'said once, not once per cycle');
    s3 = await startS3rver({ port: s3.port, dir: s3.dir, bucket: s3.bucket });
    await waitMetric('walcast_staging_full', (v) => v === 0, 'capture resumed once uploads drained staging');
    await waitMetric('walcast_captured_txid', (v) => v > captured, 'the commits waiting in the WAL were captured');
  } finally {
    assert.is(await agent.stop(), 0);
  }
  try {
    const live = pageExactImage(db);
    const out = join(dir, 'out.db');
    restoreOk(config, out);
    assertSameDatabase(out, { sha256: live.sha256, logical: logicalHash(live.path) }, 'restore after staging was full');
    const rows = new Database(out, { readonly: true }).prepare('SELECT count(*) c FROM t').get() as { c: number };
    assert.is(rows.c, 4040, 'every row, including those written while capture was paused');
  } finally {
    await s3.stop();
  }
});

test.run();
