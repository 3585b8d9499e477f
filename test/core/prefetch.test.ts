/**
 * Prefetch: every object arrives whole and in order while the memory of
 * consumed objects is reused for later ones, also when an object is longer
 * than listed or too large to fetch whole; a stream read into given memory
 * lands there across the stream's pieces. The buffer pool fits objects
 * that grow a little into memory it already has, and lets go of free
 * buffers too small for the next object.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { BufferPool, prefetch } from '../../core/prefetch.js';
import { FileStorage } from '../../core/storage/file-storage.js';
import { StreamReader } from '../../core/stream-reader.js';
import { tempDir } from '../helpers/tmp.js';

const test = suite('prefetch');

/** Reads a source whole. */
async function collect(source: AsyncIterable<Buffer>): Promise<{ bytes: Buffer; memory: Set<ArrayBufferLike> }> {
  const parts: Buffer[] = [];
  const memory = new Set<ArrayBufferLike>();
  for await (const b of source) {
    parts.push(Buffer.from(b)); // a copy: the memory is reused once the next object is asked for
    memory.add(b.buffer);
  }
  return { bytes: Buffer.concat(parts), memory };
}

test('objects arrive whole and in order, and the memory of consumed ones is reused', async () => {
  const storage = new FileStorage(tempDir('prefetch'));
  const sizes = [300_000, 1_000_000, 10, 2_500_000, 700_000, 1_000_000, 0, 900_000, 1_100_000, 64];
  const bodies = sizes.map((n) => randomBytes(n));
  const items = await Promise.all(bodies.map(async (b, i) => (await storage.put(`o/${i}`, b), { key: `o/${i}`, size: b.length })));
  const seen: ArrayBufferLike[] = [];
  let i = 0;
  for await (const { item, source } of prefetch(storage, items, { concurrency: 3, maxBytes: 3 << 20 })) {
    assert.is(item.key, `o/${i}`);
    const { bytes, memory } = await collect(source);
    assert.ok(bytes.equals(bodies[i]!), `object ${i}: its bytes`);
    seen.push(...memory);
    i++;
  }
  assert.is(i, sizes.length);
  assert.ok(new Set(seen).size < seen.length, 'later objects were read into memory of earlier ones');
  await storage.close();
});

test('an object longer than listed, and one too large to fetch whole, still arrive whole', async () => {
  const storage = new FileStorage(tempDir('prefetch'));
  const small = randomBytes(400_000);
  const longer = randomBytes(3_000_000);
  const large = randomBytes(17 << 20);
  await storage.put('a', small);
  await storage.put('b', longer);
  await storage.put('c', large);
  const items = [
    { key: 'a', size: small.length },
    { key: 'b', size: 1000 }, // listed far shorter than it is
    { key: 'c', size: large.length },
    { key: 'a', size: small.length },
  ];
  const want = [small, longer, large, small];
  let i = 0;
  for await (const { source } of prefetch(storage, items)) {
    assert.ok((await collect(source)).bytes.equals(want[i]!), `object ${i}`);
    i++;
  }
  assert.is(i, 4);
  await storage.close();
});

test('a read into given memory copies across the pieces of the stream', async () => {
  const data = randomBytes(10_000);
  const pieces = [data.subarray(0, 3000), data.subarray(3000, 3001), data.subarray(3001, 9000), data.subarray(9000)];
  const reader = new StreamReader(pieces);
  const head = await reader.read(100);
  const into = new Uint8Array(8000);
  const got = await reader.read(7000, into);
  assert.is(got.buffer, into.buffer, 'a view of the given memory');
  assert.ok(got.equals(data.subarray(100, 7100)));
  assert.ok(head.equals(data.subarray(0, 100)));
  const rest = await reader.read(5000, new Uint8Array(5000));
  assert.is(rest.length, 2900, 'fewer bytes at the end of the stream');
  assert.ok(rest.equals(data.subarray(7100)));
  assert.ok(Buffer.from(reader.digest(), 'hex').length === 32);
});

test('a buffer made for an object fits later ones a little larger, and free buffers too small are let go', () => {
  const pool = new BufferPool(64 << 20);
  const first = pool.take(7_100_000);
  pool.give(first);
  const grown = pool.take(7_700_000); // 8% larger, as a chain's segments grow
  assert.is(grown.buffer, first.buffer, 'the buffer made for the first object is reused');
  const small = pool.take(1_000_000);
  pool.give(small);
  pool.give(grown);
  assert.is(pool.held, small.length + grown.length);
  const larger = pool.take(20_000_000); // fits neither
  assert.ok(larger.length >= 20_000_000);
  assert.is(pool.held, 0, 'the free buffers, all too small, are let go');
});

test('the pool holds no more than its limit', () => {
  const pool = new BufferPool(1 << 20);
  const a = pool.take(600_000);
  const b = pool.take(600_000);
  pool.give(a);
  pool.give(b);
  assert.is(pool.held, a.length, 'the second buffer would pass the limit, so it is dropped');
});

test.run();
