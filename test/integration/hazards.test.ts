/**
 * The WAL hazards that lost data in other tools, each with the agent and the
 * application as separate processes. In every case the newest restore must
 * equal the live database byte for byte, and earlier recorded states must
 * still restore.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AgentProcess, agentCli, restoreCli, sleep, writeConfig } from '../helpers/agent.js';
import { assertSameDatabase, restoreOk, timeline, waitCaptured } from '../helpers/backups.js';
import { logicalHash, pageExactImage, sqliteCli } from '../helpers/sqlite.js';
import { tempDir } from '../helpers/tmp.js';
import { nodeWriter, nodeWriterAsync, python, SeqWriter } from '../helpers/writers.js';

const test = suite('hazards');

function setup(label: string, overrides: Record<string, unknown> = {}) {
  const dir = tempDir(label);
  const db = join(dir, 'app.db');
  sqliteCli(db, 'PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, b BLOB);\n');
  return { dir, db, config: writeConfig(dir, { overrides }) };
}

const insert = (db: string, n: number, tag: string) =>
  sqliteCli(db, `PRAGMA busy_timeout=5000; WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ${n}) INSERT INTO t(v, b) SELECT '${tag}-' || i, randomblob(300) FROM s;\n`);

function reference(db: string) {
  const img = pageExactImage(db);
  return { sha256: img.sha256, logical: logicalHash(img.path), atMs: Date.now() };
}

/** The live state, recorded once the running agent has staged it: a timestamp from then on covers every commit so far. */
async function recorded(db: string, config: string) {
  const img = pageExactImage(db);
  await waitCaptured(config, img.path);
  return { sha256: img.sha256, logical: logicalHash(img.path), atMs: Date.now() };
}

async function settle(): Promise<void> {
  await sleep(700);
}

test('the application runs its own TRUNCATE and PASSIVE checkpoints: nothing lost, no new generation', async () => {
  const { dir, db, config } = setup('app-ckpt');
  const agent = await AgentProcess.start(config);
  const refs = [];
  for (let round = 0; round < 6; round++) {
    insert(db, 200, `r${round}`);
    python(db, 'checkpoint', round % 2 ? 'PASSIVE' : 'TRUNCATE');
    insert(db, 50, `s${round}`);
    refs.push(await recorded(db, config));
    await sleep(300);
  }
  assert.is(await agent.stop(), 0);
  const { generations } = await timeline(config);
  assert.is(generations.length, 1, 'no new generation was needed');
  for (const [i, r] of refs.entries()) {
    const out = join(dir, `r${i}.db`);
    restoreOk(config, out, '--timestamp', new Date(r.atMs).toISOString());
    assertSameDatabase(out, r, `state after round ${i}`);
  }
});

test('agent stopped while the application writes and truncates the WAL, then restarted: restore is right', async () => {
  const { dir, db, config } = setup('down-truncate');
  let agent = await AgentProcess.start(config);
  insert(db, 300, 'before');
  const before = await recorded(db, config);
  await sleep(300);
  assert.is(await agent.stop(), 0);
  insert(db, 300, 'while-down');
  python(db, 'checkpoint', 'TRUNCATE');
  insert(db, 100, 'after-truncate');
  agent = await AgentProcess.start(config);
  insert(db, 100, 'after-restart');
  const after = await recorded(db, config);
  assert.is(await agent.stop(), 0);
  const proven = agent.lines('continuity proven; resuming the generation').length;
  const fresh = agent.lines('new generation started').length;
  assert.is(proven + fresh, 1, 'either continuity was proven or a new generation started');
  const out1 = join(dir, 'before.db');
  restoreOk(config, out1, '--timestamp', new Date(before.atMs).toISOString());
  assertSameDatabase(out1, before, 'state before the agent stopped');
  const out2 = join(dir, 'after.db');
  restoreOk(config, out2);
  assertSameDatabase(out2, after, 'newest state');
});

test('VACUUM shrinks the file: restore follows', async () => {
  const { dir, db, config } = setup('vacuum');
  const agent = await AgentProcess.start(config);
  insert(db, 3000, 'fill');
  const full = await recorded(db, config);
  await sleep(300);
  sqliteCli(db, 'PRAGMA busy_timeout=5000; DELETE FROM t WHERE id > 100; VACUUM;\n');
  const vacuumed = await recorded(db, config);
  assert.is(await agent.stop(), 0);
  const out1 = join(dir, 'full.db');
  restoreOk(config, out1, '--timestamp', new Date(full.atMs).toISOString());
  assertSameDatabase(out1, full, 'before VACUUM');
  const out2 = join(dir, 'vac.db');
  restoreOk(config, out2);
  assertSameDatabase(out2, vacuumed, 'after VACUUM');
  assert.ok(statSync(out2).size < statSync(out1).size, 'the restored file shrank too');
});

test('the database file is replaced by another: a new generation, and both histories restore', async () => {
  const { dir, db, config } = setup('replaced');
  const agent = await AgentProcess.start(config);
  let replaced;
  let original;
  try {
    insert(db, 500, 'original');
    original = await recorded(db, config);
    await sleep(300);
    // Another database, made elsewhere, moved over the original (its WAL goes with it).
    const other = join(dir, 'other.db');
    sqliteCli(other, "PRAGMA journal_mode=WAL; CREATE TABLE other(x); INSERT INTO other VALUES ('replacement');\n");
    rmSync(`${db}-wal`, { force: true });
    renameSync(other, db);
    // The agent may notice the deleted WAL before the new file: either way the pages differ from the recorded state.
    await agent.waitFor((l) => l.msg === 'new generation started' && /replaced|differs from the recorded state/.test(String(l.reason)), 10_000);
    sqliteCli(db, "PRAGMA busy_timeout=5000; INSERT INTO other VALUES ('after');\n");
    replaced = await recorded(db, config);
  } catch (err) {
    await agent.kill(); // a failed wait must not leave the agent holding this test process open
    throw err;
  }
  assert.is(await agent.stop(), 0);
  const out1 = join(dir, 'orig.db');
  restoreOk(config, out1, '--timestamp', new Date(original.atMs).toISOString());
  assertSameDatabase(out1, original, 'the original database');
  const out2 = join(dir, 'repl.db');
  restoreOk(config, out2);
  assertSameDatabase(out2, replaced, 'the replacement database');
});

test('the application closes its last connection (WAL deleted) while the agent is down: continuity is proven', async () => {
  const { dir, db, config } = setup('wal-deleted');
  let agent = await AgentProcess.start(config);
  insert(db, 200, 'a');
  await settle();
  assert.is(await agent.stop(), 0);
  // The CLI is now the last connection: closing checkpoints and deletes the WAL.
  sqliteCli(db, 'SELECT count(*) FROM t;\n');
  assert.throws(() => statSync(`${db}-wal`), 'WAL deleted');
  agent = await AgentProcess.start(config);
  await agent.waitFor((l) => l.msg === 'continuity proven; resuming the generation');
  insert(db, 200, 'b');
  nodeWriter(db, ['sql', "INSERT INTO t(v) VALUES ('from node')"]);
  const after = await recorded(db, config);
  assert.is(await agent.stop(), 0);
  const { generations } = await timeline(config);
  assert.is(generations.length, 1, 'the same generation continued');
  const out = join(dir, 'out.db');
  restoreOk(config, out);
  assertSameDatabase(out, after, 'newest state');
});

test("the agent's own TRUNCATE checkpoints under continuous writes: nothing lost", async () => {
  const { dir, db, config } = setup('truncate', { checkpoint: { truncatePages: 300, minPages: 100_000 } });
  const agent = await AgentProcess.start(config);
  const writer = SeqWriter.start(db, 1_000_000, 3, { WRITER_AUTOCHECKPOINT: '0' });
  await sleep(6000);
  await writer.stop();
  const after = await recorded(db, config);
  assert.is(await agent.stop(), 0);
  const truncates = agent.lines('checkpoint').filter((l) => l.mode === 'TRUNCATE' && l.result === 'ok');
  assert.ok(truncates.length >= 2, `the WAL was truncated (${truncates.length} times)`);
  assert.ok(statSync(`${db}-wal`).size < 300 * 4096 * 2, 'the WAL file stays small');
  const out = join(dir, 'out.db');
  restoreOk(config, out);
  assertSameDatabase(out, after, 'newest state');
  const v = restoreCli('verify', '--config', config);
  assert.is(v.code, 0, v.stdout + v.stderr);
  const { generations, commits } = await timeline(config);
  assert.is(generations.length, 1, 'truncating never broke continuity');
  assert.is(commits.length, writer.commits.size + 1, 'every transaction is in the history (and the writer\'s CREATE TABLE)');
  console.log(`truncate: ${truncates.length} TRUNCATEs, ${writer.commits.size} commits`);
});

test('a writer faster than one segment per interval: the agent still checkpoints, the WAL restarts, nothing is lost', async () => {
  const { dir, db, config } = setup('sustained', { syncIntervalMs: 2000 });
  const agent = await AgentProcess.start(config);
  const from = Date.now();
  const written = Number((await nodeWriterAsync(db, ['churn', '8'])).trim());
  const until = Date.now();
  // The agent may still be copying back and truncating the WAL: the reference is taken once it has stopped.
  assert.is(await agent.stop(), 0);
  const after = reference(db);
  // 16,384 frames is a segment's cap: a whole one means the agent had a backlog past it.
  const capped = agent.lines('segment staged').filter((l) => Number(l.walBytes) >= 16_384 * (4096 + 24));
  assert.ok(capped.length > 0, 'the writer filled whole segments (the case under test)');
  const restarts = agent.lines('WAL restarted').filter((l) => Number(l.time) > from + 1000 && Number(l.time) < until);
  assert.ok(restarts.length >= 2, `the WAL restarted while the writer ran (${restarts.length} times)`);
  const out = join(dir, 'out.db');
  restoreOk(config, out);
  assertSameDatabase(out, after, 'newest state');
  const { generations, commits } = await timeline(config);
  assert.is(generations.length, 1, 'checkpoints under load never broke continuity');
  assert.is(commits.length, written, 'every transaction is in the history');
  console.log(`sustained: ${written} transactions, ${capped.length} full segments, ${restarts.length} WAL restarts under load`);
});

test('a database not in WAL mode is refused with a clear error', async () => {
  const dir = tempDir('notwal');
  const db = join(dir, 'app.db');
  sqliteCli(db, 'CREATE TABLE t(x); INSERT INTO t VALUES (1);\n');
  const before = statSync(db).mtimeMs;
  copyFileSync(db, join(dir, 'copy.db'));
  const config = writeConfig(dir);
  const r = agentCli(['--config', config]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /not in WAL mode/);
  assert.match(r.stderr, /Try: .*journal_mode=WAL/);
  assert.match(r.stderr, new RegExp(db.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  assert.is(statSync(db).mtimeMs, before, 'the database was not touched');
});

test.run();
