/**
 * When segments ship: at most one per sync interval under steady load, but a
 * large backlog ships once its first commit has waited half an interval, and
 * a burst of `syncWalBytes` of WAL ships at once, without waiting for the
 * interval or the poll; and commits that wait for the interval are looked at
 * every 10 ms at most, not once per file event, yet seen soon after they
 * commit. The applications are the
 * sqlite3 CLI and a Node writer, separate processes.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { AgentProcess, sleep, writeConfig } from '../helpers/agent.js';
import { assertSameDatabase, restoreOk, timeline } from '../helpers/backups.js';
import { logicalHash, pageExactImage, sqliteCli } from '../helpers/sqlite.js';
import { tempDir } from '../helpers/tmp.js';
import { SeqWriter } from '../helpers/writers.js';

const test = suite('pacing');

const insert = (db: string, rows: number, tag: string) =>
  sqliteCli(db, `PRAGMA busy_timeout=5000; WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ${rows}) INSERT INTO t(v, b) SELECT '${tag}-' || i, randomblob(300) FROM s;\n`);

test('a burst of syncWalBytes ships before the sync interval ends; small commits wait for it', async () => {
  const dir = tempDir('pacing');
  const db = join(dir, 'app.db');
  sqliteCli(db, 'PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, b BLOB);\n');
  // A minute-long interval: within this test, only the burst rule can ship the later commits.
  // A minute-long poll too: only file-change events can notice them, and the
  // CLI opens, writes and closes the database in a few milliseconds.
  const config = writeConfig(dir, { overrides: { syncIntervalMs: 60_000, pollIntervalMs: 60_000, syncWalBytes: 256 << 10 } });
  const agent = await AgentProcess.start(config);
  try {
    await burstShips(dir, db, config);
    assert.is(await agent.stop(), 0);
  } finally {
    if (agent.child.exitCode === null) await agent.kill();
  }
});

/**
 * Spends the upload bucket, which lets a couple of segments out after a quiet
 * spell, on small commits; then commits one more and checks it waits for the
 * interval. Returns the commits shipped before that one.
 */
async function spendTokens(db: string, config: string): Promise<number> {
  for (let i = 0; i < 4; i++) {
    insert(db, 1, `small${i}`);
    await sleep(400);
  }
  const before = (await timeline(config)).commits.length;
  insert(db, 1, 'waiting');
  await sleep(1500);
  assert.is((await timeline(config)).commits.length, before, 'a small commit waits for the interval');
  assert.ok(before < 5, `the bucket let only some small commits out (${before})`);
  return before;
}

async function burstShips(dir: string, db: string, config: string): Promise<void> {
  await spendTokens(db, config);

  insert(db, 2000, 'burst'); // about 700 KiB of WAL
  const img = pageExactImage(db);
  const ref = { sha256: img.sha256, logical: logicalHash(img.path) };
  await sleep(1500);
  const out = join(dir, 'out.db');
  restoreOk(config, out);
  assertSameDatabase(out, ref, 'the state after the burst, restored while the interval still runs');
  assert.is((await timeline(config)).commits.length, 6, 'every commit shipped with the burst (4 small, the waiting one, the burst)');
}

test('a large backlog ships once its first commit has waited half the interval, long before the next token', async () => {
  const dir = tempDir('pacing');
  const db = join(dir, 'app.db');
  sqliteCli(db, 'PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, b BLOB);\n');
  // After the small commits the bucket holds about 0.2 token: the next is some 10 s away, half the interval 6 s.
  const intervalMs = 12_000;
  const config = writeConfig(dir, { overrides: { syncIntervalMs: intervalMs } });
  const agent = await AgentProcess.start(config);
  try {
    const before = await spendTokens(db, config);
    insert(db, 20_000, 'large'); // about 6 MiB of WAL, above the 4 MiB of a large backlog
    const img = pageExactImage(db);
    const ref = { sha256: img.sha256, logical: logicalHash(img.path) };
    let commits = (await timeline(config)).commits;
    const deadline = Date.now() + intervalMs;
    while (commits.length === before && Date.now() < deadline) {
      await sleep(100);
      commits = (await timeline(config)).commits;
    }
    const shippedAt = Date.now();
    assert.is(commits.length, 6, 'every commit waiting shipped with the large one (4 small, the waiting one, the large one)');
    // Half an interval after the backlog's first commit (the first small one left waiting) was seen, within the look and staging time.
    const waited = shippedAt - commits[before]!.observedAtMs;
    assert.ok(waited >= intervalMs / 2 - 100 && waited <= intervalMs / 2 + 2000, `the backlog shipped ${waited} ms after its first commit`);
    const out = join(dir, 'out.db');
    restoreOk(config, out);
    assertSameDatabase(out, ref, 'the state after the large commit, restored while the interval still runs');
    assert.is(await agent.stop(), 0);
  } finally {
    if (agent.child.exitCode === null) await agent.kill();
  }
});

test('commits waiting for the interval are looked at every 10 ms at most, not once per commit, and seen within tens of ms', async () => {
  const dir = tempDir('pacing');
  const db = join(dir, 'app.db');
  sqliteCli(db, 'PRAGMA journal_mode=WAL; CREATE TABLE seq(id INTEGER PRIMARY KEY, v TEXT NOT NULL);\n');
  const config = writeConfig(dir, { overrides: { syncIntervalMs: 2000, pollIntervalMs: 60_000 } });
  const agent = await AgentProcess.start(config);
  try {
    const writer = SeqWriter.start(db, 500, 1); // a commit about every millisecond, each a file event
    await writer.finished();
    const ref = pageExactImage(db);
    assert.is(await agent.stop(), 0);
    const { generations, commits } = await timeline(config);
    assert.is(commits.length, 500, 'every row, one commit each');
    const seen = commits.map((c) => c.observedAtMs);
    const spanMs = Math.max(...seen) - Math.min(...seen);
    const looks = new Set(seen).size;
    // Segments start when nothing waits: each may add a look outside the gap, and so may the last flush.
    const segments = generations.reduce((n, g) => n + g.segments.length, 0);
    assert.ok(looks <= Math.floor(spanMs / 10) + 2 * segments + 3, `${looks} distinct observation times over ${spanMs} ms in ${segments} segments`);
    // A busy writer is looked at by polling, its file watch off (the poll interval here is a minute):
    // each commit is still seen within a few gaps of its commit, so its timestamp stays close.
    const late = commits.map((c, i) => c.observedAtMs - writer.commits.get(i + 1)!).sort((a, b) => a - b);
    const p95 = late[Math.floor(0.95 * late.length)]!;
    assert.ok(p95 <= 50, `commits seen ${p95} ms after they committed (p95)`);
    const out = join(dir, 'out.db');
    restoreOk(config, out);
    assertSameDatabase(out, { sha256: ref.sha256, logical: logicalHash(ref.path) }, 'every commit, restored');
  } finally {
    if (agent.child.exitCode === null) await agent.kill();
  }
});

test.run();
