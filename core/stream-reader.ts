/**
 * Exact-length reads over a byte stream, hashing every byte that passes so a
 * reader learns the SHA-256 of a whole object without buffering it.
 */
import { createHash, type Hash } from 'node:crypto';

/** Bytes arriving in pieces: a stream, an async generator, or an array of buffers. */
export type ByteSource = AsyncIterable<Buffer | Uint8Array | string> | Iterable<Buffer | Uint8Array | string>;

/** Pulls exact byte counts out of an async iterable of buffers. */
export class StreamReader {
  private readonly it: AsyncIterator<Buffer | Uint8Array | string> | Iterator<Buffer | Uint8Array | string>;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private ended = false;
  private readonly hash: Hash | null;
  /** Bytes handed out so far. */
  consumed = 0;

  /** `hash: false` skips the SHA-256 of the bytes read (then `digest()` throws). */
  constructor(source: ByteSource, opts: { hash?: boolean } = {}) {
    this.hash = opts.hash === false ? null : createHash('sha256');
    this.it = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
  }

  /**
   * Reads exactly `n` bytes; returns fewer only at the end of the stream.
   * With `into` (at least `n` bytes long), the bytes are copied into it and
   * the result is a view of it; else the result may be a view of the
   * stream's own buffers.
   */
  async read(n: number, into?: Uint8Array): Promise<Buffer> {
    await this.fill(n);
    const take = Math.min(n, this.pendingBytes);
    let out: Buffer;
    if (!into && this.pending.length > 0 && this.pending[0]!.length >= take) {
      const first = this.pending[0]!;
      out = first.subarray(0, take);
      if (first.length === take) this.pending.shift();
      else this.pending[0] = first.subarray(take);
    } else {
      out = into ? Buffer.from(into.buffer, into.byteOffset, take) : Buffer.allocUnsafe(take);
      let o = 0;
      while (o < take) {
        const b = this.pending[0]!;
        const k = Math.min(b.length, take - o);
        b.copy(out, o, 0, k);
        o += k;
        if (k === b.length) this.pending.shift();
        else this.pending[0] = b.subarray(k);
      }
    }
    this.pendingBytes -= take;
    this.consumed += take;
    this.hash?.update(out);
    return out;
  }

  /** True when no byte is left. */
  async atEnd(): Promise<boolean> {
    await this.fill(1);
    return this.pendingBytes === 0;
  }

  private async fill(n: number): Promise<void> {
    while (this.pendingBytes < n && !this.ended) {
      const r = await this.it.next();
      if (r.done) {
        this.ended = true;
        break;
      }
      const v = r.value;
      const b = typeof v === 'string' ? Buffer.from(v) : Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      if (b.length === 0) continue;
      this.pending.push(b);
      this.pendingBytes += b.length;
    }
  }

  /** SHA-256 (hex) of every byte read; call once, at the end. */
  digest(): string {
    if (!this.hash) throw new Error('StreamReader: opened without hashing');
    return this.hash.digest('hex');
  }

  /** Stops the underlying stream early. */
  async cancel(): Promise<void> {
    await this.it.return?.();
  }
}
