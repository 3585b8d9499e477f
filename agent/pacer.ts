/**
 * When segments ship, and how long the capture loop sleeps meanwhile (and
 * how soon a file event may wake it).
 *
 * The upload-rate bucket refills one token per sync interval up to a small
 * burst, and each regular segment spends one. Under steady load a
 * destination gets one object per interval, while a commit after a quiet
 * spell ships at once. A large backlog ships early, without a token (see
 * `earlyInMs`). With `syncWalBytes` set, a backlog of that much WAL also
 * ships at once, without a token.
 */
import type { Backlog } from './backlog.js';

/** Segments that may go out back to back after a quiet spell. */
const BURST = 2;
/** Least time between the starts of cycles that look at commits already waiting for a token. */
const OBSERVE_GAP_MS = 10;
/**
 * A look that finds this many new frames means a busy writer (see `busy`).
 * Measured beside a flat-out writer of one-row transactions, the wakes of a
 * file watch took 6% of the writer's CPU time (in its write calls); beside a
 * steady 500 tx/s writer they doubled its commit latency p99 (0.25-0.29 ms
 * against 0.13-0.15 ms with polling, 0.11-0.18 ms alone).
 */
const BUSY_LOOK_FRAMES = 64;
/**
 * A backlog of this much WAL ships once its first commit has waited half a
 * sync interval (see `earlyInMs`). A steady 500 tx/s of one-row transactions
 * writes about 2.3 MB of WAL a second, so such a writer keeps its one object
 * per interval at sync intervals up to about 3 s.
 */
export const EARLY_BACKLOG_BYTES = 4 << 20;

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
  /** When a look last found new frames (performance.now()). */
  private foundAt = -Infinity;

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

  /** True when `backlog` (of `pageSize` pages) holds `syncWalBytes` of WAL or more. */
  backlogFull(backlog: Backlog, pageSize: number): boolean {
    const limit = this.cfg.syncWalBytes;
    return limit > 0 && backlog.walBytes(pageSize) >= limit;
  }

  /**
   * How long until `backlog` (of `pageSize` pages) ships without a token;
   * Infinity when it is empty or too small to. A heavy writer's segment is large (20
   * MB/s makes 21 MB a second), and staging and uploading it after the
   * interval ends took long enough to push lag past the interval (p99 1.12 s
   * into a folder, 1.46 s to s3rver, at sync 1 s), so a backlog of
   * EARLY_BACKLOG_BYTES or more ships once its first commit has waited half
   * an interval. That is at most one extra object per interval: the next
   * backlog's first commit is half an interval old only when the interval's
   * token is due.
   */
  earlyInMs(backlog: Backlog, pageSize: number): number {
    const first = backlog.first;
    if (!first || backlog.walBytes(pageSize) < EARLY_BACKLOG_BYTES) return Infinity;
    return first.observedAtMs + this.cfg.syncIntervalMs / 2 - Date.now();
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

  /**
   * Called once per look with the new frames it found: true when the writer
   * is busy (many frames, or some within two gaps of a look that found
   * some). The loop then looks every OBSERVE_GAP_MS without a file watch, as
   * often as events would wake it under load, and the application's writes
   * wake nobody.
   */
  busy(frames: number): boolean {
    const now = performance.now();
    const recent = now - this.foundAt <= 2 * OBSERVE_GAP_MS;
    if (frames > 0) this.foundAt = now;
    return frames >= BUSY_LOOK_FRAMES || (frames > 0 && recent);
  }

  /**
   * How long to sleep before the next look, with or without commits waiting
   * for a token. `watched`: a file watch has covered every change since this
   * look began, so an event ends the sleep; without one (a busy writer, or a
   * watch set up just now) the loop looks again after OBSERVE_GAP_MS.
   * `earlyMs`: `earlyInMs` of the commits waiting.
   */
  sleepMs(waiting: boolean, watched: boolean, earlyMs = Infinity): number {
    const poll = this.cfg.pollIntervalMs;
    const untilDue = Math.max(0, Math.min(earlyMs, (1 - this.available()) * this.cfg.syncIntervalMs));
    if (!watched) return Math.min(OBSERVE_GAP_MS, waiting ? untilDue : poll);
    if (!waiting) return poll;
    // A backlog is noticed by the poll as well: file-change events are only a hint.
    return this.cfg.syncWalBytes > 0 ? Math.min(untilDue, poll) : untilDue;
  }
}
