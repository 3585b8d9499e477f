/**
 * The rhythm of one database's capture: a cycle, then as long a sleep as the
 * cycle asks for (cut short by `wake()`), again and again. A failed cycle is
 * retried after a second; the same failure is logged once a minute, not once
 * a second, so an outage does not flood the log.
 */
import { describeError } from '../core/errors.js';
import { Alarm } from './alarm.js';
import type { Logger } from './logger.js';

const RETRY_MS = 1000;
const REPEAT_LOG_MS = 60_000;

/** Runs capture cycles one after another until stopped. */
export class CaptureLoop {
  private readonly alarm = new Alarm();
  private stopping = false;
  private done: Promise<void> = Promise.resolve();
  private lastError: { message: string; atMs: number } | null = null;
  /** When the last cycle began (performance.now()), and a wake put off until a gap after it. */
  private cycleAt = -Infinity;
  private deferredWake: NodeJS.Timeout | null = null;

  /**
   * `cycle` returns how long to wait before the next one. `onError` hears of
   * every failure, after it was logged.
   */
  constructor(
    private readonly cycle: () => Promise<number>,
    private readonly onError: (err: unknown, message: string) => void,
    private readonly log: Logger,
  ) {}

  /** The failure the last cycle ended in; null once one succeeds. */
  get error(): string | null {
    return this.lastError?.message ?? null;
  }

  /** Starts cycling at once. */
  start(): void {
    this.done = this.run();
  }

  /**
   * Ends the current sleep, so the next cycle runs now; with `gapMs`, not
   * before `gapMs` after the last cycle began (the wake is put off, once).
   */
  wake(gapMs = 0): void {
    const wait = this.cycleAt + gapMs - performance.now();
    if (wait <= 0) return this.alarm.wake();
    this.deferredWake ??= setTimeout(() => {
      this.deferredWake = null;
      this.alarm.wake();
    }, wait).unref();
  }

  /** Lets the cycle in progress finish and runs no other; resolves when the loop has ended. Idempotent. */
  stop(): Promise<void> {
    this.stopping = true;
    if (this.deferredWake) clearTimeout(this.deferredWake);
    this.alarm.wake();
    return this.done;
  }

  private async run(): Promise<void> {
    let delay = 0;
    while (!this.stopping) {
      await this.alarm.sleep(delay);
      if (this.stopping) break;
      try {
        this.cycleAt = performance.now();
        delay = await this.cycle();
        this.lastError = null;
      } catch (err) {
        delay = this.failed(err);
      }
    }
  }

  private failed(err: unknown): number {
    const { message, hint } = describeError(err);
    if (!this.lastError || this.lastError.message !== message || Date.now() - this.lastError.atMs > REPEAT_LOG_MS) {
      this.log.error({ err: message, hint }, 'capture cycle failed; retrying');
      this.lastError = { message, atMs: Date.now() };
    }
    this.onError(err, message);
    return RETRY_MS;
  }
}
