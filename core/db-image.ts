/**
 * The database as of one WAL position, page-exact: the database file with the
 * newest committed WAL frame (up to the position) laid over each page, cut to
 * the commit's size. Never the backup API (it rewrites the header) nor
 * VACUUM INTO (it renumbers pages). Streams in chunks; memory does not grow
 * with the database.
 */
import type { FileHandle } from 'node:fs/promises';
import { DbChecksum } from './db-checksum.js';
import { lockPage, pageHash } from './page-hash.js';
import type { ScanResult } from './wal-scanner.js';
import { WAL_FRAME_HEADER_SIZE, frameOffset } from './wal-format.js';

const CHUNK_BYTES = 1 << 20;

/** Page number → WAL frame number of its newest committed version in a scan. */
export function walPageIndex(scan: ScanResult): Map<number, number> {
  const index = new Map<number, number>();
  for (let i = 0; i < scan.count; i++) index.set(scan.pgnos[i]!, scan.firstFrame + i);
  return index;
}

/** Hashes pages 1..pages of the database file alone into a new checksum. */
export async function hashDbFile(fh: FileHandle, pageSize: number, pages: number): Promise<DbChecksum> {
  const sum = new DbChecksum(pageSize, pages);
  for await (const { first, chunk } of readImage(fh, null, pageSize, pages, new Map())) {
    addChunk(sum, first, chunk, pageSize);
  }
  sum.applyCommit([], [], 0, pages);
  return sum;
}

/** The checksum of pages 1..pages of a file (zeros past its end), read and hashed on this thread. */
export async function fileChecksum(fh: FileHandle, pageSize: number, pages: number): Promise<bigint> {
  let sum = 0n;
  for await (const { first, chunk } of readImage(fh, null, pageSize, pages, new Map())) sum ^= chunkChecksum(first, chunk, pageSize);
  return sum;
}

/** XOR of the page hashes of an image chunk starting at page `first` (the lock-byte page skipped). */
export function chunkChecksum(first: number, chunk: Buffer, pageSize: number): bigint {
  const lock = lockPage(pageSize);
  let sum = 0n;
  for (let i = 0, p = first; i < chunk.length; i += pageSize, p++) {
    if (p !== lock) sum ^= pageHash(p, chunk.subarray(i, i + pageSize));
  }
  return sum;
}

/** Adds the pages of an image chunk to a checksum being built (see DbChecksum.setPage). */
export function addChunk(sum: DbChecksum, first: number, chunk: Buffer, pageSize: number): void {
  const lock = lockPage(pageSize);
  const n = chunk.length / pageSize;
  for (let i = 0; i < n; i++) {
    const p = first + i;
    if (p !== lock) sum.setPage(p, pageHash(p, chunk.subarray(i * pageSize, (i + 1) * pageSize)));
  }
}

/**
 * Yields pages 1..dbPages in chunks: from the WAL where `walIndex` names a
 * frame, else from the database file, zero beyond its end (and for the
 * lock-byte page). A chunk is valid until the consumer asks for the next:
 * two buffers take turns, so a snapshot of any size allocates two chunks
 * (a fresh one per read left a gigabyte of garbage behind a 1 GiB snapshot,
 * which V8 collects only after 64 MB of it).
 */
export async function* readImage(
  dbFh: FileHandle,
  walFh: FileHandle | null,
  pageSize: number,
  dbPages: number,
  walIndex: ReadonlyMap<number, number>,
): AsyncGenerator<{ first: number; chunk: Buffer }> {
  const per = Math.max(1, Math.floor(CHUNK_BYTES / pageSize));
  const lock = lockPage(pageSize);
  // The next chunk is read from the database file while this one is used.
  const buffers = [0, 1].map(() => Buffer.allocUnsafe(Math.min(per, Math.max(dbPages, 1)) * pageSize));
  const readDb = (first: number): Promise<Buffer> => {
    const chunk = buffers[Math.floor((first - 1) / per) % 2]!.subarray(0, Math.min(per, dbPages - first + 1) * pageSize);
    const p = dbFh.read(chunk, 0, chunk.length, (first - 1) * pageSize).then(({ bytesRead }) => (bytesRead < chunk.length ? chunk.fill(0, bytesRead) : chunk));
    p.catch(() => {}); // awaited below, unless the reader stopped early
    return p;
  };
  let ahead = dbPages >= 1 ? readDb(1) : null;
  for (let first = 1; ahead; first += per) {
    const chunk = await ahead;
    ahead = first + per <= dbPages ? readDb(first + per) : null;
    const n = chunk.length / pageSize;
    for (let i = 0; i < n; i++) {
      const p = first + i;
      if (p === lock) {
        chunk.fill(0, i * pageSize, (i + 1) * pageSize);
        continue;
      }
      const frame = walIndex.get(p);
      if (frame === undefined || !walFh) continue;
      const off = frameOffset(frame, pageSize) + WAL_FRAME_HEADER_SIZE;
      const r = await walFh.read(chunk, i * pageSize, pageSize, off);
      if (r.bytesRead !== pageSize) throw new Error(`WAL frame ${frame} vanished while reading page ${p}`);
    }
    yield { first, chunk };
  }
}
