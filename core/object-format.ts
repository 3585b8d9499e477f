/**
 * Byte layout of walcast objects (segments and snapshots).
 *
 *   offset  size  field
 *   0       4     magic: "WCSG" (segment) or "WCSN" (snapshot)
 *   4       1     format version (1)
 *   5       4     header length n (u32 big-endian)
 *   9       n     header (msgpack map; authenticated, not secret: holds no row data)
 *   9+n     ...   chunks, each: u32 big-endian word | sealed bytes
 *                   word bit 31: final-chunk flag; bits 0..30: sealed length
 *                   sealed = AES-256-GCM ciphertext ‖ 16-byte tag
 *
 * A chunk's plaintext, before sealing, is one codec byte (0 raw, 1 LZ4 block
 * with its size prepended) followed by the coded body bytes. Every object has
 * at least one chunk, and exactly one final chunk, last. Each chunk is sealed
 * under a key derived for this object alone (HKDF-SHA256 of the master key
 * with the header's random salt), with nonce = u32 0 ‖ u32 index ‖ u32 final
 * and AAD = SHA-256(bytes 0..9+n) ‖ u32 index ‖ u8 final; so a flipped bit, a
 * dropped, repeated or reordered chunk, a truncated tail, or an edited header
 * all fail authentication.
 */
import { CorruptObjectError } from './errors.js';

export const SEGMENT_MAGIC = 'WCSG';
export const SNAPSHOT_MAGIC = 'WCSN';
export const FORMAT_VERSION = 1;
export const PREFIX_SIZE = 9;
export const CHUNK_WORD_SIZE = 4;
export const FINAL_CHUNK_FLAG = 0x80000000;
export const MAX_CHUNK_SEALED = 0x7fffffff;
export const GCM_TAG_SIZE = 16;
export const SALT_SIZE = 16;
export const KEY_CHECK_SIZE = 8;
/** Upper bound on a header; anything larger is treated as corrupt. */
export const MAX_HEADER_SIZE = 64 << 20;
/** Target plaintext bytes per chunk: LZ4 and GCM are fastest around 1 MiB. */
export const CHUNK_TARGET_BYTES = 1 << 20;

export const CODEC_RAW = 0;
export const CODEC_LZ4 = 1;

/** Fields of the per-object envelope, shared by both headers. */
export interface EnvelopeFields {
  /** Id of the key the object is sealed with. */
  keyId: string;
  /** Random per-object salt for key derivation. */
  salt: Uint8Array;
  /** First bytes of HMAC(derived key, "walcast key check"): tells a wrong key from corruption. */
  keyCheck: Uint8Array;
  /** "lz4" when chunks may be LZ4-coded. */
  compression: 'lz4' | 'none';
}

/** One committed transaction recorded in a segment header. */
export interface CommitRecord {
  txid: number;
  /** Database size in pages after the commit. */
  dbPages: number;
  /** When the agent first saw the commit frame (ms since the epoch). */
  observedAtMs: number;
  /** Page records the commit holds in the body. */
  frameCount: number;
  /** Database checksum after the commit (16 hex digits). */
  checksum: string;
}

/**
 * Header of a segment object, as read. Body: for each commit, for each page:
 * u32 pgno ‖ page. On the wire `commits` is stored in columns to stay small
 * (about 11 bytes per commit; see segment.ts): `{ dbPagesDiff: int[], baseMs,
 * msDiff: int[], frameCount: uint[], checksums: 8 bytes per commit }`, where
 * the two diff columns hold each commit's database size and observed time
 * minus the previous commit's (the first: minus 0 and minus baseMs), and
 * the txid of commit i is `minTxid + i`.
 */
export interface SegmentHeader extends EnvelopeFields {
  kind: 'segment';
  db: string;
  generation: string;
  level: number;
  minTxid: number;
  maxTxid: number;
  pageSize: number;
  commits: CommitRecord[];
  /** SHA-256 (hex) of the previous segment object of this generation; 64 zeros for the first. */
  prevSha256: string;
  /** Plaintext body length in bytes. */
  bodyLength: number;
}

/** Header of a snapshot object. Body: pages 1..dbPages in order (the lock-byte page zero). */
export interface SnapshotHeader extends EnvelopeFields {
  kind: 'snapshot';
  db: string;
  generation: string;
  /** Last txid included (0 for the base snapshot of a generation). */
  txid: number;
  pageSize: number;
  dbPages: number;
  /** Database checksum of the image (16 hex digits). */
  checksum: string;
  /** When the position was captured (ms since the epoch). */
  takenAtMs: number;
  /** Pages per chunk (the last chunk may hold fewer). */
  chunkPages: number;
}

/** Either object header. */
export type ObjectHeader = SegmentHeader | SnapshotHeader;

/** Hash of nothing: the `prevSha256` of a generation's first segment. */
export const ZERO_SHA256 = '0'.repeat(64);

/** Page records per segment chunk for a page size. */
export function recordsPerChunk(pageSize: number): number {
  return Math.max(1, Math.floor(CHUNK_TARGET_BYTES / (4 + pageSize)));
}

/** Pages per snapshot chunk for a page size. */
export function pagesPerChunk(pageSize: number): number {
  return Math.max(1, Math.floor(CHUNK_TARGET_BYTES / pageSize));
}

/**
 * Pages in snapshot chunk `index` of `bytes` plaintext bytes. Every chunk but
 * the final one holds exactly `chunkPages` pages (the encoder seals a chunk
 * when it is full), which is what places chunk i at page i × chunkPages + 1
 * without reading the chunks before it; throws CorruptObjectError otherwise.
 */
export function chunkPageCount(object: string, index: number, final: boolean, bytes: number, pageSize: number, chunkPages: number): number {
  const fail = (what: string): CorruptObjectError => new CorruptObjectError(`object ${object}: chunk ${index} ${what}`, { context: { object, chunk: index } });
  if (bytes % pageSize !== 0) throw fail('is not a whole number of pages');
  const n = bytes / pageSize;
  if (n > chunkPages || (!final && n !== chunkPages)) throw fail(`holds ${n} pages, its header declares ${chunkPages} per chunk`);
  return n;
}
