/**
 * Segments: the page images of one or more whole transactions, with each
 * commit's txid, database size, observed time and database checksum in the
 * header. The body is, for each commit in order, for each page it wrote
 * (last version only): u32 big-endian page number ‖ page bytes.
 */
import { corrupt, checkFields, ObjectDecoder, ObjectEncoder, type ChunkSpares, type EncodedObject, type ObjectSink } from './object-codec.js';
import type { Keyring } from './keyring.js';
import type { ByteSource } from './stream-reader.js';
import { SEGMENT_MAGIC, recordsPerChunk, type CommitRecord, type SegmentHeader } from './object-format.js';

/** Everything a segment header holds apart from the envelope and derived fields. */
export interface SegmentPlan {
  db: string;
  generation: string;
  level: number;
  pageSize: number;
  commits: CommitRecord[];
  prevSha256: string;
}

/** Writes one segment; pages must come commit by commit, `frameCount` of each. */
export class SegmentEncoder {
  private readonly enc: ObjectEncoder;
  private readonly pgnoBuf = Buffer.allocUnsafe(4);
  private readonly expected: number;
  private added = 0;
  readonly header: SegmentHeader;

  /** `spares`: chunk memory shared with the encoders before and after this one (see ChunkSpares). */
  constructor(plan: SegmentPlan, keyring: Keyring, sink: ObjectSink, compress = true, spares?: ChunkSpares) {
    if (plan.commits.length === 0) throw new RangeError('a segment needs at least one commit');
    this.expected = plan.commits.reduce((n, c) => n + c.frameCount, 0);
    let header: SegmentHeader | undefined;
    this.enc = new ObjectEncoder(
      SEGMENT_MAGIC,
      keyring,
      compress,
      (env) => {
        header = {
          kind: 'segment',
          db: plan.db,
          generation: plan.generation,
          level: plan.level,
          minTxid: plan.commits[0]!.txid,
          maxTxid: plan.commits[plan.commits.length - 1]!.txid,
          pageSize: plan.pageSize,
          commits: plan.commits,
          prevSha256: plan.prevSha256,
          bodyLength: this.expected * (4 + plan.pageSize),
          ...env,
        };
        return { ...header, commits: commitsToWire(plan.commits) };
      },
      4 + plan.pageSize,
      recordsPerChunk(plan.pageSize),
      sink,
      spares,
    );
    this.header = header!;
  }

  /** Adds the next page record. */
  async addPage(pgno: number, page: Uint8Array): Promise<void> {
    if (this.added === this.expected) throw new RangeError('more pages than the commits declare');
    this.pgnoBuf.writeUInt32BE(pgno, 0);
    await this.enc.add(this.pgnoBuf, page);
    this.added++;
  }

  /** Finishes the object; every declared page must have been added. */
  async finish(): Promise<EncodedObject> {
    if (this.added !== this.expected) throw new RangeError(`segment got ${this.added} pages, its commits declare ${this.expected}`);
    return this.enc.finish();
  }
}

/** A run of page records of one commit inside one decoded chunk. */
export interface PageRun {
  commit: CommitRecord;
  /** Decoded chunk; record i sits at (first + i) * (4 + pageSize). */
  chunk: Buffer;
  first: number;
  count: number;
  /** True when this run ends the commit. */
  endsCommit: boolean;
}

/** Reads a segment: header first, then page runs in order. */
export class SegmentReader {
  private constructor(private readonly dec: ObjectDecoder<SegmentHeader>) {}

  /** Opens the segment `object` from a byte stream; `hash: false` skips its SHA-256 (then `sha256()` throws). */
  static async open(source: ByteSource, keyring: Keyring, object: string, opts: { hash?: boolean } = {}): Promise<SegmentReader> {
    return new SegmentReader(await ObjectDecoder.open(source, SEGMENT_MAGIC, keyring, object, validateSegmentHeader, opts));
  }

  get header(): SegmentHeader {
    return this.dec.header;
  }

  /** Yields page runs; a commit with no pages yields one empty run. */
  async *runs(): AsyncGenerator<PageRun> {
    const h = this.dec.header;
    const recordSize = 4 + h.pageSize;
    let ci = 0;
    let left = h.commits[0]!.frameCount;
    const skipEmpty = function* (): Generator<PageRun> {
      while (ci < h.commits.length && left === 0) {
        yield { commit: h.commits[ci]!, chunk: EMPTY, first: 0, count: 0, endsCommit: true };
        ci++;
        left = ci < h.commits.length ? h.commits[ci]!.frameCount : 0;
      }
    };
    yield* skipEmpty();
    for await (const chunk of this.dec.chunks()) {
      if (chunk.length % recordSize !== 0) throw corrupt(this.dec.object, 'has a chunk that is not a whole number of page records');
      const records = chunk.length / recordSize;
      let r = 0;
      while (r < records) {
        if (ci >= h.commits.length) throw corrupt(this.dec.object, 'holds more pages than its commits declare');
        const take = Math.min(left, records - r);
        left -= take;
        const endsCommit = left === 0;
        yield { commit: h.commits[ci]!, chunk, first: r, count: take, endsCommit };
        r += take;
        if (endsCommit) {
          ci++;
          left = ci < h.commits.length ? h.commits[ci]!.frameCount : 0;
          yield* skipEmpty();
        }
      }
    }
    if (ci < h.commits.length) throw corrupt(this.dec.object, 'holds fewer pages than its commits declare');
  }

  /** SHA-256 (hex) of the whole object; valid after `runs()` finished. */
  sha256(): string {
    return this.dec.sha256();
  }

  /** Bytes read so far. */
  get bytesRead(): number {
    return this.dec.bytesRead;
  }

  /** Abandons the rest of the object. */
  async cancel(): Promise<void> {
    await this.dec.cancel();
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * The commit records in columns, as stored in the header. The database size
 * and the observed time are stored as differences from the commit before
 * (the first from 0 and from `baseMs`): under load most are 0 or small, one
 * msgpack byte each instead of two or three. Headers written before that
 * hold absolute columns (`dbPages`, `offsetMs` from `baseMs`) and still read.
 */
interface WireCommits {
  dbPagesDiff?: number[];
  msDiff?: number[];
  dbPages?: number[];
  offsetMs?: number[];
  baseMs: number;
  frameCount: number[];
  checksums: Uint8Array;
}

function commitsToWire(commits: CommitRecord[]): WireCommits {
  const baseMs = commits[0]!.observedAtMs;
  const checksums = Buffer.allocUnsafe(8 * commits.length);
  commits.forEach((c, i) => checksums.write(c.checksum, 8 * i, 'hex'));
  return {
    dbPagesDiff: commits.map((c, i) => c.dbPages - (i ? commits[i - 1]!.dbPages : 0)),
    baseMs,
    msDiff: commits.map((c, i) => c.observedAtMs - (i ? commits[i - 1]!.observedAtMs : baseMs)),
    frameCount: commits.map((c) => c.frameCount),
    checksums,
  };
}

/** Running sums of `diffs` from `start`; null when an entry is not an integer. */
function undiff(diffs: unknown[], start: number): number[] | null {
  const out: number[] = [];
  let v = start;
  for (const d of diffs) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d)) return null;
    out.push((v += d));
  }
  return out;
}

/** The absolute dbPages and observed-time columns of either wire form; null when malformed. */
function absoluteColumns(w: WireCommits): { dbPages: unknown[]; observedAtMs: unknown[] } | null {
  if (Array.isArray(w.dbPagesDiff) && Array.isArray(w.msDiff)) {
    const dbPages = undiff(w.dbPagesDiff, 0);
    const observedAtMs = undiff(w.msDiff, w.baseMs);
    return dbPages && observedAtMs ? { dbPages, observedAtMs } : null;
  }
  if (Array.isArray(w.dbPages) && Array.isArray(w.offsetMs)) {
    return { dbPages: w.dbPages, observedAtMs: w.offsetMs.map((o) => (typeof o === 'number' ? w.baseMs + o : o)) };
  }
  return null;
}

/** Checks the shape and internal consistency of a segment header, and reads its commit columns. */
export function validateSegmentHeader(raw: unknown, object: string): SegmentHeader {
  if (typeof raw !== 'object' || raw === null || (raw as { kind?: unknown }).kind !== 'segment') throw corrupt(object, 'is not a segment');
  const h = raw as Record<string, unknown>;
  checkFields(h, object, {
    db: 'string', generation: 'string', level: 'number', minTxid: 'number', maxTxid: 'number', pageSize: 'number',
    prevSha256: 'string', bodyLength: 'number', keyId: 'string', salt: 'bytes', keyCheck: 'bytes', compression: 'string',
  });
  const w = h.commits as WireCommits | undefined;
  if (typeof w !== 'object' || w === null) throw corrupt(object, 'has a malformed header (field commits)');
  checkFields(w as unknown as Record<string, unknown>, object, { baseMs: 'number', frameCount: 'array', checksums: 'bytes' });
  const cols = absoluteColumns(w);
  if (!cols) throw corrupt(object, 'has a malformed header (field commits)');
  const n = cols.dbPages.length;
  if (n === 0) throw corrupt(object, 'has no commits');
  if (cols.observedAtMs.length !== n || w.frameCount.length !== n || w.checksums.length !== 8 * n) throw corrupt(object, 'has commit columns of different lengths');
  const minTxid = h.minTxid as number;
  const sums = Buffer.from(w.checksums.buffer, w.checksums.byteOffset, w.checksums.length);
  const commits: CommitRecord[] = [];
  let frames = 0;
  for (let i = 0; i < n; i++) {
    const c = { txid: minTxid + i, dbPages: cols.dbPages[i] as number, observedAtMs: cols.observedAtMs[i] as number, frameCount: w.frameCount[i]!, checksum: sums.toString('hex', 8 * i, 8 * i + 8) };
    checkFields(c as unknown as Record<string, unknown>, object, { dbPages: 'number', observedAtMs: 'number', frameCount: 'number' });
    frames += c.frameCount;
    commits.push(c);
  }
  const s = { ...(h as object), commits } as SegmentHeader;
  if (s.maxTxid !== s.minTxid + n - 1) throw corrupt(object, 'has a txid range that disagrees with its commits');
  if (s.bodyLength !== frames * (4 + s.pageSize)) throw corrupt(object, 'has a body length that disagrees with its commits');
  return s;
}
