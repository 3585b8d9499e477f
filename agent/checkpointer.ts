/**
 * The agent's own checkpoints (capture rule 3). Copy, then make durable, then
 * checkpoint:
 *
 * - PASSIVE once the WAL holds `minPages` frames, behind a write barrier:
 *   BEGIN IMMEDIATE → stage everything → end the read → PASSIVE → start a
 *   read → ROLLBACK. Nothing commits unseen in between, and if every frame was
 *   copied back the application's next commit restarts the WAL from the top.
 *   The interval's segment is staged behind the barrier too, so a checkpoint
 *   costs no extra object.
 * - Under sustained load (a large backlog, or a writer faster than one
 *   segment per interval) staging behind the barrier would hold the
 *   application too long. Each segment is then staged without a lock, what
 *   the held read allows is copied back, and the read moves forward, past
 *   the backlog if need be, so that the application's own checkpoints can
 *   copy back too. The barrier, which lets the WAL restart, is tried at most
 *   once per interval once the WAL holds RESTART_WAL_BYTES, after catching
 *   up without a lock (see readyForBarrier). Before, a writer faster than one
 *   segment per interval kept the agent from ever moving its read or
 *   checkpointing: the WAL grew for as long as the load lasted, and the
 *   writer ran at 0.59 of its speed alone; now 0.87 (flat-out one-row
 *   transactions, medians of three alternating runs).
 *   A lock-free copy is never run while the read may pin frames not yet
 *   staged: copied back but unstaged, they would be lost if the agent died
 *   and the application (autocheckpoint off) then restarted the WAL.
 * - TRUNCATE once the WAL file is `truncatePages` long (to give the disk
 *   back): right after that barrier PASSIVE, with the new read still held and
 *   no busy wait. The held read either sits on read mark 0, and then blocks any
 *   further copying back, so TRUNCATE can succeed only if no frame was written
 *   since the barrier; or it sits on a later frame, and then TRUNCATE answers
 *   busy. Either way no frame the agent has not staged can be truncated away,
 *   and the application never waits. (Ending the read first, as a plain
 *   TRUNCATE would need, lets a commit slip in and be lost to the WAL; SQLite
 *   reports `log` 0 after a TRUNCATE, so that could not even be seen there.)
 *
 * Never RESTART. The application is never blocked longer than the barrier.
 */
import { describeError } from '../core/errors.js';
import { WAL_FRAME_HEADER_SIZE } from '../core/wal-format.js';
import type { DbReplicator } from './db-replicator.js';

/** Above this many observed-but-unstaged frames, stage before taking the barrier. */
const MERGE_FRAMES = 4096;
/** Under sustained load, the WAL restarts (behind the barrier) once it holds this much. */
const RESTART_WAL_BYTES = 64 << 20;
/** Segments a restart may stage to catch up with a backlog before it gives up until the next try. */
const CATCH_UP_SEGMENTS = 4;

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
  private lastResult: 'ok' | 'busy' | 'skipped' | 'error' = 'ok';
  /** Where the WAL stood after the last complete checkpoint: nothing to do until it moves. */
  private doneAt: { salt1: number; salt2: number; frame: number } | null = null;
  /** When the barrier was last tried under sustained load (Date.now()). */
  private restartTriedAtMs = 0;

  constructor(
    private readonly rep: DbReplicator,
    private readonly cfg: CheckpointConfig,
  ) {}

  /**
   * Runs a checkpoint when the WAL is large enough and the read is in a safe
   * state; what is observed but not staged is staged behind its barrier.
   * Returns true when it ran (and so staged everything pending).
   */
  async maybeRun(): Promise<boolean> {
    const r = this.rep;
    if (r.readGap || !r.read.sqlite || !r.cursor || r.stagingGate.full || r.snapshotActive) return false;
    const frames = r.cursor.frame;
    const d = this.doneAt;
    if (d && d.salt1 === r.cursor.salt1 && d.salt2 === r.cursor.salt2 && d.frame === frames && !r.pendingFrameCount) return false;
    const walBytes = await r.tailer.walBytes();
    // After a checkpoint that could not finish (readers pin the WAL), retry once it grew, or later.
    const retry = this.lastResult !== 'busy' || frames >= this.lastFrames + this.cfg.minPages || Date.now() - this.lastAtMs >= 10 * r.deps.config.syncIntervalMs;
    if (!retry) return false;
    if (walBytes >= this.cfg.truncatePages * r.cursor.pageSize) return this.run('TRUNCATE');
    if (frames >= this.cfg.minPages) return this.run('PASSIVE');
    return false;
  }

  private async run(mode: 'PASSIVE' | 'TRUNCATE'): Promise<boolean> {
    const r = this.rep;
    const sqlite = r.read.sqlite!;
    this.lastFrames = r.cursor?.frame ?? 0;
    this.lastAtMs = Date.now();
    const started = performance.now();
    let blockedMs = 0;
    let result: 'ok' | 'busy' | 'skipped' | 'error' = 'skipped';
    // Under heavy load the interval's segment is the first one staged here;
    // the later ones only shrink the barrier and must not delay the next
    // interval's segment (that would double the lag).
    let regularStaged = false;
    // The barrier that lets the WAL restart under sustained load (see readyForBarrier).
    let restart = false;
    try {
      // A backlog, a look stopped at a segment's cap, or a read left behind by
      // bursts (staged without moving it): sustained load (see the top).
      if (r.pendingFrameCount > MERGE_FRAMES || r.framesPastRead > MERGE_FRAMES || r.capped) {
        if (r.pendingFrameCount > 0) {
          if (!(await r.stage())) return false;
          regularStaged = true;
        }
        result = await this.copyBack();
        if (!(await this.readyForBarrier())) {
          await r.handOver(true);
          return true;
        }
        restart = true;
      } else if (await this.pinsOnlyStaged()) {
        await sqlite.checkpoint('PASSIVE', 0);
      }
      if (!(await sqlite.barrierBegin(this.cfg.maxBlockMs))) {
        result = 'busy';
        return false;
      }
      const blockedFrom = performance.now();
      try {
        if (!(await r.flush(!regularStaged))) return false;
        await r.read.end();
        // The application's autocheckpoint runs after its commit, outside the
        // barrier, and may still hold the checkpoint lock. A restart, tried once
        // per interval, waits for it within the budget (giving up at once, 0-2
        // of 4 tries in 7 s of a flat-out writer got through); the regular
        // checkpoint gives up at once, so the loop never waits on the application's.
        const waitMs = restart ? Math.max(0, this.cfg.maxBlockMs - (performance.now() - blockedFrom)) : 0;
        const c = await sqlite.checkpoint('PASSIVE', waitMs);
        result = c.busy ? 'busy' : 'ok';
        this.doneAt = !c.busy && c.log === c.checkpointed && r.cursor ? { salt1: r.cursor.salt1, salt2: r.cursor.salt2, frame: r.cursor.frame } : null;
      } finally {
        await this.restoreRead();
        if (this.doneAt) r.copiedBack();
        await sqlite.barrierEnd();
        blockedMs = performance.now() - blockedFrom;
      }
      if (mode === 'TRUNCATE' && result === 'ok' && r.read.held) {
        const t = await sqlite.checkpoint('TRUNCATE', 0);
        result = t.busy ? 'busy' : 'ok';
      }
      return true;
    } catch (err) {
      result = 'error';
      r.log.warn({ mode, err: describeError(err).message }, 'checkpoint failed');
      return false;
    } finally {
      this.lastResult = result;
      const ms = performance.now() - started;
      if (result !== 'skipped') r.log.debug({ mode, result, ms: Math.round(ms), blockedMs: Math.round(blockedMs) }, 'checkpoint');
      r.hooks.onCheckpoint?.(r.name, { mode, result, ms, blockedMs });
    }
  }

  /** Copies back, without a lock, what the held read allows, once every frame it pins is staged. */
  private async copyBack(): Promise<'ok' | 'busy' | 'skipped'> {
    if (!this.rep.readPinsOnlyStaged) return 'skipped';
    return (await this.rep.read.sqlite!.checkpoint('PASSIVE', 0)).busy ? 'busy' : 'ok';
  }

  /**
   * Under sustained load: whether to take the barrier now (at most once per
   * interval, once the WAL holds RESTART_WAL_BYTES). First, without a lock:
   * catch up with the backlog and copy back, then move the read, stage the
   * commits since and copy back again. The barrier is left only what was
   * committed during that last copy (it syncs the WAL first): a few
   * milliseconds of commits to stage, copy back and sync.
   */
  private async readyForBarrier(): Promise<boolean> {
    const r = this.rep;
    const walBytes = (r.cursor?.frame ?? 0) * ((r.cursor?.pageSize ?? 0) + WAL_FRAME_HEADER_SIZE);
    if (walBytes < RESTART_WAL_BYTES || Date.now() - this.restartTriedAtMs < r.deps.config.syncIntervalMs) return false;
    this.restartTriedAtMs = Date.now();
    const deferred = (why: string): false => (r.log.debug({ why }, 'WAL restart deferred'), false);
    if (!(await r.flush(false, CATCH_UP_SEGMENTS))) return deferred('a backlog of more than a few segments');
    await this.copyBack();
    if (!(await this.stageAfterHandOver())) return deferred('a segment\'s worth committed while catching up');
    await this.copyBack();
    return true;
  }

  /**
   * Moves the read forward, then stages what was committed since: afterwards
   * the held read pins only staged frames. False when that could not be done
   * (a backlog too large for one segment, staging full, a restart).
   */
  private async stageAfterHandOver(): Promise<boolean> {
    const r = this.rep;
    if (!(await this.handOverAndLook()) || !r.sum) return false;
    if (r.pendingFrameCount && !(await r.stage(false))) return false;
    return r.pendingFrameCount === 0;
  }

  /**
   * Moves the read forward and looks again: true when nothing was committed
   * past the staged end, so the held read pins no unstaged frame.
   */
  private async pinsOnlyStaged(): Promise<boolean> {
    return (await this.handOverAndLook()) && this.rep.pendingFrameCount === 0;
  }

  /** With nothing observed unstaged, moves the read forward and observes; false when the look found a backlog or a gap. */
  private async handOverAndLook(): Promise<boolean> {
    const r = this.rep;
    if (r.pendingFrameCount || r.capped || r.readGap) return false;
    await r.handOver();
    await r.observe();
    return !r.capped && !r.readGap;
  }

  private async restoreRead(): Promise<void> {
    try {
      await this.rep.read.begin();
    } catch (err) {
      this.rep.readGap = true;
      this.rep.log.warn({ err: describeError(err).message }, 'could not restart the read transaction after a checkpoint');
    }
  }
}
