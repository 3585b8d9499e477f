import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { halves, readAhead, type Span } from '../../core/read-ahead.js';
import { rejects } from '../helpers/assert.js';
import { tempDir } from '../helpers/tmp.js';

const test = suite('read-ahead');

/** A file of `size` random bytes, opened for reading, with reads counted. */
async function countedFile(size: number): Promise<{ fh: FileHandle; data: Buffer; inFlight: () => number }> {
  const path = join(tempDir('read-ahead'), 'data');
  const data = randomBytes(size);
  writeFileSync(path, data);
  const fh = await open(path, 'r');
  let reads = 0;
  const read = fh.read.bind(fh) as (...a: unknown[]) => Promise<unknown>;
  (fh as unknown as { read: (...a: unknown[]) => Promise<unknown> }).read = async (...a: unknown[]) => {
    reads++;
    try {
      return await read(...a);
    } finally {
      reads--;
    }
  };
  return { fh, data, inFlight: () => reads };
}

function* spansOf(step: number, upTo: number): Iterator<Span & { n: number }> {
  for (let p = 0, n = 0; p < upTo; p += step, n++) yield { position: p, bytes: Math.min(step, upTo - p), n };
}

test('every span arrives in order with its bytes, in alternating buffers, short at the end of the file', async () => {
  const { fh, data } = await countedFile(1_000_003);
  try {
    const buffers = halves(Buffer.alloc(2 * 65536), 4096)!;
    const seen: number[] = [];
    const used = new Set<number>();
    // Asks past the end of the file: the last spans come back short, then empty.
    for await (const { span, bytes } of readAhead(fh, spansOf(65536, data.length + 65536), buffers)) {
      seen.push(span.n);
      used.add(bytes.byteOffset);
      const want = data.subarray(span.position, Math.min(span.position + span.bytes, data.length));
      assert.ok(bytes.equals(want), `span ${span.n} holds the file's bytes`);
    }
    assert.equal(seen, Array.from({ length: seen.length }, (_, i) => i));
    assert.is(seen.length, Math.ceil((data.length + 65536) / 65536));
    assert.is(used.size, 2, 'both halves are used');
  } finally {
    await fh.close();
  }
});

test('leaving the loop early waits for the read in flight, so the buffers are free', async () => {
  const { fh, data, inFlight } = await countedFile(4 << 20);
  try {
    const buffers = halves(Buffer.alloc(2 << 20), 4096)!;
    let steps = 0;
    for await (const { span } of readAhead(fh, spansOf(1 << 20, data.length), buffers)) {
      assert.is(inFlight(), 1, `the next span is read while span ${span.position} is worked on`);
      if (++steps === 2) break;
    }
    assert.is(inFlight(), 0);
    // A failure in the loop body: the same.
    await rejects(async () => {
      for await (const _ of readAhead(fh, spansOf(1 << 20, data.length), buffers)) throw new Error('body failed');
    }, /body failed/);
    assert.is(inFlight(), 0);
  } finally {
    await fh.close();
  }
});

test('a failed read surfaces at its own step, after the spans before it', async () => {
  const { fh, data } = await countedFile(1 << 20);
  const buffers = halves(Buffer.alloc(2 * 65536), 4096)!;
  const failing = (function* (): Iterator<Span> {
    yield { position: 0, bytes: 65536 };
    yield { position: 65536, bytes: 65536 };
    yield { position: 0, bytes: 3 << 20 }; // longer than a buffer: the read rejects
  })();
  const got: Buffer[] = [];
  let unhandled = 0;
  const onUnhandled = (): void => void unhandled++;
  process.on('unhandledRejection', onUnhandled);
  try {
    await rejects(async () => {
      for await (const { bytes } of readAhead(fh, failing, buffers)) {
        got.push(Buffer.from(bytes));
        await new Promise((r) => setTimeout(r, 20)); // the failing read settles meanwhile
      }
    });
    assert.is(got.length, 2);
    assert.ok(got[0]!.equals(data.subarray(0, 65536)) && got[1]!.equals(data.subarray(65536, 131072)));
    assert.is(unhandled, 0, 'no unhandled rejection while the failed read waited for its step');
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await fh.close();
  }
});

test('halves split a buffer into two whole, aligned sets of records', () => {
  const buf = Buffer.alloc((4 << 20) + 65536 + 24);
  const [a, b] = halves(buf, 4096 + 24)!;
  assert.is(a.length, b.length);
  assert.is(a.length % (4096 + 24), 0);
  assert.is(b.byteOffset - a.byteOffset, a.length);
  assert.is(b.byteOffset % 8, 0);
  assert.is(halves(Buffer.alloc(4096), 4096 + 24), null);
});

test.run();
