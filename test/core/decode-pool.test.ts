/**
 * Decoder threads: snapshot chunks opened on threads give the same pages,
 * places and hashes as opened in order on the main thread; a damaged or
 * missing chunk fails naming the object and chunk, only after every chunk
 * handed out was finished with; a thread moves back the memory it is done
 * with; the file re-read gives the checksum replay keeps.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { DbChecksum } from '../../core/db-checksum.js';
import { fileChecksum } from '../../core/db-image.js';
import { DecodePool, decodeSnapshot, hashFile, type DecodedChunk } from '../../core/decode-pool.js';
import { CorruptObjectError } from '../../core/errors.js';
import { Keyring } from '../../core/keyring.js';
import { pagesPerChunk } from '../../core/object-format.js';
import { pageHash } from '../../core/page-hash.js';
import { SnapshotEncoder, SnapshotReader } from '../../core/snapshot.js';
import { rejects } from '../helpers/assert.js';
import { tempDir } from '../helpers/tmp.js';

const test = suite('decode pool');
const ring = new Keyring(new Map([['k1', randomBytes(32)]]), 'k1');
const PS = 4096;
const PER = pagesPerChunk(PS);
/** Five full chunks and a part: more than the main thread decodes alone. */
const PAGES = 5 * PER + 37;

/** Pages alternate, chunk by chunk, between compressible text and random bytes (stored raw). */
const source = Array.from({ length: PAGES }, (_, i) => {
  if (Math.floor(i / PER) % 2 === 1) return randomBytes(PS);
  const b = Buffer.alloc(PS);
  for (let o = 0; o < PS; o += 64) b.write(`page ${i + 1} offset ${o}`, o);
  return b;
});

/** The snapshot as written: parts[0] is the prefix, parts[1 + i] chunk i (word, ciphertext pieces, tag). */
async function encode(): Promise<Buffer[][]> {
  const parts: Buffer[][] = [];
  const enc = new SnapshotEncoder({ db: 'app', generation: '2'.repeat(24), txid: 3, pageSize: PS, dbPages: PAGES, checksum: '0'.repeat(16), takenAtMs: 1 }, ring, (b) => void parts.push(b));
  for (const p of source) await enc.addPage(p);
  await enc.finish();
  return parts;
}

let parts: Buffer[][];

/** Decodes `obj` on `threads` threads; each callback yields before returning, as a file write would. */
async function decodeAll(obj: Buffer, threads: number, name = 'snap-under-test'): Promise<{ chunks: Map<number, { pages: Buffer; hashes: bigint[] }>; overlapped: boolean; running: () => number }> {
  const r = await SnapshotReader.open([obj], ring, name);
  const chunks = new Map<number, { pages: Buffer; hashes: bigint[] }>();
  let running = 0;
  let overlapped = false;
  const out = { chunks, overlapped, running: () => running };
  await decodeSnapshot(
    r,
    async (c: DecodedChunk) => {
      running++;
      if (running > 1) out.overlapped = true;
      await new Promise((res) => setTimeout(res, 2));
      assert.not.ok(chunks.has(c.first), `chunk at page ${c.first} handed out once`);
      chunks.set(c.first, { pages: Buffer.from(c.pages), hashes: [...c.hashes] });
      running--;
    },
    threads,
  ).catch((err: unknown) => {
    Object.assign(out, { error: err });
  });
  const err = (out as { error?: unknown }).error;
  if (err) throw Object.assign(err as Error, { running });
  return out;
}

test.before(async () => {
  parts = await encode();
  assert.is(parts.length, 1 + 6, 'a prefix and six chunks');
});

test('chunks opened on 1 and 2 threads match those opened in order on this one: pages, places, hashes', async () => {
  const obj = Buffer.concat(parts.flat());
  for (const threads of [0, 1, 2]) {
    const { chunks, overlapped } = await decodeAll(obj, threads);
    assert.equal([...chunks.keys()].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5].map((i) => i * PER + 1), `threads ${threads}: every chunk at its place`);
    for (const [first, c] of chunks) {
      assert.is(c.pages.length, c.hashes.length * PS);
      for (let i = 0; i < c.hashes.length; i++) {
        const p = first + i;
        assert.ok(c.pages.subarray(i * PS, (i + 1) * PS).equals(source[p - 1]!), `threads ${threads}: page ${p}`);
        assert.is(c.hashes[i], pageHash(p, source[p - 1]!), `threads ${threads}: hash of page ${p}`);
      }
    }
    if (threads === 2) assert.ok(overlapped, 'on threads, chunks are in flight together');
  }
});

test('a flipped bit in chunk 3 fails on threads, naming object and chunk, after every chunk handed out was finished', async () => {
  const damaged = parts.map((p) => p.map((b) => Buffer.from(b)));
  const ct = damaged[1 + 3]![2]!; // chunk 3: word, sealed codec byte, then the first piece of its pages
  assert.ok(ct.length > 100);
  ct[100]! ^= 0x04;
  for (const threads of [0, 2]) {
    const err = await rejects(() => decodeAll(Buffer.concat(damaged.flat()), threads, 'snap-flipped'), (e) => e instanceof CorruptObjectError);
    assert.match((err as Error).message, /snap-flipped/);
    assert.match((err as Error).message, /chunk 3 fails authentication/);
    assert.is((err as { running: number }).running, 0, `threads ${threads}: no callback still running`);
  }
});

test('a dropped chunk fails on threads: the next one does not open at its place', async () => {
  const dropped = Buffer.concat([...parts.slice(0, 3), ...parts.slice(4)].flat());
  const err = await rejects(() => decodeAll(dropped, 2, 'snap-dropped'), (e) => e instanceof CorruptObjectError);
  assert.match((err as Error).message, /snap-dropped: chunk [2-5] fails authentication/);
});

test('a thread moves back the memory it is done with: the sealed chunk, and the decrypted bytes of a compressed one', async () => {
  const r = await SnapshotReader.open([Buffer.concat(parts.flat())], ring, 'snap-spent');
  const pool = new DecodePool({ object: 'snap-spent', pageSize: PS, chunkPages: PER, keys: r.chunkKeys() }, 1);
  try {
    for await (const c of r.sealedChunks()) {
      if (c.index > 1) break;
      const sealed = new Uint8Array(c.sealed.length);
      sealed.set(c.sealed);
      const { pages, spent } = await pool.openChunk(c.index, c.final, sealed);
      assert.is(sealed.byteLength, 0, `chunk ${c.index}: its sealed memory moved to the thread`);
      assert.ok(spent[0]!.byteLength >= c.sealed.length, `chunk ${c.index}: and came back`);
      // Chunk 0 is text (LZ4: decrypted bytes apart from the pages); chunk 1 is random (raw: the pages are the decrypted bytes).
      assert.is(spent.length, c.index === 0 ? 2 : 1, `chunk ${c.index}: memory moved back`);
      assert.ok(pages.equals(Buffer.concat(source.slice(c.index * PER, (c.index + 1) * PER))), `chunk ${c.index}: pages`);
    }
  } finally {
    await pool.close();
  }
});

test('the file re-read on threads, or on this one, gives the checksum replay keeps, reading zeros past the end', async () => {
  const path = join(tempDir('decode-pool'), 'image.db');
  const pages = 3000;
  const image = randomBytes((pages - 5) * PS); // five pages short: they read as zeros
  writeFileSync(path, image);
  const sum = new DbChecksum(PS, pages);
  for (let p = 1; p <= pages - 5; p++) sum.setPage(p, pageHash(p, image.subarray((p - 1) * PS, p * PS)));
  sum.applyCommit([], [], 0, pages); // the missing five as zero pages
  const fh = await open(path, 'r');
  try {
    for (const threads of [1, 2, 3]) assert.is(await hashFile(fh.fd, PS, pages, threads), sum.value, `${threads} threads`);
    assert.is(await fileChecksum(fh, PS, pages), sum.value, 'this thread');
    image[7 * PS + 1]! ^= 1;
    writeFileSync(path, image);
    assert.is.not(await hashFile(fh.fd, PS, pages, 2), sum.value, 'one changed byte changes it');
    assert.is.not(await fileChecksum(fh, PS, pages), sum.value, 'one changed byte changes it (this thread)');
  } finally {
    await fh.close();
  }
});

test.run();
