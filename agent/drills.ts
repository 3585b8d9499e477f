/**
 * Restore drills: every `drills.intervalMs`, restore each database's newest
 * point into a temporary folder with the real restore tool (checksum proven,
 * PRAGMA integrity_check), in a child process so the agent's event loop and
 * memory are untouched, and report the outcome and duration (the RTO).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentConfig } from '../core/config.js';
import { restoreEnv, RESTORE_NODE_FLAGS } from '../core/node-flags.js';
import type { Logger } from './logger.js';

/** Outcome of one drill. */
export interface DrillResult {
  ok: boolean;
  atMs: number;
  ms: number;
  txid?: number;
  error?: string;
}

const RESTORE_CLI = fileURLToPath(new URL('../restore-tool/cli.js', import.meta.url));

/** Runs one drill for database `db`. */
export async function runDrill(config: Readonly<AgentConfig>, db: string): Promise<DrillResult> {
  const dir = await mkdtemp(join(tmpdir(), 'walcast-drill-'));
  const started = performance.now();
  const args = [...RESTORE_NODE_FLAGS, RESTORE_CLI, 'restore', '--config', config.file, '--db', db, '--output', join(dir, `${db}.db`), '--json'];
  if (config.drills.destination) args.push('--destination', config.drills.destination);
  try {
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, args, { maxBuffer: 1 << 20, env: restoreEnv() }, (err, stdout, stderr) =>
        err ? reject(new Error(stderr.split('\n').find((l) => l.startsWith('Error: '))?.slice(7) ?? err.message)) : resolve(stdout),
      ),
    );
    const r = JSON.parse(out) as { txid: number };
    return { ok: true, atMs: Date.now(), ms: performance.now() - started, txid: r.txid };
  } catch (err) {
    return { ok: false, atMs: Date.now(), ms: performance.now() - started, error: (err as Error).message };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Schedules drills for every database. */
export class DrillScheduler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly config: Readonly<AgentConfig>,
    private readonly log: Logger,
    private readonly report: (db: string, r: DrillResult) => void,
  ) {}

  /** Starts the schedule (no-op when drills are off). */
  start(): void {
    const every = this.config.drills.intervalMs;
    if (!every) return;
    this.timer = setInterval(() => {
      this.running ??= this.runAll().finally(() => (this.running = null));
    }, every);
    this.timer.unref();
  }

  private async runAll(): Promise<void> {
    for (const db of this.config.databases) {
      const r = await runDrill(this.config, db.name);
      if (r.ok) this.log.info({ db: db.name, txid: r.txid, ms: Math.round(r.ms) }, 'restore drill passed');
      else this.log.error({ db: db.name, err: r.error }, 'restore drill failed');
      this.report(db.name, r);
    }
  }

  /** Stops scheduling and waits for a drill in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
