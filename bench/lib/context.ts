/**
 * What a scenario gets from the runner: its mode, a scratch folder under
 * bench/.work, a place for notes and parameters, and a registry of the child
 * processes it started, so a failing scenario never leaves an agent, a
 * Litestream or a writer running behind it.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Mode } from './report.js';

/** Per-mode values; a scenario picks its sizes and durations with `ctx.pick`. */
export interface PerMode<T> {
  smoke: T;
  quick: T;
  full: T;
}

/** The environment of one scenario run. */
export class ScenarioContext {
  /** Free-form remarks that end up in the JSON (method, caveats). */
  readonly notes: string[] = [];
  /** Sizes, durations and settings the figures depend on. */
  readonly params: Record<string, unknown> = {};
  private readonly children = new Set<ChildProcess>();
  private readonly cleanups: (() => unknown)[] = [];
  private readonly started = Date.now();

  constructor(
    readonly scenario: string,
    readonly mode: Mode,
    readonly workDir: string,
    private readonly verbose = true,
  ) {
    mkdirSync(workDir, { recursive: true });
  }

  /**
   * The sync interval for runs that do not vary it: 1 s (both tools'
   * default), or 200 ms in smoke mode, which only checks that a scenario
   * runs and should not wait out full intervals.
   */
  get syncMs(): number {
    return this.mode === 'smoke' ? 200 : 1000;
  }

  /** Agent config settings for runs at `syncMs`: none (walcast's defaults) unless in smoke mode. */
  get agentSettings(): Record<string, unknown> {
    return this.mode === 'smoke' ? { syncIntervalMs: this.syncMs } : {};
  }

  /** The value for the current mode. */
  pick<T>(v: PerMode<T>): T {
    return v[this.mode];
  }

  /** A fresh subfolder of the scratch folder. */
  dir(name: string): string {
    const d = join(this.workDir, name);
    rmSync(d, { recursive: true, force: true });
    mkdirSync(d, { recursive: true });
    return d;
  }

  /** Progress line on stderr (stdout carries the table). */
  log(msg: string): void {
    if (this.verbose) process.stderr.write(`[${this.scenario} +${((Date.now() - this.started) / 1000).toFixed(1)}s] ${msg}\n`);
  }

  /** Registers a child process so cleanup() can end it if the scenario did not. */
  track<T extends ChildProcess>(child: T): T {
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Registers work for cleanup() (stopping a server, closing a database). */
  onCleanup(fn: () => unknown): void {
    this.cleanups.push(fn);
  }

  /** Ends every tracked child still alive (by its pid), runs cleanups, removes the scratch folder. */
  async cleanup(keepFiles = false): Promise<void> {
    for (const c of this.children) {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
    this.children.clear();
    for (const fn of this.cleanups.reverse()) {
      try {
        await fn();
      } catch {
        // Cleanup is best effort: the scenario's own error (if any) is what matters.
      }
    }
    if (!keepFiles) rmSync(this.workDir, { recursive: true, force: true });
  }
}
