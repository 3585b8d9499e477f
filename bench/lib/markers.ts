/**
 * Finds the writer's markers (`LAGMARK:<n>:`) inside replicated objects, by
 * opening them as a restore would: walcast segments and snapshots decrypted
 * with the key, Litestream's files LZ4-frame decompressed. A transaction's
 * lag is the appearance time of the first object holding its marker minus
 * its commit time.
 */
import { createReadStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decompressFrameSync } from 'lz4-napi';
import type { Keyring } from '../../core/keyring.js';
import { SegmentReader } from '../../core/segment.js';
import { SnapshotReader } from '../../core/snapshot.js';
import type { Appearance } from './replica-watch.js';
import { max, percentile } from './stats.js';

const MARK = Buffer.from('LAGMARK:', 'latin1');

/** Adds every marker number found in `buf` to `out`. */
export function scanMarkers(buf: Buffer, out: Set<number>): void {
  for (let i = buf.indexOf(MARK); i >= 0; i = buf.indexOf(MARK, i + MARK.length)) {
    let n = 0;
    let j = i + MARK.length;
    let digits = 0;
    for (; j < buf.length && buf[j]! >= 48 && buf[j]! <= 57; j++, digits++) n = n * 10 + (buf[j]! - 48);
    // The trailing colon proves the number was not cut off at a page edge.
    if (digits > 0 && buf[j] === 58) out.add(n);
  }
}

/** Markers in a walcast segment or snapshot file (decrypted with `keyring`). */
export async function markersInWalcastObject(path: string, keyring: Keyring, name: string): Promise<Set<number>> {
  const out = new Set<number>();
  if (/\.seg(\._S3rver_object)?$/.test(path)) {
    const seg = await SegmentReader.open(createReadStream(path, { highWaterMark: 1 << 20 }), keyring, name);
    let last: Buffer | null = null;
    for await (const run of seg.runs()) {
      if (run.chunk !== last) scanMarkers(run.chunk, out); // runs share chunks: scan each once
      last = run.chunk;
    }
  } else {
    const snap = await SnapshotReader.open(createReadStream(path, { highWaterMark: 1 << 20 }), keyring, name);
    for await (const chunk of snap.chunks()) scanMarkers(chunk, out);
  }
  return out;
}

/** Markers in a Litestream `.wal.lz4` or `.snapshot.lz4` file. */
export function markersInLitestreamFile(path: string): Set<number> {
  const out = new Set<number>();
  scanMarkers(decompressFrameSync(readFileSync(path)), out);
  return out;
}

/** Lag figures of one set of transactions, in seconds. */
export interface LagStats {
  count: number;
  /** Transactions whose marker was never found in the replica. */
  missing: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
}

/**
 * First appearance time of each marker: objects are opened oldest first and
 * each marker keeps the time of the first object it is found in.
 */
export async function firstSeen(
  appeared: readonly Appearance[],
  root: string,
  open: (absPath: string, rel: string) => Promise<Set<number>> | Set<number>,
): Promise<Map<number, number>> {
  const seen = new Map<number, number>();
  for (const a of appeared) {
    for (const m of await open(join(root, a.rel), a.rel)) if (!seen.has(m)) seen.set(m, a.atMs);
  }
  return seen;
}

/** Lag statistics of markers [first, first + count). */
export function lagStats(commitMs: readonly number[], seen: ReadonlyMap<number, number>, first: number, count: number): LagStats {
  const lags: number[] = [];
  let missing = 0;
  for (let m = first; m < first + count; m++) {
    const at = seen.get(m);
    const c = commitMs[m];
    if (at === undefined || c === undefined) missing++;
    // A marker can be stamped a millisecond after its file appeared (clock reads race): never negative.
    else lags.push(Math.max(0, at - c) / 1000);
  }
  return { count, missing, p50: percentile(lags, 50), p99: percentile(lags, 99), max: max(lags) };
}
