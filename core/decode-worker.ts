/**
 * Worker side of the decode pool (decode-pool.ts). Two jobs:
 *
 * - `chunk`: open one sealed snapshot chunk (decrypt, authenticate,
 *   decompress), hash its pages, and move pages and hashes back to the main
 *   thread to write and sum.
 * - `hash`: re-read a range of pages of a file and answer with the XOR of
 *   their page hashes (the lock-byte page skipped), for the final proof.
 *
 * Errors travel back as plain fields; the main thread rebuilds them.
 */
import { readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { ChunkOpener } from './envelope.js';
import { WalcastError } from './errors.js';
import { chunkPageCount } from './object-format.js';
import { lockPage, pageHash } from './page-hash.js';
import type { DecodeJob, DecodeReply, DecodeSetup } from './decode-pool.js';

const setup = workerData as DecodeSetup;
const opener = setup.keys ? new ChunkOpener(Buffer.from(setup.keys.objectKey), Buffer.from(setup.keys.prefixSha), setup.object) : null;
const lock = lockPage(setup.pageSize);
let readBuffer: Buffer | null = null;

parentPort!.on('message', (job: DecodeJob) => {
  let reply: DecodeReply;
  let transfer: ArrayBuffer[] = [];
  try {
    if (job.kind === 'chunk') {
      const { pages, hashes, spent } = openChunk(job.index, job.final, job.sealed);
      reply = { id: job.id, pages, hashes, spent };
      transfer = [pages.buffer as ArrayBuffer, hashes.buffer as ArrayBuffer, ...spent];
    } else {
      reply = { id: job.id, xor: hashRange(job.fd, job.first, job.count) };
    }
  } catch (err) {
    const e = err instanceof WalcastError ? err : null;
    reply = {
      id: job.id,
      error: { code: e?.code ?? 'ERROR', message: err instanceof Error ? err.message : String(err), context: e ? JSON.stringify(e.context) : '{}' },
    };
  }
  parentPort!.postMessage(reply, transfer);
});

/**
 * Opens one sealed chunk; returns its pages (in memory of their own, to
 * move) and their hashes, and the memory it is done with, to move back.
 *
 * That memory (the sealed bytes, and the decrypted bytes when the pages were
 * decompressed from them) goes back to the main thread, which reuses it or
 * lets it go. Left here, it would be freed only when this thread collects
 * garbage, which it rarely does: it allocates almost nothing that V8
 * counts, so 64 MiB of dead chunks piled up per thread (4 GiB restore).
 */
function openChunk(index: number, final: boolean, sealed: Uint8Array): { pages: Buffer; hashes: BigUint64Array; spent: ArrayBuffer[] } {
  const { pageSize, chunkPages } = setup;
  const opened = opener!.openParts(Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength), index, final);
  let pages = opened.bytes;
  const n = chunkPageCount(setup.object, index, final, pages.length, pageSize, chunkPages);
  // Decoded bytes normally have their memory to themselves (give or take the
  // codec byte) and move as they are; anything else moves as a copy.
  if (pages.buffer.byteLength - pages.byteLength > 1) {
    const own = Buffer.allocUnsafeSlow(pages.length);
    pages.copy(own);
    pages = own;
  }
  const hashes = new BigUint64Array(n);
  const first = index * chunkPages + 1;
  for (let i = 0; i < n; i++) hashes[i] = pageHash(first + i, pages.subarray(i * pageSize, (i + 1) * pageSize));
  const spent = [sealed.buffer as ArrayBuffer];
  const d = opened.decrypted;
  if (d.buffer !== pages.buffer && d.byteLength === d.buffer.byteLength) spent.push(d.buffer as ArrayBuffer); // only memory it has to itself
  return { pages, hashes, spent };
}

/** XOR of the page hashes of pages first..first+count-1 of `fd` (zeros past its end). */
function hashRange(fd: number, first: number, count: number): bigint {
  const { pageSize } = setup;
  const per = Math.max(1, Math.floor((1 << 20) / pageSize));
  readBuffer ??= Buffer.allocUnsafe(per * pageSize);
  let xor = 0n;
  for (let p = first; p < first + count; p += per) {
    const n = Math.min(per, first + count - p);
    const bytes = n * pageSize;
    let got = 0;
    while (got < bytes) {
      const r = readSync(fd, readBuffer, got, bytes - got, (p - 1) * pageSize + got);
      if (r === 0) break;
      got += r;
    }
    readBuffer.fill(0, got, bytes);
    for (let i = 0; i < n; i++) if (p + i !== lock) xor ^= pageHash(p + i, readBuffer.subarray(i * pageSize, (i + 1) * pageSize));
  }
  return xor;
}
