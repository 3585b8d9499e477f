/**
 * The upload-rate bucket: it refills one token per sync interval up to a
 * small burst, and each regular segment spends one. Under steady load a
 * destination gets one object per interval, while a commit after a quiet
 * spell ships at once.
 */

/** Segments that may go out back to back after a quiet spell. */
const BURST = 2;

/** A token bucket refilled by wall time. */
export class Pacer {
  private tokens = BURST;
  private atMs = Date.now();

  constructor(private readonly intervalMs: number) {}

  /** Tokens now (refilled up to now). */
  available(): number {
    const now = Date.now();
    this.tokens = Math.min(BURST, this.tokens + (now - this.atMs) / this.intervalMs);
    this.atMs = now;
    return this.tokens;
  }

  /** Spends a token; may go below zero after a forced or capped segment, and the next then waits longer. */
  spend(): void {
    this.available();
    this.tokens -= 1;
  }
}
