/**
 * Fetches the objects of a chain ahead of the consumer: small objects are
 * downloaded whole, several at once, within a byte budget; large ones are
 * streamed when their turn comes, so memory stays bounded.
 *
 * Whole objects are read into memory this generator reuses: once the
 * consumer asks for the next object, the one before it is done with, and its
 * memory takes a later download. A fresh buffer per object costs more than
 * the copy into it: memory the allocator has just handed back to the system
 * is faulted in again, page by page (a 1 GiB restore after 24,000 commits
 * took 6.1 s with reused memory against 6.4 s without).
 */
import type { Readable } from 'node:stream';
import type { Storage } from './storage/storage.js';

/** Objects up to this size are fetched whole ahead of time. */
const WHOLE_LIMIT = 16 << 20;
/**
 * Bytes fetched ahead of the consumer by default: enough for eight small
 * objects in flight, which hide a store's latency, while a large one is read
 * far faster than replay uses it. 16 MiB ahead raised the 4 GiB restore's
 * peak RSS by 30-40 MiB; with the page cache's halves at 8 MiB as well, a
 * restore of 1 GiB after 2 minutes of writes was no faster (4.8-5.1 s
 * against 4.4-5.3 s).
 */
const AHEAD_BYTES = 8 << 20;
/** Buffers are allocated in multiples of this. */
const BUFFER_STEP = 256 << 10;
/**
 * A new buffer is this much longer than the object it is made for, so it
 * fits the chain's later objects as they grow a little. Made to measure, a
 * restore whose segments grew from 7.1 to 7.7 MB allocated a new buffer at
 * each step, and the old ones lingered until a full collection.
 */
const BUFFER_HEADROOM = 1.25;

/** Options of `prefetch`. */
export interface PrefetchOptions {
  /** Downloads in flight at once. */
  concurrency?: number;
  /** Bytes held ahead of the consumer at most. */
  maxBytes?: number;
}

/**
 * Yields, for each `{ key, size }` in order, a source of its bytes, and for
 * an object fetched whole, those bytes (`whole`). A source (and every buffer
 * it yielded) is valid until the consumer asks for the next object.
 */
export async function* prefetch<T extends { key: string; size: number }>(
  storage: Storage,
  items: readonly T[],
  opts: PrefetchOptions = {},
): AsyncGenerator<{ item: T; source: AsyncIterable<Buffer>; whole?: Buffer }> {
  const concurrency = opts.concurrency ?? 8;
  const maxBytes = opts.maxBytes ?? AHEAD_BYTES;
  const pool = new BufferPool(maxBytes + WHOLE_LIMIT);
  const pending: (Promise<Fetched> | null)[] = [];
  let started = 0;
  let aheadBytes = 0;
  let consumed = 0;
  // Keep a window of at most `concurrency` objects ahead of the consumer.
  const fill = (): void => {
    while (started < items.length && started - consumed < concurrency) {
      const it = items[started]!;
      if (it.size > WHOLE_LIMIT) {
        if (started > consumed) break; // streamed only once it is next
        pending.push(null);
      } else {
        if (aheadBytes + it.size > maxBytes && started > consumed) break;
        aheadBytes += it.size;
        const p = fetchWhole(storage, it.key, pool.take(it.size));
        p.catch(() => {}); // the error surfaces when the consumer reaches it
        pending.push(p);
      }
      started++;
    }
  };
  try {
    while (consumed < items.length) {
      fill();
      const it = items[consumed]!;
      const p = pending[consumed];
      if (p) {
        const got = await p;
        pending[consumed] = null;
        aheadBytes -= it.size;
        consumed++;
        try {
          yield { item: it, source: once(got.bytes), whole: got.bytes };
        } finally {
          pool.give(got.memory);
        }
      } else {
        const stream: Readable = await storage.get(it.key);
        consumed++;
        try {
          yield { item: it, source: stream };
        } finally {
          stream.destroy();
        }
      }
    }
  } finally {
    for (let i = consumed; i < pending.length; i++) pending[i]?.catch(() => {});
  }
}

/** A whole object: its bytes, a view of `memory`. */
interface Fetched {
  bytes: Buffer;
  memory: Buffer;
}

/** Reads object `key` into `memory` (or, should it be longer than listed, into memory of its own). */
async function fetchWhole(storage: Storage, key: string, memory: Buffer): Promise<Fetched> {
  const read = await storage.readInto?.(key, memory);
  if (typeof read === 'number') return { bytes: memory.subarray(0, read), memory };
  let used = 0;
  let overflow: Buffer[] | null = null;
  for await (const piece of await storage.get(key)) {
    const b = piece as Buffer;
    if (overflow) overflow.push(b);
    else if (used + b.length <= memory.length) used += b.copy(memory, used);
    else overflow = [memory.subarray(0, used), b];
  }
  return overflow ? { bytes: Buffer.concat(overflow), memory } : { bytes: memory.subarray(0, used), memory };
}

/**
 * Buffers given back, handed out again for objects they fit; holds `limit`
 * bytes at most.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];
  private heldBytes = 0;

  constructor(private readonly limit: number) {}

  /** Bytes of the free buffers it holds. */
  get held(): number {
    return this.heldBytes;
  }

  /**
   * A buffer of at least `size` bytes: the smallest free one that fits, else
   * a new one with headroom. When none fits, the free ones (all too small)
   * are let go: a chain's objects grow and shrink slowly, so they would most
   * likely wait unused.
   */
  take(size: number): Buffer {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i]!;
      if (b.length >= size && (best < 0 || b.length < this.free[best]!.length)) best = i;
    }
    if (best < 0) {
      this.free.length = 0;
      this.heldBytes = 0;
      return Buffer.allocUnsafeSlow(Math.max(BUFFER_STEP, Math.ceil((size * BUFFER_HEADROOM) / BUFFER_STEP) * BUFFER_STEP));
    }
    const b = this.free.splice(best, 1)[0]!;
    this.heldBytes -= b.length;
    return b;
  }

  /** Gives a buffer back; dropped when the pool is full. */
  give(b: Buffer): void {
    if (this.heldBytes + b.length > this.limit) return;
    this.free.push(b);
    this.heldBytes += b.length;
  }
}

async function* once(buf: Buffer): AsyncGenerator<Buffer> {
  yield buf;
}
