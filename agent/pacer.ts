/**
 * When segments ship, and how long the capture loop sleeps meanwhile (and
 * how soon a file event may wake it).
 *
 * The upload-rate bucket refills one token per sync interval up to a small
 * burst, and each regular segment spends one. Under steady load a
 * destination gets one object per interval, while a commit after a quiet
 * spell ships at once. With `syncWalBytes` set, a backlog of that much WAL
 * also ships at once, without a token.
 */
import { WAL_FRAME_HEADER_SIZE } from '../core/wal-format.js';

/** Segments that may go out back to back after a quiet spell. */
const BURST = 2;
/** Least time between the starts of cycles that look at commits already waiting for a token. */
const OBSERVE_GAP_MS = 10;
/**
 * A look that finds this many new frames means a busy writer: the next look
 * polls after OBSERVE_GAP_MS instead of waiting for a file event. Measured
 * beside a flat-out writer of one-row transactions, the wakes of a file watch
 * took 6% of the writer's CPU time (in its write calls).
 */
const BUSY_LOOK_FRAMES = 64;

/** The settings the pace follows. */
export interface PaceConfig {
  syncIntervalMs: number;
  pollIntervalMs: number;
  syncWalBytes: number;
}

/** A token bucket refilled by wall time, and the sleeps that follow from it. */
export class Pacer {
  private tokens = BURST;
  private atMs = Date.now();

  constructor(private readonly cfg: PaceConfig) {}

  /** Tokens now (refilled up to now). */
  available(): number {
    const now = Date.now();
    this.tokens = Math.min(BURST, this.tokens + (now - this.atMs) / this.cfg.syncIntervalMs);
    this.atMs = now;
    return this.tokens;
  }

  /** True when a regular segment may go out now. */
  due(): boolean {
    return this.available() >= 1;
  }

  /** Spends a token; may go below zero after a forced or capped segment, and the next then waits longer. */
  spend(): void {
    this.available();
    this.tokens -= 1;
  }

  /** True when `frames` waiting (of `pageSize` pages) hold `syncWalBytes` of WAL or more. */
  backlogFull(frames: number, pageSize: number): boolean {
    const limit = this.cfg.syncWalBytes;
    return limit > 0 && frames * (pageSize + WAL_FRAME_HEADER_SIZE) >= limit;
  }

  /**
   * How long after a cycle began a file event may start the next one. Under
   * load every commit raises an event, and a cycle per event costs the
   * application CPU for no earlier upload while commits wait for a token;
   * after a quiet spell a commit is looked at (and shipped) at once.
   */
  wakeGapMs(waiting: boolean): number {
    return waiting ? OBSERVE_GAP_MS : 0;
  }

  /** True when a look that found `frames` new frames says the files change too fast to watch. */
  busy(frames: number): boolean {
    return frames >= BUSY_LOOK_FRAMES;
  }

  /**
   * How long to sleep before the next look, with or without commits waiting
   * for a token. `watched`: a file watch has covered every change since this
   * look began, so an event ends the sleep; without one (a busy writer, or a
   * watch set up just now) the loop looks again after OBSERVE_GAP_MS.
   */
  sleepMs(waiting: boolean, watched = true): number {
    const poll = this.cfg.pollIntervalMs;
    const untilDue = Math.max(0, (1 - this.available()) * this.cfg.syncIntervalMs);
    if (!watched) return Math.min(OBSERVE_GAP_MS, waiting ? untilDue : poll);
    if (!waiting) return poll;
    // A backlog is noticed by the poll as well: file-change events are only a hint.
    return this.cfg.syncWalBytes > 0 ? Math.min(untilDue, poll) : untilDue;
  }
}
