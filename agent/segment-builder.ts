/**
 * Turns observed commits into one sealed segment in staging. Each commit keeps
 * only the last version of each page it wrote (SQLite may spill a page more
 * than once within a transaction); the database checksum is advanced commit
 * by commit; pages are read back from the WAL, and each frame's header must
 * still carry the salts and chain checksum pass 1 saw (SQLite never rewrites a
 * frame without changing them), so a frame that changed under the agent
 * aborts the segment instead of shipping a page its checksum does not cover.
 */
import type { DbChecksum } from '../core/db-checksum.js';
import type { Keyring } from '../core/keyring.js';
import type { Layout } from '../core/layout.js';
import { ChunkSpares } from '../core/object-codec.js';
import type { CommitRecord } from '../core/object-format.js';
import { formatChecksum, lockPage } from '../core/page-hash.js';
import { SegmentEncoder } from '../core/segment.js';
import type { Storage } from '../core/storage/storage.js';
import { writeObject } from '../core/storage/write-object.js';
import type { WalPosition } from '../core/wal-scanner.js';
import type { Observation, WalTailer } from './wal-tailer.js';

/** What was staged. */
export interface BuiltSegment {
  key: string;
  bytes: number;
  sha256: string;
  minTxid: number;
  maxTxid: number;
  checksum: string;
  dbPages: number;
  observedAtMs: number;
  /** WAL position after the last commit. */
  end: WalPosition;
  pages: number;
  /** WAL bytes the segment covers (all frames of its commits). */
  walBytes: number;
  commits: CommitRecord[];
  /** The sealed object itself when it is small (KEEP_BYTES), for its first upload; null otherwise. */
  body: Buffer | null;
}

/** A sealed segment up to this size stays in memory for its first upload, which then need not read it back from staging. */
const KEEP_BYTES = 1 << 20;
/** Chunk memory handed from one segment encoder to the next: the agent makes a segment every sync interval. */
const segmentChunks = new ChunkSpares(2);

/** Inputs of `buildSegment`. */
export interface SegmentInput {
  observations: readonly Observation[];
  /** Txid of the first commit. */
  firstTxid: number;
  /** Checksum at `firstTxid - 1`; advanced in place. */
  sum: DbChecksum;
  pageSize: number;
  generation: string;
  prevSha256: string;
  layout: Layout;
  tailer: WalTailer;
  keyring: Keyring;
  compress: boolean;
  staging: Storage;
}

/** Builds and stages the segment; throws (leaving `sum` advanced) when anything fails. */
export async function buildSegment(input: SegmentInput): Promise<BuiltSegment> {
  const { observations, sum, pageSize } = input;
  const lock = lockPage(pageSize);
  const commits: CommitRecord[] = [];
  let frames: Uint32Array = new Uint32Array(1024);
  let pgnos: Uint32Array = new Uint32Array(1024);
  let hashes: BigUint64Array = new BigUint64Array(1024);
  let sums: Uint32Array = new Uint32Array(2048);
  let n = 0;
  let txid = input.firstTxid;
  let walFrames = 0;
  const seen = new Set<number>();
  const picked: number[] = [];

  for (const obs of observations) {
    for (const c of obs.commits) {
      walFrames += c.end - c.first;
      // Last version of each page within the commit, in WAL order.
      picked.length = 0;
      seen.clear();
      for (let i = c.end - 1; i >= c.first; i--) {
        const p = obs.pgnos[i]!;
        if (p > c.dbPages || p === lock || seen.has(p)) continue;
        seen.add(p);
        picked.push(i);
      }
      if (n + picked.length > frames.length) {
        const cap = Math.max(frames.length * 2, n + picked.length);
        frames = grow(frames, cap);
        pgnos = grow(pgnos, cap);
        sums = grow(sums, 2 * cap);
        const h = new BigUint64Array(cap);
        h.set(hashes);
        hashes = h;
      }
      const start = n;
      for (let k = picked.length - 1; k >= 0; k--) {
        const i = picked[k]!;
        frames[n] = obs.firstFrame + i;
        pgnos[n] = obs.pgnos[i]!;
        hashes[n] = obs.hashes[i]!;
        sums[2 * n] = obs.sums[2 * i]!;
        sums[2 * n + 1] = obs.sums[2 * i + 1]!;
        n++;
      }
      sum.applyCommit(pgnos.subarray(start, n), hashes.subarray(start, n), n - start, c.dbPages);
      commits.push({ txid: txid++, dbPages: c.dbPages, observedAtMs: obs.observedAtMs, frameCount: n - start, checksum: formatChecksum(sum.value) });
    }
  }
  if (commits.length === 0) throw new Error('buildSegment: nothing to stage');

  const minTxid = commits[0]!.txid;
  const maxTxid = commits[commits.length - 1]!.txid;
  const key = input.layout.segment(input.generation, 0, minTxid, maxTxid);
  const plan = { db: input.layout.db, generation: input.generation, level: 0, pageSize, commits, prevSha256: input.prevSha256 };
  const { salt1, salt2 } = observations[0]!.end;
  const kept: Buffer[] = []; // the encoder's output buffers are fresh, never reused
  let keptBytes = 0;
  const done = await writeObject(input.staging, key, async (sink) => {
    const keep = async (buffers: Buffer[]): Promise<void> => {
      for (const b of buffers) if ((keptBytes += b.length) <= KEEP_BYTES) kept.push(b);
      await sink(buffers);
    };
    const enc = new SegmentEncoder(plan, input.keyring, keep, input.compress, segmentChunks);
    await input.tailer.readFrames(frames, n, pageSize, async (i, header, page) => {
      if (
        header.readUInt32BE(8) !== salt1 || header.readUInt32BE(12) !== salt2 ||
        header.readUInt32BE(16) !== sums[2 * i] || header.readUInt32BE(20) !== sums[2 * i + 1] || header.readUInt32BE(0) !== pgnos[i]
      ) {
        throw new Error(`WAL frame ${frames[i]} changed between reads; capture restarts from a proof of continuity`);
      }
      await enc.addPage(pgnos[i]!, page);
    });
    return enc.finish();
  });
  const last = commits[commits.length - 1]!;
  return {
    key,
    bytes: done.bytes,
    sha256: done.sha256,
    minTxid,
    maxTxid,
    checksum: last.checksum,
    dbPages: last.dbPages,
    observedAtMs: last.observedAtMs,
    end: observations[observations.length - 1]!.end,
    pages: n,
    walBytes: walFrames * (pageSize + 24),
    commits,
    body: keptBytes <= KEEP_BYTES ? Buffer.concat(kept, keptBytes) : null,
  };
}

function grow(a: Uint32Array, cap: number): Uint32Array {
  const b = new Uint32Array(cap);
  b.set(a);
  return b;
}
