/**
 * Snapshots: every page of the database at one position, pages 1..dbPages in
 * order, in sealed chunks of `chunkPages` pages.
 */
import type { CorruptObjectError } from './errors.js';
import { checkFields, corrupt, ObjectDecoder, ObjectEncoder, type ChunkKeys, type EncodedObject, type ObjectSink, type SealedChunk } from './object-codec.js';
import type { Keyring } from './keyring.js';
import type { ByteSource } from './stream-reader.js';
import { SNAPSHOT_MAGIC, chunkPageCount, pagesPerChunk, type SnapshotHeader } from './object-format.js';

/** Everything a snapshot header holds apart from the envelope and derived fields. */
export interface SnapshotPlan {
  db: string;
  generation: string;
  txid: number;
  pageSize: number;
  dbPages: number;
  checksum: string;
  takenAtMs: number;
}

/** Writes one snapshot; exactly `dbPages` pages, in order. */
export class SnapshotEncoder {
  private readonly enc: ObjectEncoder;
  private added = 0;
  readonly header: SnapshotHeader;

  constructor(private readonly plan: SnapshotPlan, keyring: Keyring, sink: ObjectSink, compress = true) {
    const chunkPages = pagesPerChunk(plan.pageSize);
    let header: SnapshotHeader | undefined;
    this.enc = new ObjectEncoder(
      SNAPSHOT_MAGIC,
      keyring,
      compress,
      (env) => (header = { kind: 'snapshot', ...plan, chunkPages, ...env }),
      plan.pageSize,
      chunkPages,
      sink,
    );
    this.header = header!;
  }

  /** Adds the next page. */
  async addPage(page: Uint8Array): Promise<void> {
    if (this.added === this.plan.dbPages) throw new RangeError('more pages than the snapshot declares');
    await this.enc.add(page);
    this.added++;
  }

  /** Finishes the object; all `dbPages` pages must have been added. */
  async finish(): Promise<EncodedObject> {
    if (this.added !== this.plan.dbPages) throw new RangeError(`snapshot got ${this.added} pages, declares ${this.plan.dbPages}`);
    return this.enc.finish();
  }
}

/** Reads a snapshot: header first, then chunks of whole pages. */
export class SnapshotReader {
  private constructor(private readonly dec: ObjectDecoder<SnapshotHeader>) {}

  /** Opens the snapshot `object` from a byte stream. */
  static async open(source: ByteSource, keyring: Keyring, object: string): Promise<SnapshotReader> {
    // No whole-object hash: nothing chains to a snapshot, and its chunks are authenticated one by one.
    return new SnapshotReader(await ObjectDecoder.open(source, SNAPSHOT_MAGIC, keyring, object, validateSnapshotHeader, { hash: false }));
  }

  get header(): SnapshotHeader {
    return this.dec.header;
  }

  /** The object's name, for errors. */
  get object(): string {
    return this.dec.object;
  }

  /** Yields chunks of whole pages, in page order; checks the page count of each chunk and of the whole. */
  async *chunks(): AsyncGenerator<Buffer> {
    const h = this.dec.header;
    let pages = 0;
    for await (const c of this.dec.sealedChunks()) {
      const chunk = this.dec.open(c);
      pages += chunkPageCount(this.dec.object, c.index, c.final, chunk.length, h.pageSize, h.chunkPages);
      if (pages > h.dbPages) throw this.tooManyPages();
      if (chunk.length > 0) yield chunk;
    }
    if (pages !== h.dbPages) throw this.wrongPageCount(pages);
  }

  /**
   * The chunks still sealed, in order, to be opened elsewhere with
   * `chunkKeys()` (see decode-pool.ts); `memory` as in ObjectDecoder.sealedChunks.
   */
  sealedChunks(memory?: (length: number) => Uint8Array): AsyncGenerator<SealedChunk> {
    return this.dec.sealedChunks(memory);
  }

  /** What opening the chunks takes: a secret, for this process's decoder threads only. */
  chunkKeys(): ChunkKeys {
    return this.dec.chunkKeys();
  }

  /** The error for chunks holding more pages than the header declares. */
  tooManyPages(): CorruptObjectError {
    return corrupt(this.dec.object, 'holds more pages than its header declares');
  }

  /** The error for a page count that differs from the header's. */
  wrongPageCount(pages: number): CorruptObjectError {
    return corrupt(this.dec.object, `holds ${pages} pages, its header declares ${this.dec.header.dbPages}`);
  }

  /** Bytes read so far. */
  get bytesRead(): number {
    return this.dec.bytesRead;
  }

  /** Abandons the rest of the object. */
  async cancel(): Promise<void> {
    await this.dec.cancel();
  }
}

/** Checks the shape of a snapshot header. */
export function validateSnapshotHeader(raw: unknown, object: string): SnapshotHeader {
  if (typeof raw !== 'object' || raw === null || (raw as { kind?: unknown }).kind !== 'snapshot') throw corrupt(object, 'is not a snapshot');
  checkFields(raw as Record<string, unknown>, object, {
    db: 'string', generation: 'string', txid: 'number', pageSize: 'number', dbPages: 'number', checksum: 'string',
    takenAtMs: 'number', chunkPages: 'number', keyId: 'string', salt: 'bytes', keyCheck: 'bytes', compression: 'string',
  });
  return raw as SnapshotHeader;
}
