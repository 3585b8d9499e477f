/**
 * Worker thread that owns the agent's SQLite connections, so busy waits and
 * checkpoint I/O (better-sqlite3 is synchronous) never block the agent's event
 * loop. Per database it holds:
 *
 * - two read-only readers, used hand over hand so a read transaction is held
 *   at every moment (read-only connections never checkpoint on close, so the
 *   agent can never delete the application's WAL);
 * - a barrier connection for `BEGIN IMMEDIATE` (it never writes: ROLLBACK);
 * - a checkpoint connection with no open transaction.
 *
 * Messages: { id, op, db, args } → { id, ok, result } | { id, ok: false, error }.
 */
import Database from 'better-sqlite3';
import { parentPort } from 'node:worker_threads';

interface Conns {
  readers: [Database.Database, Database.Database];
  reading: [boolean, boolean];
  barrier: Database.Database;
  ckpt: Database.Database;
  barrierHeld: boolean;
  busyMs: number;
}

const dbs = new Map<string, Conns>();

/**
 * How often the barrier tries for the write lock. SQLite's own busy handler
 * sleeps 1, 2, 5, 10 ... ms between a dozen tries, and a writer committing
 * flat out, which frees the lock for microseconds between transactions, won
 * it nearly every time (3 of 4 barriers failed beside one).
 */
const BARRIER_POLL_MS = 0.2;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

function conns(db: string): Conns {
  const c = dbs.get(db);
  if (!c) throw new Error(`database ${db} is not open in the SQLite worker`);
  return c;
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  return code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED');
}

const ops = {
  open(db: string, path: string, busyMs: number) {
    const opened: Database.Database[] = [];
    try {
      const ro = (): Database.Database => {
        const d = new Database(path, { readonly: true, fileMustExist: true });
        opened.push(d);
        d.pragma(`busy_timeout = ${busyMs}`);
        return d;
      };
      const rw = (): Database.Database => {
        const d = new Database(path, { fileMustExist: true });
        opened.push(d);
        d.pragma(`busy_timeout = ${busyMs}`);
        return d;
      };
      const r0 = ro();
      const journalMode = String(r0.pragma('journal_mode', { simple: true }));
      const pageSize = Number(r0.pragma('page_size', { simple: true }));
      if (journalMode !== 'wal') {
        for (const d of opened) d.close();
        return { journalMode, pageSize };
      }
      const c: Conns = { readers: [r0, ro()], reading: [false, false], barrier: rw(), ckpt: rw(), barrierHeld: false, busyMs };
      dbs.set(db, c);
      return { journalMode, pageSize, sqliteVersion: String(r0.prepare('SELECT sqlite_version()').pluck().get()) };
    } catch (err) {
      for (const d of opened) d.close();
      throw err;
    }
  },

  /** Starts a read transaction on a free reader; returns its slot. */
  beginRead(db: string) {
    const c = conns(db);
    if (c.reading[0] && c.reading[1]) throw new Error('both readers are in use');
    const slot: 0 | 1 = c.reading[0] ? 1 : 0;
    const r = c.readers[slot];
    r.exec('BEGIN');
    try {
      // A read of the schema starts the read transaction; BEGIN alone does not.
      r.prepare('SELECT count(*) FROM sqlite_schema').pluck().get();
    } catch (err) {
      r.exec('ROLLBACK');
      throw err;
    }
    c.reading[slot] = true;
    return slot;
  },

  endRead(db: string, slot: 0 | 1) {
    const c = conns(db);
    if (!c.reading[slot]) return false;
    c.readers[slot].exec('COMMIT');
    c.reading[slot] = false;
    return true;
  },

  /** Takes the write lock, trying every BARRIER_POLL_MS for at most `waitMs`; false when the application held it throughout. */
  barrierBegin(db: string, waitMs: number) {
    const c = conns(db);
    if (c.barrierHeld) return true;
    const until = performance.now() + waitMs;
    c.barrier.pragma('busy_timeout = 0');
    try {
      for (;;) {
        try {
          c.barrier.exec('BEGIN IMMEDIATE');
          c.barrierHeld = true;
          return true;
        } catch (err) {
          if (!isBusy(err)) throw err;
          if (performance.now() >= until) return false;
          Atomics.wait(sleeper, 0, 0, BARRIER_POLL_MS);
        }
      }
    } finally {
      c.barrier.pragma(`busy_timeout = ${c.busyMs}`);
    }
  },

  barrierEnd(db: string) {
    const c = conns(db);
    if (!c.barrierHeld) return false;
    c.barrier.exec('ROLLBACK');
    c.barrierHeld = false;
    return true;
  },

  /**
   * Runs a checkpoint, waiting at most `waitMs` for the locks it needs.
   * PASSIVE never calls SQLite's busy handler, so there a checkpoint lock
   * held by another connection (the application's autocheckpoint, which runs
   * after its commit and so outside the agent's write barrier) is retried
   * every BARRIER_POLL_MS instead. The pragma reports that lock as busy with
   * `log` -1, not as an error.
   */
  checkpoint(db: string, mode: 'PASSIVE' | 'TRUNCATE', waitMs: number) {
    const c = conns(db);
    c.ckpt.pragma(`busy_timeout = ${mode === 'PASSIVE' ? 0 : waitMs}`);
    const started = performance.now();
    try {
      for (;;) {
        let row: { busy: number; log: number; checkpointed: number };
        try {
          row = (c.ckpt.pragma(`wal_checkpoint(${mode})`) as (typeof row)[])[0]!;
        } catch (err) {
          if (!isBusy(err)) throw err;
          row = { busy: 1, log: -1, checkpointed: -1 };
        }
        const locked = row.busy !== 0 && row.log === -1;
        if (!locked || mode !== 'PASSIVE' || performance.now() - started >= waitMs) return { ...row, ms: performance.now() - started };
        Atomics.wait(sleeper, 0, 0, BARRIER_POLL_MS);
      }
    } finally {
      c.ckpt.pragma(`busy_timeout = ${c.busyMs}`);
    }
  },

  /** PRAGMA data_version of the checkpoint connection: changes when another connection commits. */
  dataVersion(db: string) {
    return Number(conns(db).ckpt.pragma('data_version', { simple: true }));
  },

  close(db: string) {
    const c = dbs.get(db);
    if (!c) return false;
    dbs.delete(db);
    // Read-write connections first, so a read-only one is last: closing the
    // last connection never checkpoints or deletes the application's WAL.
    for (const d of [c.barrier, c.ckpt]) {
      try {
        if (d.inTransaction) d.exec('ROLLBACK');
      } finally {
        d.close();
      }
    }
    for (const r of c.readers) {
      if (r.inTransaction) r.exec('ROLLBACK');
      r.close();
    }
    return true;
  },
};

export type SqliteOps = typeof ops;

parentPort!.on('message', (msg: { id: number; op: keyof SqliteOps; args: unknown[] }) => {
  try {
    const result = (ops[msg.op] as (...a: unknown[]) => unknown)(...msg.args);
    parentPort!.postMessage({ id: msg.id, ok: true, result });
  } catch (err) {
    const e = err as Error & { code?: string };
    parentPort!.postMessage({ id: msg.id, ok: false, error: { message: e.message, code: e.code } });
  }
});
