/**
 * Tampering and bad keys: a flipped byte, a truncated object or a deleted
 * object makes verify and restore fail naming the object, with nothing written
 * at the output; no plaintext reaches a destination or staging; the agent
 * writes nothing into the application's database.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, cpSync, existsSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync, openSync, writeSync, closeSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { AgentProcess, agentCli, restoreCli, sleep, writeConfig } from '../helpers/agent.js';
import { filesContaining, filesUnder, restoreOk } from '../helpers/backups.js';
import { fileSha256, pageExactImage, sqliteCli } from '../helpers/sqlite.js';
import { tempDir } from '../helpers/tmp.js';
import { generateKeyBase64 } from '../../core/keyring.js';

const test = suite('tamper');
const SECRET = 'walcast-canary-Zq8Xv3';

/** A backup with a base snapshot, a second snapshot and several segments; returns its folder. */
async function makeBackup(): Promise<{ dir: string; config: string; db: string }> {
  const dir = tempDir('tamper-src');
  const db = join(dir, 'app.db');
  sqliteCli(db, 'PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);\n');
  const config = writeConfig(dir, { overrides: { snapshotIntervalMs: 1000 } });
  const agent = await AgentProcess.start(config);
  for (let i = 0; i < 8; i++) {
    sqliteCli(db, `PRAGMA busy_timeout=5000; INSERT INTO t(v) SELECT '${SECRET}-' || ${i} || '-' || hex(randomblob(200)) FROM (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3);\n`);
    await sleep(300);
  }
  await sleep(500);
  assert.is(await agent.stop(), 0);
  return { dir, config, db };
}

let base: { dir: string; config: string; db: string };

/** A fresh copy of the backup (config, key and replica) to damage. */
function copyBackup(): { dir: string; config: string; replica: string } {
  const dir = tempDir('tamper');
  cpSync(join(base.dir, 'replica'), join(dir, 'replica'), { recursive: true });
  copyFileSync(join(base.dir, 'test.key'), join(dir, 'test.key'));
  const cfg = JSON.parse(readFileSync(base.config, 'utf8')) as { databases: { destinations: { path: string }[] }[]; encryption: { keys: { file: string }[] } };
  cfg.databases[0]!.destinations[0]!.path = join(dir, 'replica');
  cfg.encryption.keys[0]!.file = join(dir, 'test.key');
  const config = join(dir, 'agent.config.json');
  writeFileSync(config, JSON.stringify(cfg));
  return { dir, config, replica: join(dir, 'replica') };
}

function objects(replica: string, kind: 'seg' | 'snap'): string[] {
  return filesUnder(replica).filter((f) => f.endsWith(`.${kind}`)).sort();
}

/**
 * A segment that restores must read: no snapshot lies between its first txid
 * and the last txid of the segment after it, so restoring to either needs it.
 */
function victim(replica: string): { seg: string; index: number; txid: number } {
  const snapTxids = objects(replica, 'snap').map((f) => parseInt(f.slice(-21, -5), 16));
  const segs = objects(replica, 'seg');
  const range = (f: string) => [parseInt(f.slice(-37, -21), 16), parseInt(f.slice(-20, -4), 16)] as const;
  for (let i = 0; i + 1 < segs.length; i++) {
    const [min, max] = range(segs[i]!);
    const [, nextMax] = range(segs[i + 1]!);
    if (min > 0 && !snapTxids.some((t) => t >= min && t <= nextMax)) return { seg: segs[i]!, index: i, txid: max };
  }
  throw new Error(`no segment without a snapshot around it: ${segs.join(', ')} / ${snapTxids.join(', ')}`);
}

function expectFailure(config: string, dir: string, object: string, what: RegExp, txid: number): void {
  const name = relative(join(dir, 'replica'), object);
  const v = restoreCli('verify', '--config', config);
  assert.is(v.code, 1, `verify fails:\n${v.stdout}${v.stderr}`);
  assert.ok(v.stdout.includes(name), `verify names ${name}:\n${v.stdout}`);
  assert.match(v.stdout, what);
  const out = join(dir, 'restored.db');
  const r = restoreCli('restore', '--config', config, '--output', out, '--txid', String(txid));
  assert.is(r.code, 1, `restore fails:\n${r.stdout}${r.stderr}`);
  assert.ok(r.stderr.includes(name), `restore names ${name}:\n${r.stderr}`);
  assert.not.ok(existsSync(out), 'nothing at the output path');
  assert.equal(readdirSync(dir).filter((f) => f.includes('restored')), [], 'no temp file left beside it');
}

test.before(async () => {
  base = await makeBackup();
});

test('the intact backup verifies and restores', () => {
  const c = copyBackup();
  const v = restoreCli('verify', '--config', c.config, '--restore-test');
  assert.is(v.code, 0, v.stdout + v.stderr);
  assert.ok(objects(c.replica, 'seg').length >= 4, 'several segments');
  assert.ok(objects(c.replica, 'snap').length >= 2, 'several snapshots');
});

test('a flipped byte in a segment is named by verify and restore', () => {
  const c = copyBackup();
  const { seg, txid } = victim(c.replica);
  const fd = openSync(seg, 'r+');
  const pos = statSync(seg).size - 30;
  const b = readFileSync(seg)[pos]!;
  writeSync(fd, Buffer.of(b ^ 0x10), 0, 1, pos);
  closeSync(fd);
  expectFailure(c.config, c.dir, seg, /fails authentication/, txid);
});

test('a truncated segment is named by verify and restore', () => {
  const c = copyBackup();
  const { seg, txid } = victim(c.replica);
  truncateSync(seg, statSync(seg).size - 7);
  expectFailure(c.config, c.dir, seg, /truncated/, txid);
});

test('a flipped byte late in a large commit stops the restore while pages are being written, leaving nothing', async () => {
  const dir = tempDir('tamper-late');
  const db = join(dir, 'app.db');
  sqliteCli(db, `PRAGMA journal_mode=WAL; CREATE TABLE big(id INTEGER PRIMARY KEY, b BLOB);
WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 6000) INSERT INTO big SELECT k, randomblob(3000) FROM n;
`);
  const config = writeConfig(dir);
  const agent = await AgentProcess.start(config);
  const before = Number(sqliteCli(db, 'SELECT count(*) FROM big;\n').trim());
  // One commit rewriting about 6000 pages: more than one half of the restore's page cache (2048 pages),
  // so the page writer thread is writing the first half when the last chunk fails.
  sqliteCli(db, 'PRAGMA busy_timeout=5000; UPDATE big SET b = randomblob(3000);\n');
  const replica = join(dir, 'replica');
  const largest = (): string | undefined => objects(replica, 'seg').sort((a, b) => statSync(b).size - statSync(a).size)[0];
  for (let t = 0; t < 300 && !(largest() && statSync(largest()!).size > 8 << 20); t++) await sleep(100); // objects appear whole (renamed into place)
  assert.is(await agent.stop(), 0);
  const seg = largest()!;
  assert.ok(seg, 'the large commit was uploaded');
  assert.ok(statSync(seg).size > 8 << 20, `the large commit's segment spans many chunks (${statSync(seg).size} bytes)`);
  const fd = openSync(seg, 'r+');
  const pos = statSync(seg).size - 30; // inside the last chunk
  const b = readFileSync(seg)[pos]!;
  writeSync(fd, Buffer.of(b ^ 0x04), 0, 1, pos);
  closeSync(fd);
  const out = join(dir, 'restored.db');
  const r = restoreCli('restore', '--config', config, '--output', out);
  assert.is(r.code, 1, `restore fails with an error, not a hang or a crash:\n${r.stdout}${r.stderr}`);
  assert.ok(r.stderr.includes(relative(replica, seg)), `restore names the object:\n${r.stderr}`);
  assert.match(r.stderr, /fails authentication/);
  assert.not.ok(existsSync(out), 'nothing at the output path');
  assert.equal(readdirSync(dir).filter((f) => f.includes('restored')), [], 'no temp file left beside it');
  // The point before the damaged segment still restores.
  const minTxid = parseInt(seg.slice(-37, -21), 16);
  restoreOk(config, out, '--txid', String(minTxid - 1));
  assert.is(Number(sqliteCli(out, 'SELECT count(*) FROM big;\n').trim()), before);
});

test('a deleted segment is reported as a gap, naming the txids and the next object', () => {
  const c = copyBackup();
  const segs = objects(c.replica, 'seg');
  const { seg, index } = victim(c.replica);
  rmSync(seg);
  const next = segs[index + 1]!;
  expectFailure(c.config, c.dir, next, /missing segment: txids \d+\.\.\d+/, parseInt(next.slice(-20, -4), 16));
});

test('a flipped byte in a snapshot is named by verify and restore', () => {
  const c = copyBackup();
  const snap = objects(c.replica, 'snap').pop()!;
  const data = readFileSync(snap);
  data[data.length - 20]! ^= 0x01;
  writeFileSync(snap, data);
  const v = restoreCli('verify', '--config', c.config);
  assert.is(v.code, 1);
  assert.ok(v.stdout.includes(relative(c.replica, snap)), v.stdout);
  const out = join(c.dir, 'restored.db');
  const r = restoreCli('restore', '--config', c.config, '--output', out);
  assert.is(r.code, 1, r.stderr);
  assert.ok(r.stderr.includes(relative(c.replica, snap)));
  assert.not.ok(existsSync(out));
});

test('without its newest snapshot the backup still restores exactly; without any, restore says so', () => {
  const c = copyBackup();
  const snaps = objects(c.replica, 'snap');
  rmSync(snaps.pop()!);
  const out = join(c.dir, 'restored.db');
  restoreOk(c.config, out);
  assert.is(fileSha256(out), pageExactImage(base.db).sha256, 'same bytes from an older snapshot and more segments');
  for (const s of snaps) rmSync(s);
  const r = restoreCli('restore', '--config', c.config, '--output', join(c.dir, 'again.db'));
  assert.is(r.code, 1);
  assert.match(r.stderr, /no restorable backup/);
  assert.not.ok(existsSync(join(c.dir, 'again.db')));
});

test('a database already corrupt at the source restores bit-exact, but integrity_check stops it reaching the output', () => {
  const dir = tempDir('corrupt-source');
  const db = join(dir, 'app.db');
  // The index is built ascending, then the schema is made to say descending: every row is "missing" from it.
  sqliteCli(db, `PRAGMA journal_mode=WAL; CREATE TABLE t(x); CREATE INDEX i ON t(x);
WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 200) INSERT INTO t SELECT hex(randomblob(20)) FROM n;
PRAGMA writable_schema=ON; UPDATE sqlite_schema SET sql = 'CREATE INDEX i ON t(x DESC)' WHERE name = 'i'; PRAGMA writable_schema=OFF;
`);
  const config = writeConfig(dir);
  const once = agentCli(['--config', config, '--once']);
  assert.is(once.code, 0, once.stderr);
  const out = join(dir, 'restored.db');
  const r = restoreCli('restore', '--config', config, '--output', out);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /integrity_check failed .*missing from index i/);
  assert.not.ok(existsSync(out), 'nothing at the output');
  assert.equal(readdirSync(dir).filter((f) => f.includes('walcast-restore')), [], 'no temp file left');
  // The same backup without the check: the checksum proof alone passes, and the copy is the source's pages.
  restoreOk(config, out, '--no-integrity-check');
  assert.is(fileSha256(out), pageExactImage(db).sha256, 'restored pages equal the source');
});

test('a snapshot of several chunks restores bit-exact on decoder threads; a flipped byte in a middle chunk stops it, leaving nothing', () => {
  const dir = tempDir('multi-chunk');
  const db = join(dir, 'app.db');
  // About 6 MiB of incompressible rows: six chunks, more than the restore decodes on its main thread.
  sqliteCli(db, `PRAGMA journal_mode=WAL; CREATE TABLE t(x);
WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 6000) INSERT INTO t SELECT randomblob(1000) FROM n;
`);
  const config = writeConfig(dir);
  const once = agentCli(['--config', config, '--once']);
  assert.is(once.code, 0, once.stderr);
  const out = join(dir, 'restored.db');
  restoreOk(config, out);
  assert.is(fileSha256(out), pageExactImage(db).sha256, 'restored pages equal the source');
  rmSync(out);
  const snap = objects(join(dir, 'replica'), 'snap')[0]!;
  const data = readFileSync(snap);
  assert.ok(data.length > 5 << 20, `the snapshot spans several chunks (${data.length} bytes)`);
  data[Math.floor(data.length / 2)]! ^= 0x10;
  writeFileSync(snap, data);
  const r = restoreCli('restore', '--config', config, '--output', out);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /chunk \d+ fails authentication/);
  assert.ok(r.stderr.includes(relative(join(dir, 'replica'), snap)), r.stderr);
  assert.not.ok(existsSync(out), 'nothing at the output');
  assert.equal(readdirSync(dir).filter((f) => f.includes('walcast-restore')), [], 'no temp file left');
});

test('a wrong key fails clearly, naming the key id', () => {
  const c = copyBackup();
  writeFileSync(join(c.dir, 'test.key'), generateKeyBase64());
  const out = join(c.dir, 'restored.db');
  const r = restoreCli('restore', '--config', c.config, '--output', out);
  assert.is(r.code, 1);
  assert.match(r.stderr, /different key "k1"/);
  assert.match(r.stderr, /Try: /);
  assert.not.ok(existsSync(out));
  const v = restoreCli('verify', '--config', c.config);
  assert.is(v.code, 1);
  assert.match(v.stdout, /WALCAST_ERR_WRONG_KEY/);
});

test('no plaintext reaches the destination or staging', () => {
  assert.ok(readFileSync(pageExactImage(base.db).path).includes(SECRET), 'the canary is in the database');
  assert.equal(filesContaining(join(base.dir, 'replica'), SECRET), []);
  assert.equal(filesContaining(join(base.dir, 'staging'), SECRET), []);
  assert.ok(filesUnder(join(base.dir, 'replica')).length > 4);
});

test('the agent writes nothing into the application database', async () => {
  const names = sqliteCli(base.db, 'SELECT group_concat(name) FROM sqlite_schema;\n').trim();
  assert.is(names, 't', 'no helper tables or indexes');
  // The same deterministic writes with and without the agent (and its checkpoints) give the same pages.
  const dir = tempDir('nowrite');
  const withAgent = join(dir, 'with.db');
  const without = join(dir, 'without.db');
  const schema = 'PRAGMA journal_mode=WAL; CREATE TABLE k(id INTEGER PRIMARY KEY, v TEXT);\n';
  sqliteCli(withAgent, schema);
  sqliteCli(without, schema);
  const config = writeConfig(dir, { db: withAgent, overrides: { checkpoint: { minPages: 20 } } });
  const agent = await AgentProcess.start(config);
  for (let i = 0; i < 20; i++) {
    const sql = `PRAGMA busy_timeout=5000; WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 50) INSERT INTO k(v) SELECT printf('%d-%d-%.300c', ${i}, n, 'y') FROM s; DELETE FROM k WHERE id % 9 = ${i % 9};\n`;
    sqliteCli(withAgent, sql);
    sqliteCli(without, sql);
    await sleep(60);
  }
  await sleep(500);
  assert.is(await agent.stop(), 0);
  assert.ok(agent.lines('checkpoint').length > 0, 'the agent ran its own checkpoints meanwhile');
  assert.is(pageExactImage(withAgent).sha256, pageExactImage(without).sha256, 'byte-identical databases');
});

test.run();
