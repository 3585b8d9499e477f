/**
 * The agent's SQLite connections to one database and the read transaction it
 * holds on them (capture rule 1). Two reader slots take turns, so the read
 * moves forward hand over hand: the new one starts before the old one ends,
 * and the WAL is never left unpinned. When the read may move is the
 * replicator's decision; this only keeps track of which slot holds it.
 */
import { describeError } from '../core/errors.js';
import type { Logger } from './logger.js';
import type { SqliteHandle, SqliteHost } from './sqlite-host.js';
import { notWal } from './wal-tailer.js';

/** Kept short: a busy wait blocks the SQLite worker, which other databases share (capture rule 8). */
const SQLITE_BUSY_MS = 100;

/** Connections to one database and the slot holding its read. */
export class HeldRead {
  private handle: SqliteHandle | null = null;
  private slot: 0 | 1 | null = null;
  private started = 0;

  constructor(
    private readonly host: SqliteHost,
    private readonly path: string,
    private readonly log: Logger,
  ) {}

  /** The connections (barriers and checkpoints run on them); null until opened, and after `drop()`. */
  get sqlite(): SqliteHandle | null {
    return this.handle;
  }

  /** True while a read transaction is held. */
  get held(): boolean {
    return this.slot !== null;
  }

  /** Counts the read transactions started: a change means the held read is another one. */
  get serial(): number {
    return this.started;
  }

  /** Opens new connections, holding no read yet; refuses a database that is not in WAL mode. */
  async open(): Promise<void> {
    const r = await this.host.open(this.path, SQLITE_BUSY_MS);
    if (!r.handle) throw notWal(this.path, `journal_mode is ${r.journalMode}`);
    this.handle = r.handle;
    this.slot = null;
  }

  /** Starts a read transaction when none is held. */
  async begin(): Promise<void> {
    if (this.slot !== null || !this.handle) return;
    this.slot = await this.handle.beginRead();
    this.started++;
  }

  /** Ends the held read transaction (only behind a barrier or before a TRUNCATE). */
  async end(): Promise<void> {
    if (this.slot === null || !this.handle) return;
    const slot = this.slot;
    this.slot = null;
    await this.handle.endRead(slot);
  }

  /** Starts a new read, then ends the old one; when the new one cannot start, the old one stays. */
  async moveForward(): Promise<void> {
    if (!this.handle) return;
    const old = this.slot;
    try {
      this.slot = await this.handle.beginRead();
      this.started++;
    } catch (err) {
      this.log.debug({ err: describeError(err).message }, 'could not start a new read; keeping the old one');
      return;
    }
    if (old !== null) await this.handle.endRead(old);
  }

  /** Forgets connections whose worker died: they hold nothing any more. */
  drop(): void {
    this.handle = null;
    this.slot = null;
  }

  /** Closes the connections, ending the read; never throws. */
  async close(): Promise<void> {
    await this.handle?.close().catch(() => {});
    this.drop();
  }
}
