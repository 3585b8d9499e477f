/**
 * The page sink of a restore: writes pages into the file being restored.
 *
 * Large writes (snapshot chunks) go through the thread pool, a couple at a
 * time (more only spin on the file's lock), so the kernel copies one chunk
 * into the page cache while the next ones are decrypted and hashed; each
 * resolves once written, when its buffer may be reused.
 * Page writes from segments go into a page cache first: a page that later
 * commits rewrite is written once, and a full cache is handed to the page
 * writer thread (page-writer.ts), which writes it in page order, contiguous
 * runs as one vectored write, while the main thread fills the other half.
 * Nothing in replay reads the file back (checksums are proven from the
 * decoded pages), so deferring writes changes nothing but their cost. The
 * cache is written out before any large write and before a resize, so
 * writes land in order, and memory stays bounded.
 *
 * Snapshot chunks decoded on other threads are handed over (`writeOwned`)
 * and written by the page writer thread, in 16 KiB pieces: written whole,
 * they leave the file cached as large folios, into which the segments'
 * later single-page writes cost several times more.
 *
 * Every so many bytes of large writes a datasync starts in the background
 * (writeback.ts), so the disk writes while later pages are still being
 * decoded.
 */
import { ftruncateSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { PageWriter } from './page-writer.js';
import type { PageSink } from './replay.js';
import { Writeback, writeFully } from './writeback.js';

/** Writes at least this large bypass the cache and go through the thread pool. */
const LARGE_WRITE_BYTES = 256 << 10;
/** Large writes in flight at once: writes to one file take its lock in turn, so waiting ones only spin. */
const WRITES_IN_FLIGHT = 2;
/** Chunks handed over (`writeOwned`) and queued for the page writer thread at most. */
const OWNED_QUEUED = 4;
/**
 * Bytes of pages in each of the cache's two halves. 8 MiB halves raised the
 * 4 GiB restore's peak RSS by 10-15 MiB and made no restore faster (see
 * AHEAD_BYTES in prefetch.ts).
 */
const HALF_CACHE_BYTES = 4 << 20;
/**
 * Bytes of large writes (snapshot chunks) between background datasyncs.
 * Pages written from the cache do not count: they land all over the file,
 * often on pages written moments before, and a datasync running beside
 * them slowed the page writer thread by a third (replay of 130,000 page
 * writes: 1.9-2.0 s with it, 1.4-1.7 s without, and 2.0-2.3 s against
 * 2.4-2.6 s including the final fsync).
 */
const WRITEBACK_BYTES = 64 << 20;

/** A page sink into a file. */
export interface FileSink extends PageSink {
  /**
   * Writes out what is cached, waits for every write and the background
   * datasync, and stops the page writer thread; throws if any failed. Call
   * before the final fsync.
   */
  settle(): Promise<void>;
}

/** One half of the page cache: slot i holds page pgnos[i]. */
interface Half {
  pages: Uint8Array;
  pgnos: Uint32Array;
  /** The write of this half, while it is in flight (its memory is with the page writer thread). */
  busy: Promise<void> | null;
}

/** A sink writing into `fh`. */
export function fileSink(fh: FileHandle): FileSink {
  const fd = fh.fd;
  let size = -1;
  const inFlight = new Set<Promise<void>>();
  let failed: unknown = null;
  let pageSize = 0;
  let slots = 0;
  let halves: Half[] = [];
  let current = 0;
  let used = 0;
  let writer: PageWriter | null = null;
  /** Page number → its slot in the current half. */
  const cached = new Map<number, number>();
  const writeback = new Writeback(fh, WRITEBACK_BYTES);
  /** Throws the first failure of a write or a background datasync. */
  const check = (): void => {
    const err = failed ?? writeback.error;
    if (err) throw err;
  };

  const drain = async (): Promise<void> => {
    while (inFlight.size) await Promise.all(inFlight);
    check();
  };

  const newHalf = (): Half => ({ pages: new Uint8Array(slots * pageSize), pgnos: new Uint32Array(slots), busy: null });

  /** Hands the current half to the writer and makes the other half current (once its write is done). */
  const sendHalf = async (): Promise<void> => {
    if (used > 0) {
      const h = halves[current]!;
      writer ??= new PageWriter(fd, pageSize);
      // Not counted towards the background datasync (see WRITEBACK_BYTES).
      h.busy = writer.write(h.pages.buffer as ArrayBuffer, h.pgnos.buffer as ArrayBuffer, used).then(
        (back) => {
          h.pages = new Uint8Array(back.arena);
          h.pgnos = new Uint32Array(back.pgnos);
        },
        (err: unknown) => void (failed ??= err),
      );
      cached.clear();
      used = 0;
      current = 1 - current;
    }
    const next = halves[current];
    if (next?.busy) await next.busy;
    if (next) next.busy = null;
    check();
  };

  /** Counts a large write in flight until it ends; a failure is kept for `check`. Never rejects. */
  const track = (write: Promise<void>, bytes: number): Promise<void> => {
    const p: Promise<void> = write.then(
      () => {
        inFlight.delete(p);
        writeback.wrote(bytes);
      },
      (err: unknown) => {
        inFlight.delete(p);
        failed ??= err;
      },
    );
    inFlight.add(p);
    return p;
  };

  /** Writes out the whole cache and waits for it. */
  const writeCache = async (): Promise<void> => {
    await sendHalf();
    for (const h of halves) if (h.busy) await h.busy;
    check();
  };

  /**
   * Caches page `pgno`, the page size of bytes of `from` at `at`; false when
   * it is not cached yet and the current half is full.
   */
  const cachePage = (pgno: number, from: Uint8Array, at: number): boolean => {
    const h = halves[current]!;
    let slot = cached.get(pgno);
    if (slot === undefined) {
      if (used === slots) return false;
      slot = used++;
      cached.set(pgno, slot);
      h.pgnos[slot] = pgno;
    }
    if (Buffer.isBuffer(from)) from.copy(h.pages, slot * pageSize, at, at + pageSize); // no view to allocate
    else h.pages.set(from.subarray(at, at + pageSize), slot * pageSize);
    return true;
  };

  /** Caches a page once every large write has landed, sending the current half first when it is full. */
  const cacheWhenRoom = async (pgno: number, from: Uint8Array, at: number): Promise<void> => {
    await drain();
    if (!halves.length) halves = [newHalf(), newHalf()];
    if (!cachePage(pgno, from, at)) {
      await sendHalf();
      cachePage(pgno, from, at);
    }
  };

  return {
    start(ps) {
      pageSize = ps;
      slots = Math.max(16, Math.floor(HALF_CACHE_BYTES / ps));
    },
    async write(offset, buffers) {
      size = -1;
      const one = buffers.length === 1 ? buffers[0]! : null;
      if (one && one.length >= LARGE_WRITE_BYTES) {
        await writeCache(); // cached pages, and a half still in flight, land before it
        while (inFlight.size >= WRITES_IN_FLIGHT) await Promise.race(inFlight);
        check();
        await track(writeFully(fh, one, offset), one.length); // the caller may reuse `one` once this resolves
        check();
        return;
      }
      let pgno = offset / pageSize + 1;
      for (const b of buffers) for (let o = 0; o < b.length; o += pageSize, pgno++) await cacheWhenRoom(pgno, b, o);
    },
    putPage(pgno, from, at) {
      size = -1;
      // Nothing to wait for, most of the time: no promise, no garbage.
      if (inFlight.size === 0 && halves.length && cachePage(pgno, from, at)) return undefined;
      return cacheWhenRoom(pgno, from, at);
    },
    async writeOwned(offset, bytes) {
      size = -1;
      await writeCache(); // cached pages, and a half still in flight, land before it
      while (inFlight.size >= OWNED_QUEUED) await Promise.race(inFlight);
      check();
      writer ??= new PageWriter(fd, pageSize);
      void track(writer.writeBytes(bytes, offset), bytes.length); // `bytes` moved: nothing to wait for
    },
    async resize(bytes) {
      const pages = Math.floor(bytes / pageSize);
      for (const [pgno, slot] of cached) {
        if (pgno <= pages) continue;
        cached.delete(pgno);
        halves[current]!.pgnos[slot] = 0; // dropped: the writer skips it
      }
      await writeCache();
      await drain();
      if (bytes !== size) ftruncateSync(fd, bytes);
      size = bytes;
    },
    async settle() {
      try {
        await writeCache();
        await drain();
        await writeback.settle();
      } finally {
        await writer?.close();
        writer = null;
      }
    },
  };
}
