/**
 * SQLite's cumulative WAL checksum: for each pair of 32-bit words (x0, x1),
 * `s0 += x0 + s1; s1 += x1 + s0` (mod 2^32). Words are read in the byte order
 * the WAL magic selects. This runs over every captured byte, so the common
 * case (native byte order, aligned input) uses an unrolled Int32Array loop
 * that V8 keeps in int32 arithmetic.
 */
import { endianness } from 'node:os';

const HOST_LITTLE_ENDIAN = endianness() === 'LE';

/**
 * Continues a checksum chain over `bytes` (length a multiple of 8), updating
 * `state` ([s0, s1], unsigned) in place.
 */
export function walChecksumInto(bytes: Uint8Array, bigEndian: boolean, state: Uint32Array): void {
  if (bytes.length % 8 !== 0) throw new RangeError('WAL checksum input must be a multiple of 8 bytes');
  const native = bigEndian !== HOST_LITTLE_ENDIAN;
  if (native && bytes.byteOffset % 4 === 0) {
    nativeWords(new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2), state);
  } else {
    viewWords(new DataView(bytes.buffer, bytes.byteOffset, bytes.length), !bigEndian, state);
  }
}

/** Checksum of `bytes` starting from (s0, s1); returns [s0, s1]. */
export function walChecksum(bytes: Uint8Array, bigEndian: boolean, s0: number, s1: number): [number, number] {
  const state = new Uint32Array([s0, s1]);
  walChecksumInto(bytes, bigEndian, state);
  return [state[0]!, state[1]!];
}

function nativeWords(w: Int32Array, state: Uint32Array): void {
  let s0 = state[0]! | 0;
  let s1 = state[1]! | 0;
  const n = w.length;
  const unrolled = n - (n % 8);
  let k = 0;
  for (; k < unrolled; k += 8) {
    s0 = (s0 + w[k]! + s1) | 0;
    s1 = (s1 + w[k + 1]! + s0) | 0;
    s0 = (s0 + w[k + 2]! + s1) | 0;
    s1 = (s1 + w[k + 3]! + s0) | 0;
    s0 = (s0 + w[k + 4]! + s1) | 0;
    s1 = (s1 + w[k + 5]! + s0) | 0;
    s0 = (s0 + w[k + 6]! + s1) | 0;
    s1 = (s1 + w[k + 7]! + s0) | 0;
  }
  for (; k < n; k += 2) {
    s0 = (s0 + w[k]! + s1) | 0;
    s1 = (s1 + w[k + 1]! + s0) | 0;
  }
  state[0] = s0;
  state[1] = s1;
}

function viewWords(dv: DataView, littleEndian: boolean, state: Uint32Array): void {
  let s0 = state[0]! | 0;
  let s1 = state[1]! | 0;
  for (let off = 0; off < dv.byteLength; off += 8) {
    s0 = (s0 + dv.getInt32(off, littleEndian) + s1) | 0;
    s1 = (s1 + dv.getInt32(off + 4, littleEndian) + s0) | 0;
  }
  state[0] = s0;
  state[1] = s1;
}
