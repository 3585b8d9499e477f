/**
 * Sequential reads with one read ahead: while the caller works on one
 * buffer's bytes, the next span is already being read into the other, so
 * the thread pool's copy from the page cache overlaps the caller's hashing
 * and sealing instead of alternating with it.
 */
import type { FileHandle } from 'node:fs/promises';

/** A byte range of a file. */
export interface Span {
  position: number;
  bytes: number;
}

/** Bytes read for one span: shorter than asked at the end of the file. */
export interface SpanRead<S extends Span> {
  span: S;
  bytes: Buffer;
}

/**
 * Reads `spans` in order, alternately into `buffers[0]` and `buffers[1]`
 * (each at least as long as any span), and yields what was read for each.
 * A yielded buffer stays valid until the next step. However the loop ends,
 * the read in flight is awaited before the generator returns, so the
 * buffers are free again.
 */
export async function* readAhead<S extends Span>(fh: FileHandle, spans: Iterator<S>, buffers: readonly [Buffer, Buffer]): AsyncGenerator<SpanRead<S>> {
  let which = 0;
  const start = (): Promise<SpanRead<S>> | null => {
    const s = spans.next();
    if (s.done) return null;
    const span = s.value;
    const buf = buffers[which]!;
    which = 1 - which;
    const read = fh.read(buf, 0, span.bytes, span.position).then((r) => ({ span, bytes: buf.subarray(0, r.bytesRead) }));
    read.catch(() => {}); // awaited at the next step; not an unhandled rejection meanwhile
    return read;
  };
  let pending = start();
  try {
    while (pending) {
      const got = await pending;
      pending = start();
      yield got;
    }
  } finally {
    if (pending) await pending.catch(() => {});
  }
}

/** Splits `buf` into two halves, each a whole number of `unit`-byte records and 8-byte aligned; null when a half cannot hold one record. */
export function halves(buf: Buffer, unit: number): [Buffer, Buffer] | null {
  const per = Math.floor(buf.length / 2 / unit);
  if (per < 1 || (per * unit) % 8 !== 0) return null;
  return [buf.subarray(0, per * unit), buf.subarray(per * unit, 2 * per * unit)];
}
