/**
 * SQLite write-ahead log format: constants, header and frame-header parsing.
 *
 * WAL header (32 bytes, all fields big-endian u32):
 *
 *   0  magic           0x377f0682: checksum words little-endian; 0x377f0683: big-endian
 *   4  format version  3007000
 *   8  page size       512..65536
 *  12  checkpoint seq  incremented by every WAL restart
 *  16  salt-1          incremented by every restart
 *  20  salt-2          random on every restart
 *  24  checksum-1      cumulative checksum over header bytes 0..23
 *  28  checksum-2
 *
 * Frame = 24-byte frame header + one page:
 *
 *   0  page number
 *   4  database size in pages after this commit; non-zero only on a commit frame
 *   8  salt-1          must equal the header's
 *  12  salt-2          must equal the header's
 *  16  checksum-1      cumulative: continues from the previous frame (or the header)
 *  20  checksum-2      over frame-header bytes 0..7, then the page
 */
import { walChecksum } from './wal-checksum.js';

export const WAL_HEADER_SIZE = 32;
export const WAL_FRAME_HEADER_SIZE = 24;
export const WAL_MAGIC_LE = 0x377f0682;
export const WAL_MAGIC_BE = 0x377f0683;
export const WAL_FORMAT_VERSION = 3007000;

/** Parsed WAL header. */
export interface WalHeader {
  /** True when checksum words are read big-endian (magic 0x377f0683). */
  bigEndian: boolean;
  pageSize: number;
  checkpointSeq: number;
  salt1: number;
  salt2: number;
  /** Cumulative checksum after the header: the chain's starting point for frame 1. */
  checksum1: number;
  checksum2: number;
}

/** Parsed frame header. */
export interface FrameHeader {
  pgno: number;
  /** Database size in pages after the commit; 0 for a non-commit frame. */
  commitSize: number;
  salt1: number;
  salt2: number;
  checksum1: number;
  checksum2: number;
}

/** True for a power of two between 512 and 65536. */
export function isValidPageSize(n: number): boolean {
  return n >= 512 && n <= 65536 && (n & (n - 1)) === 0;
}

/**
 * Parses and validates a WAL header. Returns null when the bytes are not a
 * valid header (short file, wrong magic, bad page size, or bad checksum), which
 * is how SQLite itself treats such a WAL: as empty.
 */
export function parseWalHeader(buf: Uint8Array): WalHeader | null {
  if (buf.length < WAL_HEADER_SIZE) return null;
  const dv = new DataView(buf.buffer, buf.byteOffset, WAL_HEADER_SIZE);
  const magic = dv.getUint32(0, false);
  if (magic !== WAL_MAGIC_LE && magic !== WAL_MAGIC_BE) return null;
  if (dv.getUint32(4, false) !== WAL_FORMAT_VERSION) return null;
  const pageSize = dv.getUint32(8, false);
  if (!isValidPageSize(pageSize)) return null;
  const bigEndian = magic === WAL_MAGIC_BE;
  const sum = walChecksum(buf.subarray(0, 24), bigEndian, 0, 0);
  const checksum1 = dv.getUint32(24, false);
  const checksum2 = dv.getUint32(28, false);
  if (sum[0] !== checksum1 || sum[1] !== checksum2) return null;
  return {
    bigEndian,
    pageSize,
    checkpointSeq: dv.getUint32(12, false),
    salt1: dv.getUint32(16, false),
    salt2: dv.getUint32(20, false),
    checksum1,
    checksum2,
  };
}

/** Reads a frame header at `offset` of `buf` (no validation). */
export function readFrameHeader(buf: Uint8Array, offset: number): FrameHeader {
  const dv = new DataView(buf.buffer, buf.byteOffset + offset, WAL_FRAME_HEADER_SIZE);
  return {
    pgno: dv.getUint32(0, false),
    commitSize: dv.getUint32(4, false),
    salt1: dv.getUint32(8, false),
    salt2: dv.getUint32(12, false),
    checksum1: dv.getUint32(16, false),
    checksum2: dv.getUint32(20, false),
  };
}

/** Byte offset of frame `index` (1-based) in the WAL file. */
export function frameOffset(index: number, pageSize: number): number {
  return WAL_HEADER_SIZE + (index - 1) * (WAL_FRAME_HEADER_SIZE + pageSize);
}
