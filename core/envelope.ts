/**
 * Sealing of object chunks: LZ4, then AES-256-GCM under a per-object key.
 * The layout is described in object-format.ts.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { compressSync, uncompressSync } from 'lz4-napi';
import { CorruptObjectError, WrongKeyError } from './errors.js';
import type { Keyring } from './keyring.js';
import {
  CODEC_LZ4,
  CODEC_RAW,
  FINAL_CHUNK_FLAG,
  GCM_TAG_SIZE,
  KEY_CHECK_SIZE,
  SALT_SIZE,
  type EnvelopeFields,
} from './object-format.js';

const HKDF_INFO = Buffer.from('walcast/v1 object key');
const KEY_CHECK_LABEL = Buffer.from('walcast key check');

/** Derives the key that seals one object from the master key and the object's salt. */
export function deriveObjectKey(master: Buffer, salt: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', master, salt, HKDF_INFO, 32));
}

function keyCheckOf(objectKey: Buffer): Buffer {
  return createHmac('sha256', objectKey).update(KEY_CHECK_LABEL).digest().subarray(0, KEY_CHECK_SIZE);
}

/** Fresh envelope fields for a new object sealed with the keyring's active key. */
export function newEnvelope(keyring: Keyring, compress: boolean): { fields: EnvelopeFields; objectKey: Buffer } {
  const { id, key } = keyring.active;
  const salt = randomBytes(SALT_SIZE);
  const objectKey = deriveObjectKey(key, salt);
  return {
    fields: { keyId: id, salt, keyCheck: keyCheckOf(objectKey), compression: compress ? 'lz4' : 'none' },
    objectKey,
  };
}

/**
 * Opens the envelope of an object: finds its key in the keyring and tells a
 * wrong key (key check differs) from a missing one. `object` names it in errors.
 */
export function openEnvelope(keyring: Keyring, fields: EnvelopeFields, object: string): Buffer {
  const master = keyring.get(fields.keyId, object);
  if (!(fields.salt instanceof Uint8Array) || fields.salt.length !== SALT_SIZE) {
    throw new CorruptObjectError(`object ${object} has a malformed header (salt)`, { context: { object } });
  }
  const objectKey = deriveObjectKey(master, fields.salt);
  const check = keyCheckOf(objectKey);
  if (!(fields.keyCheck instanceof Uint8Array) || fields.keyCheck.length !== check.length || !timingSafeEqual(check, fields.keyCheck)) {
    throw new WrongKeyError(`object ${object} was sealed with a different key "${fields.keyId}" than the one in the keyring`, {
      hint: `check that key "${fields.keyId}" in encryption.keys is the key the agent used (or the header was tampered with)`,
      context: { object, keyId: fields.keyId },
    });
  }
  return objectKey;
}

function nonceOf(index: number, final: boolean): Buffer {
  const n = Buffer.alloc(12);
  n.writeUInt32BE(index, 4);
  n.writeUInt32BE(final ? 1 : 0, 8);
  return n;
}

function aadOf(prefixHash: Buffer, index: number, final: boolean): Buffer {
  const a = Buffer.allocUnsafe(prefixHash.length + 5);
  prefixHash.copy(a, 0);
  a.writeUInt32BE(index, prefixHash.length);
  a[prefixHash.length + 4] = final ? 1 : 0;
  return a;
}

/** SHA-256 of the object prefix (magic, version, header length, header). */
export function prefixHash(prefix: Uint8Array): Buffer {
  return createHash('sha256').update(prefix).digest();
}

/** Bytes fed to AES-GCM per update when sealing. */
const CIPHER_PIECE_BYTES = 64 << 10;

/** Seals the chunks of one object, in order. */
export class ChunkSealer {
  private index = 0;
  private done = false;

  constructor(
    private readonly objectKey: Buffer,
    private readonly prefixSha: Buffer,
    private readonly compress: boolean,
  ) {}

  /**
   * Seals `plain` as the next chunk and returns the buffers to write, in
   * order (chunk word, ciphertext in pieces, tag). `final` marks the last
   * chunk.
   */
  seal(plain: Uint8Array, final: boolean): Buffer[] {
    if (this.done) throw new Error('seal after the final chunk');
    const index = this.index++;
    this.done = final;
    let codec = CODEC_RAW;
    let body: Uint8Array = plain;
    if (this.compress && plain.length > 64) {
      const packed = compressSync(plain as Buffer);
      if (packed.length < plain.length) {
        codec = CODEC_LZ4;
        body = packed;
      }
    }
    const cipher = createCipheriv('aes-256-gcm', this.objectKey, nonceOf(index, final));
    cipher.setAAD(aadOf(this.prefixSha, index, final));
    const out: Buffer[] = [Buffer.allocUnsafe(4), cipher.update(Buffer.of(codec))];
    // GCM is a stream: the pieces are the same bytes as one update, but each
    // is a small allocation the allocator reuses, where a whole-chunk buffer
    // is a fresh mapping to fault in every time (measured 2-4x faster).
    for (let o = 0; o < body.length; o += CIPHER_PIECE_BYTES) out.push(cipher.update(body.subarray(o, o + CIPHER_PIECE_BYTES)));
    cipher.final();
    out.push(cipher.getAuthTag());
    let sealedLen = 0;
    for (let i = 1; i < out.length; i++) sealedLen += out[i]!.length;
    out[0]!.writeUInt32BE((final ? FINAL_CHUNK_FLAG : 0) + sealedLen);
    return out;
  }
}

/** Opens the chunks of one object. */
export class ChunkOpener {
  constructor(
    private readonly objectKey: Buffer,
    private readonly prefixSha: Buffer,
    private readonly object: string,
  ) {}

  /** Opens chunk `index` (its sealed bytes: ciphertext ‖ tag) and returns its plaintext. */
  open(sealed: Buffer, index: number, final: boolean): Buffer {
    return this.openParts(sealed, index, final).bytes;
  }

  /**
   * Like `open`, and also returns the decrypted bytes the plaintext was
   * decompressed from (`bytes` may be a view of them), which a caller that
   * recycles memory can take once it no longer needs `bytes`' memory apart.
   */
  openParts(sealed: Buffer, index: number, final: boolean): { bytes: Buffer; decrypted: Buffer } {
    this.checkLength(sealed, index);
    const decipher = createDecipheriv('aes-256-gcm', this.objectKey, nonceOf(index, final));
    decipher.setAAD(aadOf(this.prefixSha, index, final));
    decipher.setAuthTag(sealed.subarray(sealed.length - GCM_TAG_SIZE));
    let plain: Buffer;
    try {
      const head = decipher.update(sealed.subarray(0, sealed.length - GCM_TAG_SIZE));
      const tail = decipher.final();
      plain = tail.length ? Buffer.concat([head, tail]) : head;
    } catch (cause) {
      throw this.authFailure(index, cause);
    }
    return { bytes: this.decode(plain, index), decrypted: plain };
  }

  private checkLength(sealed: Buffer, index: number): void {
    if (sealed.length < GCM_TAG_SIZE + 1) {
      throw new CorruptObjectError(`object ${this.object}: chunk ${index} is too short`, { context: { object: this.object, chunk: index } });
    }
  }

  private authFailure(index: number, cause: unknown): CorruptObjectError {
    return new CorruptObjectError(`object ${this.object}: chunk ${index} fails authentication (bit flip, reordering or truncation)`, {
      context: { object: this.object, chunk: index },
      cause,
    });
  }

  private decode(plain: Buffer, index: number): Buffer {
    const codec = plain[0];
    if (codec === CODEC_RAW) return plain.subarray(1);
    if (codec === CODEC_LZ4) {
      try {
        return uncompressSync(plain.subarray(1));
      } catch (cause) {
        throw new CorruptObjectError(`object ${this.object}: chunk ${index} does not decompress`, { context: { object: this.object, chunk: index }, cause });
      }
    }
    throw new CorruptObjectError(`object ${this.object}: chunk ${index} has unknown codec ${codec}`, { context: { object: this.object, chunk: index } });
  }
}
