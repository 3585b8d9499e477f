/**
 * Decoder threads for the two bulk steps of a restore that need only the CPU:
 * opening the snapshot's chunks (AES-GCM, LZ4 and a hash per page: about
 * 1.5 s of one core per GiB) and re-reading the restored file for its
 * checksum. Spread over the cores, they no longer wait on one thread.
 *
 * The main thread reads the sealed chunks in order, each into memory of its
 * own, and moves it (no further copy) to the least busy thread, which
 * moves back the chunk's pages and page hashes, and the memory it is done
 * with; the main thread reuses that for the next sealed chunks. Chunks come
 * back in any order: the checksum is an XOR and
 * each chunk has a fixed place in the file (chunk i holds pages
 * i × chunkPages + 1 onwards; every chunk but the last holds exactly
 * chunkPages). A few chunks per thread are in flight at most, so memory
 * stays bounded.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { CorruptObjectError, WalcastError, type ErrorContext } from './errors.js';
import type { ChunkKeys } from './object-codec.js';
import { pageHash } from './page-hash.js';
import type { SnapshotReader } from './snapshot.js';
import { RESTORE_WORKER_LIMITS } from './node-flags.js';

/** Decoder threads used at most (past a few, the file writes are the limit). */
const MAX_THREADS = 3;
/** Snapshots of at most this many chunks are decoded on the calling thread: starting threads would cost more. */
const INLINE_CHUNKS = 2;
/** Chunks in flight per thread: one being opened, one waiting, one being written. */
const CHUNKS_PER_THREAD = 3;
/** Memory for sealed chunks is allocated in multiples of this, so it fits the next chunks too. */
const SPARE_STEP = 64 << 10;

/** What each thread of a pool is started with. */
export interface DecodeSetup {
  object: string;
  pageSize: number;
  chunkPages: number;
  /** Null for a pool that only hashes files. */
  keys: ChunkKeys | null;
}

/** A job for a decoder thread. */
export type DecodeJob = { id: number } & JobBody;
type JobBody = { kind: 'chunk'; index: number; final: boolean; sealed: Uint8Array } | { kind: 'hash'; fd: number; first: number; count: number };

/** A decoder thread's answer. */
export interface DecodeReply {
  id: number;
  pages?: Uint8Array;
  hashes?: BigUint64Array;
  xor?: bigint;
  /** Memory the thread is done with, moved back (see decode-worker.ts). */
  spent?: ArrayBuffer[];
  error?: { code: string; message: string; context: string };
}

/**
 * Threads worth starting to open chunks on this machine: one core is left to
 * the main thread and the file writes, which then never wait for decoding
 * (on 2 cores, a second decoder only took CPU from the writes).
 */
export function decodeThreads(): number {
  return Math.max(1, Math.min(MAX_THREADS, availableParallelism() - 1));
}

/** Threads worth starting to re-read a file: every core (nothing else is left to do). */
export function hashThreads(): number {
  return Math.max(1, Math.min(MAX_THREADS + 1, availableParallelism()));
}

/** One decoded chunk; `pages` and `hashes` are valid until the callback given them resolves. */
export interface DecodedChunk {
  /** Page number of its first page. */
  first: number;
  count: number;
  pages: Buffer;
  /** `hashes[i]` is the page hash of page `first + i`. */
  hashes: BigUint64Array;
  /** True when `pages` has its memory to itself (but for a leading byte), so it can move to another thread. */
  owned: boolean;
}

/** A set of decoder threads. */
export class DecodePool {
  private readonly workers: Worker[] = [];
  private readonly busy: number[] = [];
  private readonly waiting = new Map<number, { resolve: (r: DecodeReply) => void; reject: (e: Error) => void; worker: number }>();
  private nextId = 1;
  private dead: Error | null = null;

  constructor(
    readonly setup: DecodeSetup,
    threads: number,
  ) {
    for (let i = 0; i < threads; i++) {
      const w = new Worker(new URL('./decode-worker.js', import.meta.url), { workerData: setup, resourceLimits: RESTORE_WORKER_LIMITS });
      w.on('message', (r: DecodeReply) => {
        const job = this.waiting.get(r.id);
        if (!job) return;
        this.waiting.delete(r.id);
        this.busy[job.worker]!--;
        job.resolve(r);
      });
      const fail = (err: Error): void => {
        this.dead ??= err;
        for (const job of this.waiting.values()) job.reject(err);
        this.waiting.clear();
      };
      w.on('error', (err) => fail(new Error(`a decoder thread crashed: ${err.message}`)));
      w.on('exit', (code) => fail(new Error(`a decoder thread exited (code ${code})`)));
      this.workers.push(w);
      this.busy.push(0);
    }
  }

  /**
   * Opens a sealed chunk, whose memory moves to the thread (`sealed` is
   * empty afterwards); resolves with its pages and their hashes, and the
   * memory the thread is done with (the sealed chunk's among it), to reuse.
   */
  async openChunk(index: number, final: boolean, sealed: Uint8Array): Promise<{ pages: Buffer; hashes: BigUint64Array; spent: ArrayBuffer[] }> {
    const r = await this.run({ kind: 'chunk', index, final, sealed }, [sealed.buffer as ArrayBuffer]);
    return { pages: Buffer.from(r.pages!.buffer, r.pages!.byteOffset, r.pages!.byteLength), hashes: r.hashes!, spent: r.spent ?? [] };
  }

  /** XOR of the page hashes of pages first..first+count-1 of the file open as `fd` (lock-byte page skipped). */
  async hashRange(fd: number, first: number, count: number): Promise<bigint> {
    return (await this.run({ kind: 'hash', fd, first, count })).xor!;
  }

  /** Stops the threads; call when no job is in flight. */
  async close(): Promise<void> {
    this.dead ??= new Error('the decoder pool is closed');
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private run(job: JobBody, transfer: ArrayBuffer[] = []): Promise<DecodeReply> {
    if (this.dead) return Promise.reject(this.dead);
    let worker = 0;
    for (let i = 1; i < this.workers.length; i++) if (this.busy[i]! < this.busy[worker]!) worker = i;
    const id = this.nextId++;
    return new Promise<DecodeReply>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, worker });
      this.busy[worker]!++;
      const message: DecodeJob = { ...job, id };
      this.workers[worker]!.postMessage(message, transfer);
    }).then((r) => {
      if (!r.error) return r;
      const context = JSON.parse(r.error.context) as ErrorContext;
      throw r.error.code === 'WALCAST_ERR_CORRUPT'
        ? new CorruptObjectError(r.error.message, { context })
        : new WalcastError(r.error.code, r.error.message, { context });
    });
  }
}

/**
 * Decodes every chunk of a snapshot and hands each to `use`, on decoder
 * threads when the snapshot is large enough to be worth them (then chunks
 * arrive in any order, several at once), else in order on this thread.
 * Checks the page count of every chunk and of the whole. Returns once every
 * `use` has resolved, also when it throws.
 */
export async function decodeSnapshot(reader: SnapshotReader, use: (c: DecodedChunk) => Promise<void>, threads = decodeThreads()): Promise<void> {
  const h = reader.header;
  const chunks = Math.ceil(h.dbPages / h.chunkPages);
  if (threads < 1 || chunks <= INLINE_CHUNKS) {
    let first = 1;
    for await (const pages of reader.chunks()) {
      const count = pages.length / h.pageSize;
      const hashes = new BigUint64Array(count);
      for (let i = 0; i < count; i++) hashes[i] = pageHash(first + i, pages.subarray(i * h.pageSize, (i + 1) * h.pageSize));
      await use({ first, count, pages, hashes, owned: false });
      first += count;
    }
    return;
  }
  const pool = new DecodePool({ object: reader.object, pageSize: h.pageSize, chunkPages: h.chunkPages, keys: reader.chunkKeys() }, threads);
  const active = new Set<Promise<void>>();
  let failure: unknown = null;
  let pages = 0;
  // Memory the threads moved back, reused for the next sealed chunks.
  const spare: ArrayBuffer[] = [];
  const keep = threads * CHUNKS_PER_THREAD + 1;
  // Each chunk is read into memory of its own, to move: a stream's buffers may hold the bytes after it too.
  const memory = (length: number): Uint8Array => {
    const i = spare.findIndex((b) => b.byteLength >= length);
    return new Uint8Array(i >= 0 ? spare.splice(i, 1)[0]! : Buffer.allocUnsafeSlow(Math.ceil(length / SPARE_STEP) * SPARE_STEP).buffer);
  };
  try {
    for await (const c of reader.sealedChunks(memory)) {
      while (active.size >= threads * CHUNKS_PER_THREAD) await Promise.race(active);
      if (failure) break;
      const done: Promise<void> = pool
        .openChunk(c.index, c.final, c.sealed)
        .then(async ({ pages: bytes, hashes, spent }) => {
          for (const b of spent) keepLargest(spare, b, keep);
          const count = hashes.length;
          pages += count;
          if (pages > h.dbPages) throw reader.tooManyPages();
          await use({ first: c.index * h.chunkPages + 1, count, pages: bytes, hashes, owned: true });
        })
        .catch((err: unknown) => void (failure ??= err))
        .finally(() => active.delete(done));
      active.add(done);
    }
  } finally {
    await Promise.all(active);
    await pool.close();
  }
  if (failure) throw failure;
  if (pages !== h.dbPages) throw reader.wrongPageCount(pages);
}

/**
 * Adds `b` to `spare`, then drops the smallest buffer when more than `keep`
 * are held: a decrypted chunk is 16 bytes shorter than its sealed one, so
 * keeping the first to arrive would fill `spare` with memory too small for
 * the next chunks.
 */
function keepLargest(spare: ArrayBuffer[], b: ArrayBuffer, keep: number): void {
  spare.push(b);
  if (spare.length <= keep) return;
  let smallest = 0;
  for (let i = 1; i < spare.length; i++) if (spare[i]!.byteLength < spare[smallest]!.byteLength) smallest = i;
  spare.splice(smallest, 1);
}

/**
 * XOR of the page hashes of pages 1..pages of the file open as `fd` (zeros
 * past its end, the lock-byte page skipped): the database checksum of the
 * file as it is, read on decoder threads in parallel ranges.
 */
export async function hashFile(fd: number, pageSize: number, pages: number, threads = hashThreads()): Promise<bigint> {
  const pool = new DecodePool({ object: '', pageSize, chunkPages: 0, keys: null }, Math.max(1, threads));
  try {
    // More ranges than threads, so a thread that finishes early takes another.
    const ranges = Math.max(1, Math.min(threads * 4, Math.ceil(pages / 4096)));
    const per = Math.ceil(pages / ranges);
    const parts: Promise<bigint>[] = [];
    for (let first = 1; first <= pages; first += per) parts.push(pool.hashRange(fd, first, Math.min(per, pages - first + 1)));
    let xor = 0n;
    for (const x of await Promise.all(parts)) xor ^= x;
    return xor;
  } finally {
    await pool.close();
  }
}
