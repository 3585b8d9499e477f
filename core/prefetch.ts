/**
 * Fetches the objects of a chain ahead of the consumer: small objects are
 * downloaded whole, several at once, within a byte budget; large ones are
 * streamed when their turn comes, so memory stays bounded.
 */
import type { Readable } from 'node:stream';
import { getBuffer, type Storage } from './storage/storage.js';

/** Objects up to this size are fetched whole ahead of time. */
const WHOLE_LIMIT = 16 << 20;

/** Options of `prefetch`. */
export interface PrefetchOptions {
  /** Downloads in flight at once. */
  concurrency?: number;
  /** Bytes held ahead of the consumer at most. */
  maxBytes?: number;
}

/** Yields, for each `{ key, size }` in order, a source of its bytes. */
export async function* prefetch<T extends { key: string; size: number }>(
  storage: Storage,
  items: readonly T[],
  opts: PrefetchOptions = {},
): AsyncGenerator<{ item: T; source: AsyncIterable<Buffer> }> {
  const concurrency = opts.concurrency ?? 8;
  const maxBytes = opts.maxBytes ?? 16 << 20;
  const pending: (Promise<Buffer> | null)[] = [];
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
        const p = getBuffer(storage, it.key);
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
        const buf = await p;
        pending[consumed] = null;
        aheadBytes -= it.size;
        consumed++;
        yield { item: it, source: once(buf) };
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

async function* once(buf: Buffer): AsyncGenerator<Buffer> {
  yield buf;
}
