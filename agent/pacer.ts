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

  /** How long to sleep before the next look, with or without commits waiting for a token. */
  sleepMs(waiting: boolean): number {
    const poll = this.cfg.pollIntervalMs;
    if (!waiting) return poll;
    const untilDue = Math.max(0, (1 - this.available()) * this.cfg.syncIntervalMs);
    // A backlog is noticed by the poll as well: file-change events are only a hint.
    return this.cfg.syncWalBytes > 0 ? Math.min(untilDue, poll) : untilDue;
  }
}
