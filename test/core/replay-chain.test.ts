/**
 * Replay of a long chain of segments into a file, through the page cache
 * and its writer thread: it restores the same file as SQLite's own
 * checkpoint of the source; a target inside a segment ends there; a damaged
 * or truncated segment in the middle fails naming it, after every commit
 * before it was applied.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { closeSync, cpSync, openSync, readdirSync, readFileSync, statSync, truncateSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { CorruptObjectError } from '../../core/errors.js';
import { fileSink } from '../../core/file-sink.js';
import { Keyring } from '../../core/keyring.js';
import { Layout, newGenerationId } from '../../core/layout.js';
import { formatChecksum } from '../../core/page-hash.js';
import { replay, type ReplayResult, type RestoreTarget } from '../../core/replay.js';
import { planRestore } from '../../core/restore-plan.js';
import { FileStorage } from '../../core/storage/file-storage.js';
import { captureAll, fillWal, prepareCapture, snapshotDbFile, type CaptureStats } from '../../bench/lib/in-process-capture.js';
import { createFilledDb } from '../../bench/lib/dbgen.js';
import { rejects } from '../helpers/assert.js';
import { fileSha256, pageExactImage } from '../helpers/sqlite.js';
import { tempDir } from '../helpers/tmp.js';

const test = suite('replay of a long chain');
const keyring = new Keyring(new Map([['k1', randomBytes(32)]]), 'k1');
const layout = new Layout('', 'app');
/** Frames per segment: a long chain, each segment two chunks, the second one short. */
const FRAMES = 400;

let replica: string;
let cap: CaptureStats;
let finalSum: bigint;
let reference: string;

test.before(async () => {
  const dir = tempDir('replay-chain');
  const db = join(dir, 'app.db');
  createFilledDb(db, 4 << 20);
  const conn = new Database(db);
  conn.pragma('wal_autocheckpoint = 0');
  fillWal(conn, 12 << 20, { rowsPerTx: 2, updatesPerTx: 20 });
  replica = join(dir, 'replica');
  const storage = new FileStorage(replica);
  const generation = newGenerationId();
  const setup = await prepareCapture(db);
  await snapshotDbFile(setup, { storage, keyring, layout, generation });
  cap = await captureAll(setup, { storage, keyring, layout, generation, maxFrames: FRAMES });
  finalSum = setup.sum.value;
  await setup.tailer.close();
  reference = pageExactImage(db).sha256;
  conn.close();
  assert.ok(cap.segments >= 6, `a long chain (${cap.segments} segments)`);
});

/** Replays `replicaDir` to `target` into a fresh file; returns the result and the file's SHA-256. */
async function restoreTo(replicaDir: string, target: RestoreTarget = { kind: 'latest' }, commits: number[] = []): Promise<{ result: ReplayResult; sha256: string }> {
  const storage = new FileStorage(replicaDir);
  const plan = await planRestore(storage, layout, target);
  const out = join(tempDir('replay-out'), 'out.db');
  const fh = await open(out, 'w');
  const sink = fileSink(fh);
  try {
    const result = await replay(plan, storage, keyring, sink, { onCommit: (txid) => void commits.push(txid) });
    await sink.settle();
    return { result, sha256: fileSha256(out) };
  } finally {
    await sink.settle().catch(() => {});
    await fh.close();
  }
}

/** A copy of the replica to damage, and its segments in txid order. */
function copyReplica(): { dir: string; segments: string[] } {
  const dir = join(tempDir('replay-damaged'), 'replica');
  cpSync(replica, dir, { recursive: true });
  const segments = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.seg')).map((f) => join(dir, f));
  return { dir, segments: segments.sort() };
}

test('the chain restores the same file as SQLite', async () => {
  const r = await restoreTo(replica);
  assert.is(r.result.txid, cap.lastTxid);
  assert.is(r.result.pages, cap.pages, 'every page write of the chain was applied');
  assert.is(formatChecksum(r.result.checksum), formatChecksum(finalSum));
  assert.is(r.sha256, reference, "the restored file is SQLite's checkpoint of the source, byte for byte");
});

test('a target inside a segment ends there', async () => {
  const txid = Math.floor(cap.lastTxid / 2) + 3;
  const commits: number[] = [];
  const r = await restoreTo(replica, { kind: 'txid', txid }, commits);
  assert.is(r.result.txid, txid);
  assert.is(commits.at(-1), txid);
  assert.ok(r.result.pages < cap.pages);
});

test('a flipped byte in a middle segment fails naming it, after every commit before it', async () => {
  const { dir, segments } = copyReplica();
  const victim = segments[Math.floor(segments.length / 2)]!;
  const fd = openSync(victim, 'r+');
  const pos = Math.floor(statSync(victim).size / 2);
  writeSync(fd, Buffer.of(readFileSync(victim)[pos]! ^ 0x20), 0, 1, pos);
  closeSync(fd);
  const minTxid = parseInt(victim.slice(-37, -21), 16);
  const commits: number[] = [];
  const err = await rejects(() => restoreTo(dir, { kind: 'latest' }, commits), (e) => e instanceof CorruptObjectError);
  assert.match((err as Error).message, victim.slice(dir.length + 1));
  assert.match((err as Error).message, /fails authentication/);
  assert.is(commits.at(-1), minTxid - 1, 'every commit before the damaged segment was applied, none after');
});

test('a truncated middle segment fails naming it', async () => {
  const { dir, segments } = copyReplica();
  const victim = segments[Math.floor(segments.length / 2)]!;
  truncateSync(victim, statSync(victim).size - 100);
  const err = await rejects(() => restoreTo(dir), (e) => e instanceof CorruptObjectError);
  assert.match((err as Error).message, victim.slice(dir.length + 1));
  assert.match((err as Error).message, /truncated/);
});

test.run();
