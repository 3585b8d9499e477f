/**
 * Writes batches of cached pages into a file on a worker thread, so the
 * kernel's copying of random pages into the file runs on the second core
 * while the main thread decrypts, decompresses and hashes the next ones.
 * Batches are written in the order they are sent. Page arenas are shared
 * memory: a batch's arena must not be touched until its write resolved.
 */
import { Worker } from 'node:worker_threads';

/** A batch of pages for the worker: slot i of `arena` holds page `pgnos[i]`. */
export interface PageBatch {
  id: number;
  fd: number;
  pageSize: number;
  arena: SharedArrayBuffer;
  pgnos: SharedArrayBuffer;
  count: number;
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
    this.worker = new Worker(new URL('./page-writer-worker.js', import.meta.url));
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
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.ref(); // a write in flight keeps the process alive; an idle thread does not
      const batch: PageBatch = { id, fd: this.fd, pageSize: this.pageSize, arena, pgnos, count };
      this.worker.postMessage(batch);
    });
  }

  /** Stops the thread; call when no write is in flight. Idempotent. */
  async close(): Promise<void> {
    this.dead ??= new Error('the page writer is closed');
    this.worker.ref(); // an unref'd thread's exit would not keep the process waiting for it
    await this.worker.terminate();
  }
}
