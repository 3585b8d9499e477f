/**
 * Worker side of the page writer (see page-writer.ts): writes each batch of
 * cached pages into the file in page order, contiguous runs as one vectored
 * write, and each run of bytes in pieces, and answers with the job's id.
 */
import { writeSync, writevSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { ByteRun, PageBatch, PageBatchDone } from './page-writer.js';

/**
 * Bytes per vectored write at most. Longer writes leave the file in the page
 * cache as large folios, and later single-page writes into those cost 19 us
 * each here, against 4 us into pages written 16 KiB at a time.
 */
const MAX_WRITE_BYTES = 16 << 10;

parentPort!.on('message', (b: PageBatch | ByteRun) => {
  let done: PageBatchDone;
  try {
    if (b.kind === 'pages') writeBatch(b);
    else writeBytes(b);
    done = { id: b.id, error: null };
  } catch (err) {
    done = { id: b.id, error: err instanceof Error ? err.message : String(err) };
  }
  // A run's memory goes back with the answer: this thread allocates too little
  // to collect garbage often, and the chunks it was handed would pile up here.
  // A batch's arena comes back to be filled again.
  if (b.kind === 'bytes') parentPort!.postMessage(done, [b.buffer]);
  else parentPort!.postMessage({ ...done, arena: b.arena, pgnos: b.pgnos }, [b.arena, b.pgnos]);
});

/** Writes a run of bytes in pieces of at most MAX_WRITE_BYTES (see there). */
function writeBytes(r: ByteRun): void {
  const bytes = new Uint8Array(r.buffer, r.byteOffset, r.length);
  for (let o = 0; o < r.length; ) {
    const n = Math.min(MAX_WRITE_BYTES, r.length - o);
    o += writeSync(r.fd, bytes, o, n, r.offset + o); // a short write continues where it stopped
  }
}

function writeBatch(b: PageBatch): void {
  const pages = new Uint8Array(b.arena);
  const pgnos = new Uint32Array(b.pgnos);
  // Page 0 marks a slot dropped by a resize.
  const maxIov = Math.max(1, Math.floor(MAX_WRITE_BYTES / b.pageSize));
  const slots = Array.from({ length: b.count }, (_, i) => i).filter((i) => pgnos[i] !== 0).sort((x, y) => pgnos[x]! - pgnos[y]!);
  for (let i = 0; i < slots.length; ) {
    const first = pgnos[slots[i]!]!;
    const run: Uint8Array[] = [];
    while (i < slots.length && pgnos[slots[i]!] === first + run.length && run.length < maxIov) {
      const s = slots[i]! * b.pageSize;
      run.push(pages.subarray(s, s + b.pageSize));
      i++;
    }
    writeRun(b.fd, run, (first - 1) * b.pageSize);
  }
}

/** Writes `buffers` back to back from `offset`, in full. */
function writeRun(fd: number, buffers: Uint8Array[], offset: number): void {
  const total = buffers.reduce((n, x) => n + x.length, 0);
  if (writevSync(fd, buffers, offset) === total) return;
  // A short vectored write: write each buffer in full (rewriting the same bytes is harmless).
  for (const x of buffers) {
    for (let done = 0; done < x.length; ) done += writeSync(fd, x, done, x.length - done, offset + done);
    offset += x.length;
  }
}
