/**
 * Worker side of the page writer (see page-writer.ts): writes each batch of
 * cached pages into the file in page order, contiguous runs as one vectored
 * write, and answers with the batch's id.
 */
import { writeSync, writevSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { PageBatch, PageBatchDone } from './page-writer.js';

/** At most this many buffers per vectored write (IOV_MAX on Linux is 1024). */
const MAX_IOV = 1024;

parentPort!.on('message', (b: PageBatch) => {
  let done: PageBatchDone;
  try {
    writeBatch(b);
    done = { id: b.id, error: null };
  } catch (err) {
    done = { id: b.id, error: err instanceof Error ? err.message : String(err) };
  }
  parentPort!.postMessage(done);
});

function writeBatch(b: PageBatch): void {
  const pages = new Uint8Array(b.arena);
  const pgnos = new Uint32Array(b.pgnos);
  // Page 0 marks a slot dropped by a resize.
  const slots = Array.from({ length: b.count }, (_, i) => i).filter((i) => pgnos[i] !== 0).sort((x, y) => pgnos[x]! - pgnos[y]!);
  for (let i = 0; i < slots.length; ) {
    const first = pgnos[slots[i]!]!;
    const run: Uint8Array[] = [];
    while (i < slots.length && pgnos[slots[i]!] === first + run.length && run.length < MAX_IOV) {
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
