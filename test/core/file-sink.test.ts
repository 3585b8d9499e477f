import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { fileSink } from '../../core/file-sink.js';
import { rejects } from '../helpers/assert.js';
import { tempDir } from '../helpers/tmp.js';

const test = suite('file sink');
const PS = 4096;

test('pages rewritten across both cache halves, large writes and shrinks land as a plain file would hold them', async () => {
  const path = join(tempDir('file-sink'), 'out.db');
  const fh = await open(path, 'wx+');
  const sink = fileSink(fh);
  sink.start(PS);
  const image = Buffer.alloc(6100 * PS);
  let pages = 0;
  const put = (pgno: number, page: Buffer): void => {
    pages = Math.max(pages, pgno);
    page.copy(image, (pgno - 1) * PS);
  };
  // A large write (a snapshot chunk) of 2048 pages.
  const base = randomBytes(2048 * PS);
  await sink.write(0, [base]);
  for (let i = 0; i < 2048; i++) put(i + 1, base.subarray(i * PS, (i + 1) * PS));
  await sink.resize(2048 * PS);
  // Random page writes: more than one cache half (4096 pages), with repeats and runs.
  for (let n = 0; n < 12_000; n++) {
    const pgno = 1 + Math.floor(Math.random() * 6000);
    const run = 1 + (n % 3);
    const written = Array.from({ length: run }, () => randomBytes(PS));
    await sink.write((pgno - 1) * PS, written);
    written.forEach((p, i) => put(pgno + i, p));
    if (n === 7000) {
      await sink.resize(3000 * PS); // a shrink drops cached pages beyond the end
      image.fill(0, 3000 * PS);
      pages = Math.min(pages, 3000);
    }
  }
  const finalPages = pages;
  const expected = image.subarray(0, finalPages * PS);
  await sink.resize(finalPages * PS);
  await sink.settle();
  await fh.close();
  const onDisk = readFileSync(path);
  assert.is(onDisk.length, finalPages * PS);
  assert.ok(onDisk.equals(expected), 'the file holds the last version of every page');
});

test('chunks handed over land through the page writer thread, out of order, under later page writes and a shrink', async () => {
  const path = join(tempDir('file-sink'), 'owned.db');
  const fh = await open(path, 'wx+');
  const sink = fileSink(fh);
  sink.start(PS);
  const chunk = 1 << 20;
  const image = randomBytes(6 * chunk);
  for (const i of [2, 0, 5, 1, 4, 3]) {
    // Memory of its own, as a decoder thread hands it over; it moves away.
    const own = Buffer.from(image.subarray(i * chunk, (i + 1) * chunk));
    await sink.writeOwned!(i * chunk, own);
    assert.is(own.length, 0, 'the chunk moved to the writer thread');
  }
  for (let n = 0; n < 500; n++) {
    const pgno = 1 + Math.floor(Math.random() * (image.length / PS));
    const page = randomBytes(PS);
    await sink.write((pgno - 1) * PS, [page]);
    page.copy(image, (pgno - 1) * PS);
  }
  const finalBytes = image.length - 9 * PS;
  await sink.resize(finalBytes);
  await sink.settle();
  await fh.close();
  assert.ok(readFileSync(path).equals(image.subarray(0, finalBytes)), 'the file holds the last version of every page');
});

/** Runs `work` on a sink over a read-only file, whose every write fails with EBADF, and asserts settle() reports it. */
async function refusedWritesSurface(name: string, work: (sink: ReturnType<typeof fileSink>) => Promise<void>): Promise<void> {
  const path = join(tempDir('file-sink'), name);
  writeFileSync(path, '');
  const fh = await open(path, 'r');
  const sink = fileSink(fh);
  sink.start(PS);
  try {
    await rejects(async () => {
      await work(sink);
      await sink.settle();
    }, /EBADF|bad file descriptor/i);
  } finally {
    await fh.close();
  }
}

test('a chunk handed over that the file refuses fails settle(), not silently', () =>
  refusedWritesSurface('ro-owned.db', (sink) => sink.writeOwned!(0, Buffer.from(randomBytes(1 << 20)))));

test('a write the file refuses fails settle(), not silently', () =>
  refusedWritesSurface('ro.db', async (sink) => {
    // More pages than a cache half holds: a batch fails on the writer thread while the next is cached.
    for (let p = 1; p <= 10_000; p += 2) await sink.write((p - 1) * PS, [randomBytes(PS)]);
  }));

test.run();
