/**
 * Writes batches of cached pages, and runs of bytes (snapshot chunks), into
 * a file on a worker thread, so the kernel's copying into the file runs on
 * another core while the main thread decrypts, decompresses and hashes the
 * next ones. Jobs are written in the order they are sent. A batch's arena
 * and page numbers move to the thread and come back once written (copying
 * pages into shared memory instead cost 3-5 times a plain copy).
 */
import { Worker } from 'node:worker_threads';
import { RESTORE_WORKER_LIMITS } from './node-flags.js';

/** A batch of pages for the worker: slot i of `arena` holds page `pgnos[i]`. */
export interface PageBatch {
  kind: 'pages';
  id: number;
  fd: number;
  pageSize: number;
  arena: ArrayBuffer;
  pgnos: ArrayBuffer;
  count: number;
}

/** Bytes for the worker to write at a file offset; `buffer` moved to the worker. */
export interface ByteRun {
  kind: 'bytes';
  id: number;
  fd: number;
  buffer: ArrayBuffer;
  byteOffset: number;
  length: number;
  offset: number;
}

/** The worker's answer to a job; a batch's memory comes back with it. */
export interface PageBatchDone {
  id: number;
  error: string | null;
  arena?: ArrayBuffer;
  pgnos?: ArrayBuffer;
}

/** A worker thread writing page batches into one file descriptor. */
export class PageWriter {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (m: PageBatchDone) => void; reject: (e: Error) => void }>();
  private dead: Error | null = null;

  constructor(
    private readonly fd: number,
    private readonly pageSize: number,
  ) {
    this.worker = new Worker(new URL('./page-writer-worker.js', import.meta.url), { resourceLimits: RESTORE_WORKER_LIMITS });
    this.worker.unref();
    this.worker.on('message', (m: PageBatchDone) => {
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (this.waiting.size === 0 && !this.dead) this.worker.unref(); // closing: stay ref'd until the thread exits
      if (m.error === null) w?.resolve(m);
      else w?.reject(new Error(`writing restored pages failed: ${m.error}`));
    });
    const fail = (err: Error): void => {
      this.dead ??= err;
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    this.worker.on('error', (err) => fail(new Error(`the page writer thread crashed: ${err.message}`)));
    this.worker.on('exit', (code) => fail(new Error(`the page writer thread exited (code ${code})`)));
  }

  /**
   * Writes `count` pages of `arena` (slot i is page `pgnos[i]`); both move
   * to the thread, and come back when the pages are in the file.
   */
  async write(arena: ArrayBuffer, pgnos: ArrayBuffer, count: number): Promise<{ arena: ArrayBuffer; pgnos: ArrayBuffer }> {
    const m = await this.send((id) => ({ kind: 'pages', id, fd: this.fd, pageSize: this.pageSize, arena, pgnos, count }), [arena, pgnos]);
    return { arena: m.arena!, pgnos: m.pgnos! };
  }

  /**
   * Writes `bytes` at file offset `offset`; its memory moves to the thread
   * (`bytes` is empty afterwards), so it must be memory the caller owns
   * whole. Resolves once written.
   */
  async writeBytes(bytes: Uint8Array, offset: number): Promise<void> {
    const buffer = bytes.buffer as ArrayBuffer;
    await this.send((id) => ({ kind: 'bytes', id, fd: this.fd, buffer, byteOffset: bytes.byteOffset, length: bytes.byteLength, offset }), [buffer]);
  }

  private send(message: (id: number) => PageBatch | ByteRun, transfer: ArrayBuffer[]): Promise<PageBatchDone> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<PageBatchDone>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.ref(); // a write in flight keeps the process alive; an idle thread does not
      this.worker.postMessage(message(id), transfer);
    });
  }

  /** Stops the thread; call when no write is in flight. Idempotent. */
  async close(): Promise<void> {
    this.dead ??= new Error('the page writer is closed');
    this.worker.ref(); // an unref'd thread's exit would not keep the process waiting for it
    await this.worker.terminate();
  }
}
