/**
 * The page sink of a restore: writes pages into the file being restored.
 *
 * Large writes (snapshot chunks) go through the thread pool, a few at a
 * time, so the disk works while the next chunk is decrypted and hashed.
 * Page writes from segments go into a bounded page cache first: a page that
 * later commits rewrite is written once, and a flush writes the cached pages
 * in page order, contiguous runs as one vectored write, instead of one
 * random write per page. Nothing in replay reads the file back (checksums are
 * proven from the decoded pages), so deferring writes changes nothing but
 * their cost. The cache is flushed before any large write, before a resize,
 * and when full, so writes land in order and memory stays bounded.
 *
 * Every so many bytes a datasync starts in the background. Without it the
 * kernel keeps a whole restore dirty in memory (far below its writeback
 * thresholds on a large machine) and the disk only starts at the final
 * fsync; with it the disk writes while later pages are still being
 * decoded, and the final fsync has little left to do.
 */
import { ftruncateSync, writeSync, writevSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { PageSink } from './replay.js';

/** Writes at least this large bypass the cache and go through the thread pool. */
const LARGE_WRITE_BYTES = 256 << 10;
/** Large writes in flight at once. */
const WRITES_IN_FLIGHT = 4;
/** Bytes of pages the cache holds before it is flushed. */
const CACHE_BYTES = 32 << 20;
/** At most this many buffers per vectored write (IOV_MAX on Linux is 1024). */
const MAX_IOV = 1024;
/** Bytes written between background datasyncs. */
const WRITEBACK_BYTES = 64 << 20;

/** A page sink into a file. */
export interface FileSink extends PageSink {
  /** Waits for the background datasync, if any; throws if one failed. Call before the final fsync. */
  settle(): Promise<void>;
}

/** A sink writing into `fh`. */
export function fileSink(fh: FileHandle): FileSink {
  const fd = fh.fd;
  let size = -1;
  const inFlight = new Set<Promise<void>>();
  let failed: unknown = null;
  let pageSize = 0;
  let slots = 0;
  let arena: Buffer | null = null;
  let used = 0;
  /** Page number → its slot in the arena. */
  const cached = new Map<number, number>();
  let unsynced = 0;
  let syncing: Promise<void> | null = null;

  const written = (bytes: number): void => {
    unsynced += bytes;
    if (unsynced < WRITEBACK_BYTES || syncing) return;
    unsynced = 0;
    // fsync reports an error once per open file: keep it, or the final fsync could miss it.
    syncing = fh.datasync().then(
      () => void (syncing = null),
      (err: unknown) => {
        syncing = null;
        failed ??= err;
      },
    );
  };

  const drain = async (): Promise<void> => {
    while (inFlight.size) await Promise.all(inFlight);
    if (failed) throw failed;
  };

  const flush = (): void => {
    if (!cached.size) return;
    const order = [...cached.keys()].sort((a, b) => a - b);
    for (let i = 0; i < order.length; ) {
      const first = order[i]!;
      const run: Buffer[] = [];
      while (i < order.length && order[i] === first + run.length && run.length < MAX_IOV) {
        const s = cached.get(order[i]!)! * pageSize;
        run.push(arena!.subarray(s, s + pageSize));
        i++;
      }
      writeRunSync(fd, run, (first - 1) * pageSize);
    }
    written(cached.size * pageSize);
    cached.clear();
    used = 0;
  };

  const cachePage = (pgno: number, page: Uint8Array): void => {
    let slot = cached.get(pgno);
    if (slot === undefined) {
      if (used === slots) flush();
      arena ??= Buffer.allocUnsafe(slots * pageSize);
      slot = used++;
      cached.set(pgno, slot);
    }
    arena!.set(page, slot * pageSize);
  };

  return {
    start(ps) {
      pageSize = ps;
      slots = Math.max(16, Math.floor(CACHE_BYTES / ps));
    },
    async write(offset, buffers) {
      size = -1;
      const one = buffers.length === 1 ? buffers[0]! : null;
      if (one && one.length >= LARGE_WRITE_BYTES) {
        flush();
        while (inFlight.size >= WRITES_IN_FLIGHT) await Promise.race(inFlight);
        if (failed) throw failed;
        const p: Promise<void> = writeFully(fh, one, offset).then(
          () => {
            inFlight.delete(p);
            written(one.length);
          },
          (err: unknown) => {
            inFlight.delete(p);
            failed ??= err;
          },
        );
        inFlight.add(p);
        return;
      }
      await drain();
      let pgno = offset / pageSize + 1;
      for (const b of buffers) {
        for (let o = 0; o < b.length; o += pageSize) cachePage(pgno++, b.subarray(o, o + pageSize));
      }
    },
    async settle() {
      flush();
      await drain();
      while (syncing) await syncing;
      if (failed) throw failed;
    },
    async resize(bytes) {
      const pages = Math.floor(bytes / pageSize);
      for (const pgno of [...cached.keys()]) if (pgno > pages) cached.delete(pgno);
      flush();
      await drain();
      if (bytes !== size) ftruncateSync(fd, bytes);
      size = bytes;
    },
  };
}

async function writeFully(fh: FileHandle, buf: Uint8Array, offset: number): Promise<void> {
  for (let done = 0; done < buf.length; ) done += (await fh.write(buf, done, buf.length - done, offset + done)).bytesWritten;
}

/** Writes `buffers` back to back from `offset`, in full. */
function writeRunSync(fd: number, buffers: Buffer[], offset: number): void {
  const total = buffers.reduce((n, b) => n + b.length, 0);
  if (writevSync(fd, buffers, offset) === total) return;
  // A short vectored write: write each buffer in full (rewriting the same bytes is harmless).
  for (const b of buffers) {
    for (let done = 0; done < b.length; ) done += writeSync(fd, b, done, b.length - done, offset + done);
    offset += b.length;
  }
}
