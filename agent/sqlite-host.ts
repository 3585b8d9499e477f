/**
 * Main-thread side of the SQLite worker pool: typed async calls, databases
 * spread over a few workers. A worker that dies fails every call in flight
 * with an error (never a silent hang) and is replaced on the next open.
 */
import { Worker } from 'node:worker_threads';
import type { SqliteOps } from './sqlite-worker.js';

type Args<K extends keyof SqliteOps> = Parameters<SqliteOps[K]>;
type Result<K extends keyof SqliteOps> = ReturnType<SqliteOps[K]>;

/** Error from the SQLite worker, with SQLite's code when it has one. */
export class SqliteWorkerError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'SqliteWorkerError';
  }
}

class WorkerClient {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  dead: Error | null = null;
  users = 0;

  constructor() {
    this.worker = new Worker(new URL('./sqlite-worker.js', import.meta.url));
    this.worker.unref();
    this.worker.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: { message: string; code?: string } }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new SqliteWorkerError(m.error!.message, m.error!.code));
    });
    const fail = (err: Error): void => {
      this.dead ??= err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    this.worker.on('error', (err) => fail(new SqliteWorkerError(`SQLite worker crashed: ${err.message}`)));
    this.worker.on('exit', (code) => fail(new SqliteWorkerError(`SQLite worker exited (code ${code})`)));
  }

  call<K extends keyof SqliteOps>(op: K, ...args: Args<K>): Promise<Result<K>> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.ref();
      this.worker.postMessage({ id, op, args });
    }).finally(() => {
      if (this.pending.size === 0) this.worker.unref();
    }) as Promise<Result<K>>;
  }

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }
}

/** The agent's connections to one database, living in a worker. */
export class SqliteHandle {
  private closed = false;

  constructor(
    private readonly client: WorkerClient,
    private readonly key: string,
    private readonly onClose: () => void,
  ) {}

  beginRead(): Promise<0 | 1> {
    return this.client.call('beginRead', this.key);
  }
  endRead(slot: 0 | 1): Promise<boolean> {
    return this.client.call('endRead', this.key, slot);
  }
  barrierBegin(waitMs: number): Promise<boolean> {
    return this.client.call('barrierBegin', this.key, waitMs);
  }
  barrierEnd(): Promise<boolean> {
    return this.client.call('barrierEnd', this.key);
  }
  checkpoint(mode: 'PASSIVE' | 'TRUNCATE', waitMs: number): Promise<{ busy: number; log: number; checkpointed: number; ms: number }> {
    return this.client.call('checkpoint', this.key, mode, waitMs);
  }
  dataVersion(): Promise<number> {
    return this.client.call('dataVersion', this.key);
  }
  /** True while the worker behind this handle is alive. */
  get alive(): boolean {
    return this.client.dead === null;
  }
  /** Closes the connections (read-only ones last); idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.alive) await this.client.call('close', this.key);
    } finally {
      this.onClose();
    }
  }
}

/** A small pool of SQLite workers shared by the agent's databases. */
export class SqliteHost {
  private readonly clients: WorkerClient[] = [];
  private seq = 0;

  constructor(private readonly size = 1) {}

  /** Opens the agent's connections to `path`; reports the journal mode found. */
  async open(path: string, busyMs: number): Promise<{ handle: SqliteHandle | null; journalMode: string; pageSize: number; sqliteVersion?: string }> {
    const client = this.pick();
    const key = `${path}#${++this.seq}`;
    const r = (await client.call('open', key, path, busyMs)) as { journalMode: string; pageSize: number; sqliteVersion?: string };
    if (r.journalMode !== 'wal') return { handle: null, ...r };
    client.users++;
    return { handle: new SqliteHandle(client, key, () => void client.users--), ...r };
  }

  private pick(): WorkerClient {
    for (let i = this.clients.length - 1; i >= 0; i--) if (this.clients[i]!.dead) this.clients.splice(i, 1);
    if (this.clients.length < this.size) {
      const c = new WorkerClient();
      this.clients.push(c);
      return c;
    }
    return this.clients.reduce((a, b) => (b.users < a.users ? b : a));
  }

  /** Stops every worker. */
  async close(): Promise<void> {
    await Promise.all(this.clients.splice(0).map((c) => c.terminate()));
  }
}
