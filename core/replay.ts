/**
 * Replays a snapshot and the segments after it, commit by commit, up to a
 * target, checking the database checksum after every commit. Shared by
 * restore (pages go to a file), verify (pages go nowhere) and the agent.
 */
import { webcrypto } from 'node:crypto';
import type { GenerationInfo, SegmentRef, SnapshotRef } from './catalog.js';
import { DbChecksum } from './db-checksum.js';
import { ChainError, ChecksumMismatchError, CorruptObjectError, TargetError } from './errors.js';
import { readHeader } from './catalog.js';
import type { Keyring } from './keyring.js';
import { ZERO_SHA256 } from './object-format.js';
import { formatChecksum, lockPage, pageHash } from './page-hash.js';
import { decodeSnapshot, decodeThreads, type DecodedChunk } from './decode-pool.js';
import { prefetch } from './prefetch.js';
import { SegmentReader } from './segment.js';
import { SnapshotReader } from './snapshot.js';
import type { Storage } from './storage/storage.js';

/** What to restore to. */
export type RestoreTarget = { kind: 'latest' } | { kind: 'txid'; txid: number } | { kind: 'time'; ms: number };

/** A chosen starting snapshot and the segments that may follow it. */
export interface ReplayPlan {
  db: string;
  generation: GenerationInfo;
  snapshot: SnapshotRef;
  /** Contiguous from snapshot.txid + 1; replay stops at the target. */
  segments: SegmentRef[];
  /** Set when the chain breaks: the first segment after the missing txids. */
  gapBefore?: SegmentRef;
  target: RestoreTarget;
}

/** Receives page writes; restore writes a file, verify writes nothing. */
export interface PageSink {
  /** Called once, before any write, with the database's page size. */
  start(pageSize: number): void;
  /**
   * Writes `buffers` back to back starting at byte `offset`. The sink may
   * read `buffers` until the promise resolves, not after; calls may overlap.
   */
  write(offset: number, buffers: Uint8Array[]): Promise<void>;
  /**
   * Writes page `pgno`, the page size of bytes of `from` at `at`. Returns
   * nothing when the sink has copied the page already; else a promise, and
   * the caller keeps `from` as it is and makes no other call until it
   * resolves.
   */
  putPage(pgno: number, from: Buffer, at: number): Promise<void> | undefined;
  /** Sets the file length in bytes. */
  resize(bytes: number): Promise<void>;
  /**
   * Like `write` with one buffer whose memory the caller gives up: the sink
   * may take it (it must be an ArrayBuffer of its own, whole or but for a
   * leading byte) and return before it is written. Optional.
   */
  writeOwned?(offset: number, bytes: Uint8Array): Promise<void>;
}

/** Where replay ended. */
export interface ReplayResult {
  txid: number;
  dbPages: number;
  pageSize: number;
  checksum: bigint;
  /** Observed time of the last applied commit (the snapshot's time when none). */
  observedAtMs: number;
  commits: number;
  pages: number;
  bytesRead: number;
  /** SHA-256 of each segment object read in full, by key. */
  segmentHashes: Map<string, string>;
}

/** Progress callback argument. */
export interface ReplayProgress {
  txid: number;
  bytesRead: number;
}

/** Observers of a replay. */
export interface ReplayHooks {
  onProgress?: (p: ReplayProgress) => void;
  /** After each verified commit. */
  onCommit?: (txid: number, checksum: bigint) => void;
}

/** Replays `plan` into `sink` (null: check only). */
export async function replay(
  plan: ReplayPlan,
  storage: Storage,
  keyring: Keyring,
  sink: PageSink | null,
  hooks: ReplayHooks = {},
): Promise<ReplayResult> {
  const { onProgress, onCommit } = hooks;
  const snapKey = plan.snapshot.key;
  const snap = await SnapshotReader.open(await storage.get(snapKey), keyring, snapKey);
  const sh = snap.header;
  if (sh.generation !== plan.generation.id || sh.txid !== plan.snapshot.txid) {
    throw new CorruptObjectError(`object ${snapKey} claims generation ${sh.generation} txid ${sh.txid}, its name says otherwise`, { context: { object: snapKey } });
  }
  const ps = sh.pageSize;
  sink?.start(ps);
  const lock = lockPage(ps);
  const sum = new DbChecksum(ps, sh.dbPages);
  let bytesRead = 0;
  // With a sink, decoder threads open the chunks, so this thread keeps the
  // file writes going; without one, decoding here is as fast. Chunks may then
  // come back in any order: the sum is an XOR, and each has its place in the file.
  const use = async (c: DecodedChunk): Promise<void> => {
    for (let i = 0; i < c.count; i++) sum.setPage(c.first + i, c.hashes[i]!);
    if (sink) await (c.owned && sink.writeOwned ? sink.writeOwned((c.first - 1) * ps, c.pages) : sink.write((c.first - 1) * ps, [c.pages]));
    onProgress?.({ txid: sh.txid, bytesRead: snap.bytesRead });
  };
  await decodeSnapshot(snap, use, sink ? decodeThreads() : 0);
  sum.applyCommit([], [], 0, sh.dbPages);
  if (sink) await sink.resize(sh.dbPages * ps);
  if (formatChecksum(sum.value) !== sh.checksum) {
    throw new ChecksumMismatchError(`object ${snapKey}: its pages do not match its recorded checksum`, { context: { object: snapKey } });
  }
  bytesRead += plan.snapshot.size;

  const result: ReplayResult = {
    txid: sh.txid, dbPages: sh.dbPages, pageSize: ps, checksum: sum.value, observedAtMs: sh.takenAtMs,
    commits: 0, pages: 0, bytesRead, segmentHashes: new Map(),
  };
  const target = plan.target;
  if (target.kind === 'txid' && target.txid <= sh.txid) return result;

  const recordSize = 4 + ps;
  let prevSha: string | null = null;
  let pgnos = new Uint32Array(1024);
  let hashes = new BigUint64Array(1024);
  let pending = 0;

  let stopped = false;
  outer: for await (const { item, source, whole } of prefetch(storage, plan.segments)) {
    // A segment fetched whole is hashed on the thread pool (WebCrypto copies
    // it first) while this thread replays it: a quarter of this thread's time
    // after 24,000 commits went to SHA-256.
    const digest = whole ? webcrypto.subtle.digest('SHA-256', whole) : null;
    digest?.catch(() => {}); // awaited below, unless replay stops first
    const seg = await SegmentReader.open(source, keyring, item.key, { hash: digest === null });
    const h = seg.header;
    if (h.generation !== plan.generation.id || h.minTxid !== item.minTxid || h.maxTxid !== item.maxTxid || h.pageSize !== ps) {
      throw new CorruptObjectError(`object ${item.key}: its header disagrees with its name (generation, txids or page size)`, { context: { object: item.key } });
    }
    if (h.minTxid !== result.txid + 1) {
      throw new ChainError(`missing segment: txids ${result.txid + 1}..${h.minTxid - 1} of generation ${h.generation} are not in the destination (next object: ${item.key})`, {
        context: { object: item.key, after: result.txid },
        hint: 'restore to an earlier point (--txid), or from another destination',
      });
    }
    if (prevSha !== null && h.prevSha256 !== prevSha) {
      throw new ChainError(`object ${item.key} does not follow the segment before it (hash chain broken)`, { context: { object: item.key } });
    }
    if (prevSha === null && h.minTxid === 1 && h.prevSha256 !== ZERO_SHA256) {
      throw new ChainError(`object ${item.key} is the first segment but names a predecessor`, { context: { object: item.key } });
    }
    for await (const run of seg.runs()) {
      const c = run.commit;
      if ((target.kind === 'txid' && c.txid > target.txid) || (target.kind === 'time' && c.observedAtMs > target.ms)) {
        await seg.cancel();
        stopped = true;
        break outer;
      }
      if (pending + run.count > pgnos.length) {
        const cap = Math.max(pgnos.length * 2, pending + run.count);
        const np = new Uint32Array(cap);
        np.set(pgnos);
        pgnos = np;
        const nh = new BigUint64Array(cap);
        nh.set(hashes);
        hashes = nh;
      }
      const { chunk } = run;
      for (let i = 0; i < run.count; i++) {
        const o = (run.first + i) * recordSize;
        const p = chunk.readUInt32BE(o);
        pgnos[pending] = p;
        hashes[pending] = pageHash(p, chunk.subarray(o + 4, o + recordSize));
        pending++;
        if (!sink || p > c.dbPages || p === lock || p < 1) continue;
        const wait = sink.putPage(p, chunk, o + 4);
        if (wait) await wait;
      }
      if (!run.endsCommit) continue;
      sum.applyCommit(pgnos, hashes, pending, c.dbPages);
      pending = 0;
      if (sink && c.dbPages < result.dbPages) await sink.resize(c.dbPages * ps);
      if (formatChecksum(sum.value) !== c.checksum) {
        throw new ChecksumMismatchError(`object ${item.key}: database checksum after txid ${c.txid} does not match the recorded one`, {
          context: { object: item.key, txid: c.txid },
        });
      }
      onCommit?.(c.txid, sum.value);
      result.txid = c.txid;
      result.dbPages = c.dbPages;
      result.observedAtMs = c.observedAtMs;
      result.commits++;
      result.pages += c.frameCount;
    }
    prevSha = digest ? Buffer.from(await digest).toString('hex') : seg.sha256();
    result.segmentHashes.set(item.key, prevSha);
    result.bytesRead += item.size;
    onProgress?.({ txid: result.txid, bytesRead: result.bytesRead });
  }
  if (!stopped) await checkReachedTarget(plan, storage, result.txid);
  if (sink) await sink.resize(result.dbPages * ps);
  result.checksum = sum.value;
  return result;
}

/** After the chain ran out: fail if the target lay beyond it. */
async function checkReachedTarget(plan: ReplayPlan, storage: Storage, reached: number): Promise<void> {
  const { target, gapBefore } = plan;
  const gapError = (next: SegmentRef): ChainError =>
    new ChainError(`missing segment: txids ${reached + 1}..${next.minTxid - 1} of generation ${plan.generation.id} are not in the destination (next object: ${next.key})`, {
      context: { after: reached, object: next.key },
      hint: `restore to txid ${reached} or earlier (--txid ${reached}), or from another destination`,
    });
  if (target.kind === 'txid' && reached < target.txid) {
    if (gapBefore && gapBefore.minTxid <= target.txid) throw gapError(gapBefore);
    throw new TargetError(`txid ${target.txid} is beyond the newest txid ${reached} of generation ${plan.generation.id}`, {
      hint: 'list the available range with: walcast-restore list',
    });
  }
  if (!gapBefore) return;
  if (target.kind === 'latest') throw gapError(gapBefore);
  if (target.kind === 'time') {
    const next = await readHeader(storage, gapBefore.key, 'segment');
    if (next.commits[0]!.observedAtMs <= target.ms) throw gapError(gapBefore);
  }
}
