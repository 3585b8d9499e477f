/**
 * Scans a WAL file forward from a known position and returns the frames of
 * whole committed transactions. A frame counts only if its salts equal the
 * header's and its checksum continues the chain; the scan stops at the first
 * frame that fails, exactly where SQLite's own recovery stops. Frames after the
 * last commit frame (a transaction still being written, or a torn tail) are
 * left for a later scan.
 */
import type { FileHandle } from 'node:fs/promises';
import { pageHash } from './page-hash.js';
import { halves, readAhead, type Span } from './read-ahead.js';
import { walChecksumInto } from './wal-checksum.js';
import {
  WAL_FRAME_HEADER_SIZE,
  WAL_HEADER_SIZE,
  frameOffset,
  parseWalHeader,
  type WalHeader,
} from './wal-format.js';

/** Bytes read per system call while scanning. */
const READ_BYTES = 4 << 20;
/** Frames in a scan's first read; later reads double up to half the read buffer. */
const FIRST_BLOCK_FRAMES = 16;

/** A point in one WAL: after frame `frame` (0 = right after the header). */
export interface WalPosition {
  salt1: number;
  salt2: number;
  checkpointSeq: number;
  pageSize: number;
  bigEndian: boolean;
  /** Number of frames consumed; the next frame to read is `frame + 1`. */
  frame: number;
  /** Chain checksum after frame `frame` (the header's checksum when frame is 0). */
  checksum1: number;
  checksum2: number;
}

/** One committed transaction found by a scan. */
export interface ScannedCommit {
  /** Index (in the scan's frame arrays) of the transaction's first frame. */
  first: number;
  /** Index one past its commit frame. */
  end: number;
  /** Database size in pages after the commit. */
  dbPages: number;
  /** WAL frame number of the commit frame. */
  commitFrame: number;
}

/** Result of a scan: every frame of every whole transaction after the start position. */
export interface ScanResult {
  /** Page number of each frame, in WAL order. */
  pgnos: Uint32Array;
  /** Page hash of each frame (when hashing was asked for). */
  hashes: BigUint64Array;
  /** Chain checksum words of each frame, two per frame: a rewritten frame never keeps them. */
  sums: Uint32Array;
  /** Number of frames in `pgnos`/`hashes` (all belong to whole transactions). */
  count: number;
  commits: ScannedCommit[];
  /** Position after the last commit frame (equal to the start when none was found). */
  end: WalPosition;
  /** WAL frame number of `pgnos[0]`. */
  firstFrame: number;
}

/** Options of `scanWal`. */
export interface ScanOptions {
  /** Hash every page (needed to keep the database checksum). Default true. */
  hashPages?: boolean;
  /** Stop after the first commit once this many frames were taken (a transaction is never split). */
  maxFrames?: number;
  /** Never look past this frame (inclusive). */
  lastFrame?: number;
  /** A reusable read buffer (at least one frame); one is allocated per call otherwise. */
  scratch?: Buffer;
}

/** Reads and validates the WAL header; null when the file is shorter than a header or invalid. */
export async function readWalHeader(fh: FileHandle): Promise<WalHeader | null> {
  const buf = Buffer.alloc(WAL_HEADER_SIZE);
  const { bytesRead } = await fh.read(buf, 0, WAL_HEADER_SIZE, 0);
  return bytesRead < WAL_HEADER_SIZE ? null : parseWalHeader(buf);
}

/** The position right after the header of `header`. */
export function headerPosition(header: WalHeader): WalPosition {
  return {
    salt1: header.salt1,
    salt2: header.salt2,
    checkpointSeq: header.checkpointSeq,
    pageSize: header.pageSize,
    bigEndian: header.bigEndian,
    frame: 0,
    checksum1: header.checksum1,
    checksum2: header.checksum2,
  };
}

/**
 * True when the WAL still holds `pos`: frame `pos.frame` carries the recorded
 * salts and chain checksum (or, at frame 0, the header does).
 */
export async function positionHolds(fh: FileHandle, header: WalHeader, pos: WalPosition): Promise<boolean> {
  if (header.salt1 !== pos.salt1 || header.salt2 !== pos.salt2 || header.pageSize !== pos.pageSize) return false;
  if (pos.frame === 0) return header.checksum1 === pos.checksum1 && header.checksum2 === pos.checksum2;
  const buf = Buffer.alloc(WAL_FRAME_HEADER_SIZE);
  const { bytesRead } = await fh.read(buf, 0, buf.length, frameOffset(pos.frame, pos.pageSize));
  if (bytesRead < buf.length) return false;
  return (
    buf.readUInt32BE(8) === pos.salt1 &&
    buf.readUInt32BE(12) === pos.salt2 &&
    buf.readUInt32BE(16) === pos.checksum1 &&
    buf.readUInt32BE(20) === pos.checksum2
  );
}

/** Scans committed transactions after `from`. */
export async function scanWal(fh: FileHandle, from: WalPosition, opts: ScanOptions = {}): Promise<ScanResult> {
  const hashPages = opts.hashPages ?? true;
  const ps = from.pageSize;
  const frameSize = WAL_FRAME_HEADER_SIZE + ps;
  const scratch = opts.scratch && opts.scratch.length >= 2 * frameSize && opts.scratch.byteOffset % 8 === 0 ? opts.scratch : null;
  // A frame is 24 bytes plus a power of two, so each half is 8-byte aligned.
  const buffers = halves(scratch ?? Buffer.allocUnsafeSlow(Math.max(2 * frameSize, READ_BYTES)), frameSize)!;
  const perRead = buffers[0].length / frameSize;
  const state = new Uint32Array([from.checksum1, from.checksum2]);

  let pgnos: Uint32Array = new Uint32Array(256);
  let hashes: BigUint64Array = new BigUint64Array(hashPages ? 256 : 0);
  let sums: Uint32Array = new Uint32Array(512);
  let count = 0;
  const commits: ScannedCommit[] = [];
  let frame = from.frame;
  let committed = { frame: from.frame, c1: from.checksum1, c2: from.checksum2, count: 0 };
  const lastFrame = opts.lastFrame ?? Infinity;

  // Blocks follow each other from frame from.frame + 1; each is read while the one before is checked.
  // They start small and double: a poll usually finds a few new frames, and
  // past them a reused WAL still holds a previous cycle's frames, which one
  // full-size block (and the one read ahead) would copy on every poll.
  function* blocks(): Iterator<Span & { frames: number }> {
    let size = Math.min(FIRST_BLOCK_FRAMES, perRead);
    for (let f = from.frame; f < lastFrame; f += size, size = Math.min(2 * size, perRead)) {
      const frames = Math.min(size, lastFrame - f);
      yield { position: frameOffset(f + 1, ps), bytes: frames * frameSize, frames };
    }
  }
  scan: for await (const { span, bytes: got } of readAhead(fh, blocks(), buffers)) {
    const want = span.frames;
    const n = Math.floor(got.length / frameSize);
    const dv = new DataView(got.buffer, got.byteOffset, got.length);
    for (let j = 0; j < n; j++) {
      const o = j * frameSize;
      if (dv.getUint32(o + 8) !== from.salt1 || dv.getUint32(o + 12) !== from.salt2) break scan;
      walChecksumInto(got.subarray(o, o + 8), from.bigEndian, state);
      walChecksumInto(got.subarray(o + WAL_FRAME_HEADER_SIZE, o + frameSize), from.bigEndian, state);
      if (state[0] !== dv.getUint32(o + 16) || state[1] !== dv.getUint32(o + 20)) break scan;
      frame++;
      if (count === pgnos.length) {
        pgnos = grow32(pgnos);
        sums = grow32(sums);
        if (hashPages) hashes = grow64(hashes);
      }
      const pgno = dv.getUint32(o);
      pgnos[count] = pgno;
      sums[2 * count] = state[0]!;
      sums[2 * count + 1] = state[1]!;
      if (hashPages) hashes[count] = pageHash(pgno, got.subarray(o + WAL_FRAME_HEADER_SIZE, o + frameSize));
      count++;
      const commitSize = dv.getUint32(o + 4);
      if (commitSize !== 0) {
        commits.push({ first: committed.count, end: count, dbPages: commitSize, commitFrame: frame });
        committed = { frame, c1: state[0]!, c2: state[1]!, count };
        if (opts.maxFrames !== undefined && count >= opts.maxFrames) break scan;
      }
    }
    if (n < want) break;
  }

  return {
    pgnos,
    hashes,
    sums,
    count: committed.count,
    commits,
    end: { ...from, frame: committed.frame, checksum1: committed.c1, checksum2: committed.c2 },
    firstFrame: from.frame + 1,
  };
}

function grow32(a: Uint32Array): Uint32Array {
  const b = new Uint32Array(a.length * 2);
  b.set(a);
  return b;
}

function grow64(a: BigUint64Array): BigUint64Array {
  const b = new BigUint64Array(a.length * 2);
  b.set(a);
  return b;
}
