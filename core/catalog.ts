/**
 * What a destination holds for one database: generations, their snapshots and
 * segments, read from listings and (when times are needed) object headers.
 */
import { Packr } from 'msgpackr';
import { CorruptObjectError, NotFoundError } from './errors.js';
import { generationStartMs, type Layout } from './layout.js';
import { PREFIX_SIZE, MAX_HEADER_SIZE, SEGMENT_MAGIC, SNAPSHOT_MAGIC, type SegmentHeader, type SnapshotHeader } from './object-format.js';
import { validateSegmentHeader } from './segment.js';
import { validateSnapshotHeader } from './snapshot.js';
import { getBuffer, type Storage } from './storage/storage.js';

const unpackr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** A snapshot object. */
export interface SnapshotRef {
  key: string;
  txid: number;
  size: number;
}

/** A segment object. */
export interface SegmentRef {
  key: string;
  level: number;
  minTxid: number;
  maxTxid: number;
  size: number;
}

/** One generation as listed. */
export interface GenerationInfo {
  id: string;
  startMs: number;
  /** Sorted by txid. */
  snapshots: SnapshotRef[];
  /** Level-0 segments sorted by txid. */
  segments: SegmentRef[];
  hasMeta: boolean;
  bytes: number;
}

/** Contents of a generation's meta.json. */
export interface GenerationMeta {
  db: string;
  generation: string;
  pageSize: number;
  startedAt: string;
  host: string;
  reason: string;
  parent?: { generation: string; txid: number };
}

/** Lists every generation of the database, oldest first. */
export async function listGenerations(storage: Storage, layout: Layout): Promise<GenerationInfo[]> {
  const gens = new Map<string, GenerationInfo>();
  const get = (id: string): GenerationInfo => {
    let g = gens.get(id);
    if (!g) {
      g = { id, startMs: generationStartMs(id), snapshots: [], segments: [], hasMeta: false, bytes: 0 };
      gens.set(id, g);
    }
    return g;
  };
  for await (const o of storage.list(layout.root)) {
    const p = layout.parse(o.key);
    if (!p) continue;
    const g = get(p.generation);
    g.bytes += o.size;
    if (p.kind === 'meta') g.hasMeta = true;
    else if (p.kind === 'snapshot') g.snapshots.push({ key: o.key, txid: p.txid, size: o.size });
    else if (p.level === 0) g.segments.push({ key: o.key, level: p.level, minTxid: p.minTxid, maxTxid: p.maxTxid, size: o.size });
  }
  const out = [...gens.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  for (const g of out) {
    g.snapshots.sort((a, b) => a.txid - b.txid);
    g.segments.sort((a, b) => a.minTxid - b.minTxid || a.maxTxid - b.maxTxid);
  }
  return out;
}

/** Reads a generation's meta.json; null when it is missing. */
export async function readMeta(storage: Storage, layout: Layout, gen: string): Promise<GenerationMeta | null> {
  try {
    return JSON.parse((await getBuffer(storage, layout.meta(gen))).toString('utf8')) as GenerationMeta;
  } catch (err) {
    if (err instanceof NotFoundError) return null;
    if (err instanceof SyntaxError) throw new CorruptObjectError(`object ${layout.meta(gen)} is not valid JSON`, { context: { object: layout.meta(gen) } });
    throw err;
  }
}

/**
 * Reads and shape-checks an object's header with a range read, without
 * decrypting anything. (The header is authenticated only when the body is
 * opened; use it for planning and listing, not as proof.)
 */
export async function readHeader(storage: Storage, key: string, kind: 'segment'): Promise<SegmentHeader>;
export async function readHeader(storage: Storage, key: string, kind: 'snapshot'): Promise<SnapshotHeader>;
export async function readHeader(storage: Storage, key: string, kind: 'segment' | 'snapshot'): Promise<SegmentHeader | SnapshotHeader> {
  const first = await readRange(storage, key, 0, 64 * 1024 - 1);
  if (first.length < PREFIX_SIZE) throw new CorruptObjectError(`object ${key} is truncated before its header`, { context: { object: key } });
  const magic = kind === 'segment' ? SEGMENT_MAGIC : SNAPSHOT_MAGIC;
  if (first.toString('latin1', 0, 4) !== magic) throw new CorruptObjectError(`object ${key} does not start with "${magic}"`, { context: { object: key } });
  const n = first.readUInt32BE(5);
  if (n === 0 || n > MAX_HEADER_SIZE) throw new CorruptObjectError(`object ${key} has an implausible header length ${n}`, { context: { object: key } });
  const buf = PREFIX_SIZE + n <= first.length ? first : await readRange(storage, key, 0, PREFIX_SIZE + n - 1);
  if (buf.length < PREFIX_SIZE + n) throw new CorruptObjectError(`object ${key} is truncated inside its header`, { context: { object: key } });
  let raw: unknown;
  try {
    raw = unpackr.unpack(buf.subarray(PREFIX_SIZE, PREFIX_SIZE + n));
  } catch (cause) {
    throw new CorruptObjectError(`object ${key} has a header that does not decode`, { context: { object: key }, cause });
  }
  return kind === 'segment' ? validateSegmentHeader(raw, key) : validateSnapshotHeader(raw, key);
}

async function readRange(storage: Storage, key: string, start: number, end: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  try {
    for await (const b of await storage.get(key, { start, end })) parts.push(b as Buffer);
  } catch (err) {
    // Some stores answer a range past the end of a short object with an error; read it whole.
    if (err instanceof NotFoundError) throw err;
    return getBuffer(storage, key);
  }
  return Buffer.concat(parts);
}

/**
 * The contiguous run of segments after `txid` (from `fromTxid + 1` on), and
 * the first gap if the chain breaks before `untilTxid`.
 */
export function segmentChain(
  gen: GenerationInfo,
  fromTxid: number,
  untilTxid = Infinity,
): { segments: SegmentRef[]; gap?: { after: number; nextMin?: number } } {
  const segments: SegmentRef[] = [];
  let next = fromTxid + 1;
  for (const s of gen.segments) {
    if (s.maxTxid < next) continue;
    if (next > untilTxid) break;
    if (s.minTxid !== next) return { segments, gap: { after: next - 1, nextMin: s.minTxid } };
    segments.push(s);
    next = s.maxTxid + 1;
  }
  return { segments };
}

/** Newest txid a generation's segments reach contiguously from its first snapshot; -1 with no snapshot. */
export function newestTxid(gen: GenerationInfo): number {
  const base = gen.snapshots[0];
  if (!base) return -1;
  const { segments } = segmentChain(gen, base.txid);
  const last = segments[segments.length - 1];
  return Math.max(last ? last.maxTxid : base.txid, gen.snapshots[gen.snapshots.length - 1]!.txid);
}
