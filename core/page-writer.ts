/**
 * Writes batches of cached pages, and runs of bytes (snapshot chunks), into
 * a file on a worker thread, so the kernel's copying into the file runs on
 * another core while the main thread decrypts, decompresses and hashes the
 * next ones. Jobs are written in the order they are sent. Page arenas are shared
 * memory: a batch's arena must not be touched until its write resolved.
 */
import { Worker } from 'node:worker_threads';
import { RESTORE_WORKER_LIMITS } from './node-flags.js';

/** A batch of pages for the worker: slot i of `arena` holds page `pgnos[i]`. */
export interface PageBatch {
  kind: 'pages';
  id: number;
  fd: number;
  pageSize: number;
  arena: SharedArrayBuffer;
  pgnos: SharedArrayBuffer;
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

/** The worker's answer to a batch. */
export interface PageBatchDone {
  id: number;
  error: string | null;
}

/** A worker thread writing page batches into one file descriptor. */
export class PageWriter {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
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
      if (m.error === null) w?.resolve();
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

  /** Writes `count` pages of `arena` (slot i is page `pgnos[i]`); resolves once they are in the file. */
  write(arena: SharedArrayBuffer, pgnos: SharedArrayBuffer, count: number): Promise<void> {
    return this.send((id) => ({ kind: 'pages', id, fd: this.fd, pageSize: this.pageSize, arena, pgnos, count }));
  }

  /**
   * Writes `bytes` at file offset `offset`; its memory moves to the thread
   * (`bytes` is empty afterwards), so it must be memory the caller owns
   * whole. Resolves once written.
   */
  writeBytes(bytes: Uint8Array, offset: number): Promise<void> {
    const buffer = bytes.buffer as ArrayBuffer;
    return this.send((id) => ({ kind: 'bytes', id, fd: this.fd, buffer, byteOffset: bytes.byteOffset, length: bytes.byteLength, offset }), [buffer]);
  }

  private send(message: (id: number) => PageBatch | ByteRun, transfer: ArrayBuffer[] = []): Promise<void> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
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
