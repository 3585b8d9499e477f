/**
 * Litestream v0.3.13, the peer every comparable figure is measured against,
 * from the npm package @flydotio/litestream-linux-x64 (a static binary).
 * It replicates to a local folder; it writes helper tables into the database
 * it watches, so each scenario gives it its own copy of the database.
 */
import { existsSync, writeFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { ScenarioContext } from './context.js';
import { filesUnder } from './files.js';
import { REPO_ROOT } from './paths.js';
import { runTimed, spawnTracked, stopChild, waitUntil, type TimedRun } from './procs.js';

/** The Litestream binary. */
export const LITESTREAM_BIN = join(REPO_ROOT, 'node_modules', '@flydotio', 'litestream-linux-x64', 'litestream');

/** Throws a clear error when the binary is missing (devDependencies not installed). */
export function requireLitestream(): void {
  if (!existsSync(LITESTREAM_BIN)) {
    throw new Error(`Litestream is not installed at ${LITESTREAM_BIN}; run npm ci (it is a devDependency)`);
  }
}

/** Files of one Litestream setup. */
export interface LitestreamSetup {
  config: string;
  db: string;
  replicaDir: string;
  syncMs: number;
}

function duration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/**
 * Writes a config replicating `db` to `<dir>/replica` every `syncMs`. Its
 * WAL monitor interval (default 1 s) is set to the sync interval when that is
 * shorter, or a 100 ms sync would still wait up to a second for the monitor:
 * the fairest setting for the peer.
 */
export function writeLitestreamConfig(dir: string, db: string, syncMs = 1000): LitestreamSetup {
  const replicaDir = join(dir, 'replica');
  const monitor = syncMs < 1000 ? `\n    monitor-interval: ${duration(syncMs)}` : '';
  const yaml = `dbs:\n  - path: ${db}${monitor}\n    replicas:\n      - type: file\n        path: ${replicaDir}\n        sync-interval: ${duration(syncMs)}\n`;
  const config = join(dir, 'litestream.yml');
  writeFileSync(config, yaml);
  return { config, db, replicaDir, syncMs };
}

/** A running `litestream replicate`. */
export class LitestreamProcess {
  private constructor(
    readonly child: ChildProcess,
    readonly setup: LitestreamSetup,
    private readonly output: () => string,
  ) {}

  /** Starts replicating and waits until its first snapshot and WAL segment are in the replica. */
  static async start(ctx: ScenarioContext, setup: LitestreamSetup, timeoutMs = 120_000): Promise<LitestreamProcess> {
    requireLitestream();
    const { child, output } = spawnTracked(ctx, LITESTREAM_BIN, ['replicate', '-config', setup.config]);
    const p = new LitestreamProcess(child, setup, output);
    await waitUntil(
      () => {
        if (child.exitCode !== null) throw new Error(`litestream exited (${child.exitCode}): ${output()}`);
        return filesUnder(setup.replicaDir, '.snapshot.lz4').length > 0 && filesUnder(setup.replicaDir, '.wal.lz4').length > 0;
      },
      timeoutMs,
      'litestream to write its first snapshot',
    );
    return p;
  }

  /** Process id. */
  get pid(): number {
    return this.child.pid!;
  }

  /** Log output so far (tail). */
  log(): string {
    return this.output();
  }

  /** Stops it with SIGTERM (Litestream closes its databases on the signal). */
  async stop(): Promise<void> {
    await stopChild(this.child, 30_000);
  }
}

/** Runs `litestream restore`, timed; throws if it fails. */
export async function restoreLitestream(ctx: ScenarioContext, setup: LitestreamSetup, output: string, timestamp?: string): Promise<TimedRun> {
  requireLitestream();
  const args = ['restore', '-config', setup.config, '-o', output];
  if (timestamp) args.push('-timestamp', timestamp);
  args.push(setup.db);
  const r = await runTimed(ctx, LITESTREAM_BIN, args);
  if (r.code !== 0) throw new Error(`litestream restore failed (${r.code}): ${r.stderr}`);
  return r;
}
