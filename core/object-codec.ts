/**
 * Encoding and decoding of the object container shared by segments and
 * snapshots (layout in object-format.ts): the prefix with its msgpack header,
 * then a stream of sealed chunks. Encoders are state machines over a sink and
 * refuse misuse; decoders read a stream once, never holding the whole object.
 */
import { createHash, type Hash } from 'node:crypto';
import { Packr } from 'msgpackr';
import { CorruptObjectError } from './errors.js';
import { ChunkOpener, ChunkSealer, newEnvelope, openEnvelope, prefixHash } from './envelope.js';
import type { Keyring } from './keyring.js';
import {
  FINAL_CHUNK_FLAG,
  FORMAT_VERSION,
  MAX_HEADER_SIZE,
  PREFIX_SIZE,
  type EnvelopeFields,
  type ObjectHeader,
} from './object-format.js';
export type { ObjectHeader };
import { StreamReader, type ByteSource } from './stream-reader.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** Where an encoder writes: receives buffers in order. */
export type ObjectSink = (buffers: Buffer[]) => Promise<void> | void;

/** What an encoder reports when it finishes. */
export interface EncodedObject {
  /** SHA-256 (hex) of the whole object. */
  sha256: string;
  /** Total bytes written. */
  bytes: number;
}

/** Builds the prefix: magic, version, header length, msgpack header (in its wire form). */
export function encodePrefix(magic: string, header: object): Buffer {
  const body = packr.pack(header);
  const prefix = Buffer.allocUnsafe(PREFIX_SIZE + body.length);
  prefix.write(magic, 0, 'latin1');
  prefix[4] = FORMAT_VERSION;
  prefix.writeUInt32BE(body.length, 5);
  body.copy(prefix, PREFIX_SIZE);
  return prefix;
}

/**
 * Chunk buffers that finished encoders hand on to the next encoder of the
 * same size, at most `perSize` of each size. For objects made often (the
 * agent starts a segment every sync interval) a fresh 1 MiB buffer is a new
 * mapping to fault in on the object's path and garbage after it; objects
 * made rarely (snapshots) are better off without spares held between them.
 * A seal copies the chunk out (compressed or encrypted), so once an encoder
 * has finished nothing refers to its chunk. Encoders that fail keep theirs.
 */
export class ChunkSpares {
  private readonly spares = new Map<number, Buffer[]>();

  constructor(private readonly perSize: number) {}

  take(size: number): Buffer {
    return this.spares.get(size)?.pop() ?? Buffer.allocUnsafe(size);
  }

  giveBack(chunk: Buffer): void {
    const spares = this.spares.get(chunk.length) ?? [];
    if (spares.length < this.perSize) spares.push(chunk);
    this.spares.set(chunk.length, spares);
  }
}

/**
 * Streams fixed-size records into sealed chunks. `recordsPerChunk` records
 * make one chunk; the final chunk takes whatever is left (possibly nothing).
 */
export class ObjectEncoder {
  private readonly sealer: ChunkSealer;
  private readonly prefix: Buffer;
  private readonly chunk: Buffer;
  private fill = 0;
  private state: 'new' | 'open' | 'closed' = 'new';
  private readonly hash: Hash = createHash('sha256');
  private bytes = 0;

  /** Builds the header from the envelope fields, since the header must carry them. */
  constructor(
    magic: string,
    keyring: Keyring,
    compress: boolean,
    makeHeader: (envelope: EnvelopeFields) => object,
    private readonly recordSize: number,
    recordsPerChunk: number,
    private readonly sink: ObjectSink,
    private readonly spares?: ChunkSpares,
  ) {
    const { fields, objectKey } = newEnvelope(keyring, compress);
    this.prefix = encodePrefix(magic, makeHeader(fields));
    this.sealer = new ChunkSealer(objectKey, prefixHash(this.prefix), compress);
    const size = recordSize * recordsPerChunk;
    this.chunk = spares ? spares.take(size) : Buffer.allocUnsafe(size);
  }

  /** Appends one record given as parts whose lengths add up to the record size. */
  async add(...parts: Uint8Array[]): Promise<void> {
    if (this.state === 'closed') throw new Error('add after finish');
    if (this.state === 'new') await this.emit([this.prefix]);
    this.state = 'open';
    let o = this.fill;
    for (const p of parts) {
      this.chunk.set(p, o);
      o += p.length;
    }
    if (o - this.fill !== this.recordSize) throw new RangeError(`record of ${o - this.fill} bytes, expected ${this.recordSize}`);
    this.fill = o;
    if (this.fill === this.chunk.length) {
      await this.emit(this.sealer.seal(this.chunk, false));
      this.fill = 0;
    }
  }

  /** Seals the final chunk and reports the object's hash and size. */
  async finish(): Promise<EncodedObject> {
    if (this.state === 'closed') throw new Error('finish called twice');
    if (this.state === 'new') await this.emit([this.prefix]);
    this.state = 'closed';
    const sealed = this.sealer.seal(this.chunk.subarray(0, this.fill), true);
    this.spares?.giveBack(this.chunk);
    await this.emit(sealed);
    return { sha256: this.hash.digest('hex'), bytes: this.bytes };
  }

  private async emit(buffers: Buffer[]): Promise<void> {
    for (const b of buffers) {
      this.hash.update(b);
      this.bytes += b.length;
    }
    await this.sink(buffers);
  }
}

/** One chunk as stored: ciphertext ‖ tag, its position, and whether it is the last. */
export interface SealedChunk {
  sealed: Buffer;
  index: number;
  final: boolean;
}

/** The per-object key and prefix hash that open an object's chunks (see `ChunkOpener`). */
export interface ChunkKeys {
  objectKey: Buffer;
  prefixSha: Buffer;
}

/** An object being read: its header, then its chunks' plaintext, in order. */
export class ObjectDecoder<H extends ObjectHeader> {
  private readonly opener: ChunkOpener;

  private constructor(
    readonly header: H,
    private readonly reader: StreamReader,
    readonly object: string,
    private readonly keys: ChunkKeys,
  ) {
    this.opener = new ChunkOpener(keys.objectKey, keys.prefixSha, object);
  }

  /**
   * Reads the prefix and header of `object` from `source`, checks the magic
   * and the header shape, and finds the key in `keyring`. With
   * `hash: false` the whole-object SHA-256 is not computed.
   */
  static async open<H extends ObjectHeader>(
    source: ByteSource,
    magic: string,
    keyring: Keyring,
    object: string,
    validate: (h: unknown, object: string) => H,
    opts: { hash?: boolean } = {},
  ): Promise<ObjectDecoder<H>> {
    const reader = new StreamReader(source, opts);
    const head = await reader.read(PREFIX_SIZE);
    if (head.length < PREFIX_SIZE) throw corrupt(object, 'is truncated before its header');
    if (head.toString('latin1', 0, 4) !== magic) throw corrupt(object, `does not start with "${magic}"`);
    if (head[4] !== FORMAT_VERSION) throw corrupt(object, `has format version ${head[4]}, this build reads ${FORMAT_VERSION}`);
    const n = head.readUInt32BE(5);
    if (n === 0 || n > MAX_HEADER_SIZE) throw corrupt(object, `has an implausible header length ${n}`);
    const body = await reader.read(n);
    if (body.length < n) throw corrupt(object, 'is truncated inside its header');
    let raw: unknown;
    try {
      raw = packr.unpack(body);
    } catch (cause) {
      throw corrupt(object, 'has a header that does not decode', cause);
    }
    const header = validate(raw, object);
    const objectKey = openEnvelope(keyring, header, object);
    return new ObjectDecoder(header, reader, object, { objectKey, prefixSha: prefixHash(Buffer.concat([head, body])) });
  }

  /** Yields each chunk's plaintext, in order; throws CorruptObjectError on any defect. */
  async *chunks(): AsyncGenerator<Buffer> {
    for await (const c of this.sealedChunks()) yield this.open(c);
  }

  /**
   * Yields each chunk still sealed, in order, for opening elsewhere (a
   * decoder thread, with `chunkKeys()`); checks the framing, not the contents.
   * With `memory`, each chunk is read into the memory it returns for the
   * chunk's length (at least that long), else it may share the stream's buffers.
   */
  async *sealedChunks(memory?: (length: number) => Uint8Array): AsyncGenerator<SealedChunk> {
    for (let index = 0; ; index++) {
      const { sealed, final } = await this.nextSealed(memory);
      yield { sealed, index, final };
      if (final) {
        if (!(await this.reader.atEnd())) throw corrupt(this.object, 'has bytes after its final chunk');
        return;
      }
    }
  }

  /** Opens one chunk from `sealedChunks()`: its plaintext; throws CorruptObjectError on any defect. */
  open(c: SealedChunk): Buffer {
    return this.opener.open(c.sealed, c.index, c.final);
  }

  /** What opening this object's chunks takes: a secret, for a decoder thread of this process only. */
  chunkKeys(): ChunkKeys {
    return this.keys;
  }

  private async nextSealed(memory?: (length: number) => Uint8Array): Promise<{ sealed: Buffer; final: boolean }> {
    const word = await this.reader.read(4);
    if (word.length < 4) throw corrupt(this.object, 'is truncated (its final chunk is missing)');
    const w = word.readUInt32BE(0);
    const final = (w & FINAL_CHUNK_FLAG) !== 0;
    const len = w & ~FINAL_CHUNK_FLAG;
    const sealed = await this.reader.read(len, memory?.(len));
    if (sealed.length < len) throw corrupt(this.object, 'is truncated inside a chunk');
    return { sealed, final };
  }

  /** SHA-256 (hex) of the whole object; valid once `chunks()` has finished, when opened with hashing. */
  sha256(): string {
    return this.reader.digest();
  }

  /** Bytes read so far. */
  get bytesRead(): number {
    return this.reader.consumed;
  }

  /** Abandons the rest of the stream. */
  async cancel(): Promise<void> {
    await this.reader.cancel();
  }
}

/** A CorruptObjectError naming the object. */
export function corrupt(object: string, what: string, cause?: unknown): CorruptObjectError {
  return new CorruptObjectError(`object ${object} ${what}`, { context: { object }, cause });
}

/** Field checks shared by the header validators. */
export function checkFields(h: Record<string, unknown>, object: string, spec: Record<string, 'string' | 'number' | 'bytes' | 'array'>): void {
  for (const [k, t] of Object.entries(spec)) {
    const v = h[k];
    const ok =
      t === 'bytes' ? v instanceof Uint8Array : t === 'array' ? Array.isArray(v) : t === 'number' ? typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 : typeof v === t;
    if (!ok) throw corrupt(object, `has a malformed header (field ${k})`);
  }
}
