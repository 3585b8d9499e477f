/**
 * The agent's own checkpoints (capture rule 3). Copy, then make durable, then
 * checkpoint:
 *
 * - PASSIVE once the WAL holds `minPages` frames: first without any lock, but
 *   only when a fresh read found nothing beyond what is staged (a checkpoint
 *   may copy back up to the read's mark, and frames copied back but not
 *   staged are lost if the agent dies and the application restarts the WAL);
 *   then behind a write barrier: BEGIN
 *   IMMEDIATE → stage everything → end the read → PASSIVE → start a read →
 *   ROLLBACK. Nothing commits unseen in between, and if every frame was copied
 *   back the application's next commit restarts the WAL from the top.
 * - TRUNCATE past `truncatePages` (it needs the writer lock, so no barrier):
 *   stage everything, end the read, TRUNCATE with a busy timeout of at most
 *   `maxBlockMs`, start a read. SQLite reports `log` as 0 after a successful
 *   TRUNCATE, so a commit that slipped in between is detected with
 *   `PRAGMA data_version` instead; then the next WAL change needs a proof.
 *
 * Never RESTART. The application is never blocked longer than the barrier.
 */
import { describeError } from '../core/errors.js';
import type { DbReplicator } from './db-replicator.js';

/** Checkpoint settings. */
export interface CheckpointConfig {
  minPages: number;
  truncatePages: number;
  maxBlockMs: number;
}

/** Decides when to checkpoint and runs the procedures. */
export class Checkpointer {
  private lastFrames = 0;
  private lastAtMs = 0;

  constructor(
    private readonly rep: DbReplicator,
    private readonly cfg: CheckpointConfig,
  ) {}

  /** Runs a checkpoint when the WAL is large enough and the read is in a safe state. */
  async maybeRun(): Promise<void> {
    const r = this.rep;
    if (r.readGap || !r.sqlite || !r.cursor || r.stagingFull) return;
    const frames = r.cursor.frame;
    const walBytes = await r.tailer.walBytes();
    if (walBytes >= this.cfg.truncatePages * r.cursor.pageSize) return this.run('TRUNCATE');
    if (frames < this.cfg.minPages) return;
    // After a checkpoint that could not finish (readers pin the WAL), retry once it grew or later.
    const retry = frames >= this.lastFrames + this.cfg.minPages || Date.now() - this.lastAtMs >= 10 * r.deps.config.syncIntervalMs;
    if (retry) await this.run('PASSIVE');
  }

  private async run(mode: 'PASSIVE' | 'TRUNCATE'): Promise<void> {
    const r = this.rep;
    const sqlite = r.sqlite!;
    this.lastFrames = r.cursor?.frame ?? 0;
    this.lastAtMs = Date.now();
    const started = performance.now();
    let blockedMs = 0;
    let result: 'ok' | 'busy' | 'skipped' | 'error' = 'skipped';
    try {
      if (mode === 'PASSIVE') {
        if (await r.pinsOnlyStaged()) await sqlite.checkpoint('PASSIVE', 0);
        if (!(await sqlite.barrierBegin(this.cfg.maxBlockMs))) {
          result = 'busy';
          return;
        }
        const blockedFrom = performance.now();
        try {
          if (!(await r.flush())) return;
          await r.endRead();
          const c = await sqlite.checkpoint('PASSIVE', 0);
          result = c.busy ? 'busy' : 'ok';
        } finally {
          await this.restoreRead();
          await sqlite.barrierEnd();
          blockedMs = performance.now() - blockedFrom;
        }
      } else {
        const before = await sqlite.dataVersion();
        if (!(await r.flush())) return;
        await r.endRead();
        try {
          const c = await sqlite.checkpoint('TRUNCATE', this.cfg.maxBlockMs);
          result = c.busy ? 'busy' : 'ok';
          blockedMs = c.ms;
        } finally {
          const after = await sqlite.dataVersion().catch(() => -1);
          await this.restoreRead();
          if (after !== before) r.readGap = true; // a commit slipped in: the next WAL restart needs a proof
        }
      }
    } catch (err) {
      result = 'error';
      r.log.warn({ mode, err: describeError(err).message }, 'checkpoint failed');
    } finally {
      const ms = performance.now() - started;
      if (result !== 'skipped') r.log.debug({ mode, result, ms: Math.round(ms), blockedMs: Math.round(blockedMs) }, 'checkpoint');
      r.hooks.onCheckpoint?.(r.name, { mode, result, ms, blockedMs });
    }
  }

  private async restoreRead(): Promise<void> {
    try {
      await this.rep.beginRead();
    } catch (err) {
      this.rep.readGap = true;
      this.rep.log.warn({ err: describeError(err).message }, 'could not restart the read transaction after a checkpoint');
    }
  }
}
