/**
 * The agent and the restore tool as real processes, with a config made for a
 * test folder.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKeyBase64 } from '../../core/keyring.js';
import { AGENT_NODE_FLAGS, programEnv, restoreEnv, RESTORE_NODE_FLAGS } from '../../core/node-flags.js';
import { onLines } from './lines.js';

const dist = fileURLToPath(new URL('../../', import.meta.url));
export const AGENT_CLI = join(dist, 'agent', 'cli.js');
export const RESTORE_CLI = join(dist, 'restore-tool', 'cli.js');

/** Writes a key file and a config for one database with a file destination; returns the config path. */
export function writeConfig(
  dir: string,
  opts: { db?: string; name?: string; overrides?: Record<string, unknown>; database?: Record<string, unknown>; destinations?: Record<string, unknown>[] } = {},
): string {
  const keyFile = join(dir, 'test.key');
  writeFileSync(keyFile, generateKeyBase64(), { flag: 'w', mode: 0o600 });
  const config = {
    databases: [
      {
        path: opts.db ?? join(dir, 'app.db'),
        ...(opts.name ? { name: opts.name } : {}),
        destinations: opts.destinations ?? [{ name: 'local', type: 'file', path: join(dir, 'replica') }],
        ...opts.database,
      },
    ],
    encryption: { activeKey: 'k1', keys: [{ id: 'k1', file: keyFile }] },
    syncIntervalMs: 200,
    pollIntervalMs: 50,
    stagingDir: join(dir, 'staging'),
    ...opts.overrides,
  };
  const path = join(dir, 'agent.config.json');
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

/** One parsed log line of the agent. */
export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

/** A running agent process. */
export class AgentProcess {
  readonly logs: LogLine[] = [];
  stderr = '';
  private exited: Promise<number | null>;
  private waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];

  private constructor(readonly child: ChildProcess) {
    onLines(child.stdout!, (line) => {
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        parsed = { msg: line };
      }
      this.logs.push(parsed);
      this.waiters = this.waiters.filter((w) => (w.pred(parsed) ? (w.resolve(parsed), false) : true));
    });
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }

  /** Starts `walcast-agent --config <config>` and waits until it runs. */
  static async start(config: string, opts: { args?: string[]; env?: NodeJS.ProcessEnv; wait?: boolean } = {}): Promise<AgentProcess> {
    const child = spawn(process.execPath, [...AGENT_NODE_FLAGS, AGENT_CLI, '--config', config, ...(opts.args ?? [])], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: programEnv({ WALCAST_LOG_LEVEL: process.env.WALCAST_TEST_LOG_LEVEL ?? 'debug', ...opts.env }),
    });
    const a = new AgentProcess(child);
    if (opts.wait !== false) {
      const ready = a.waitFor((l) => l.msg === 'walcast agent running', 30_000);
      const died = a.exited.then((code) => {
        throw new Error(`agent exited (${code}) before running:\n${a.stderr}\n${a.logs.map((l) => JSON.stringify(l)).join('\n')}`);
      });
      await Promise.race([ready, died]);
    }
    return a;
  }

  /** Resolves with the first log line (past or future) matching `pred`. */
  waitFor(pred: (l: LogLine) => boolean, timeoutMs = 20_000): Promise<LogLine> {
    const past = this.logs.find(pred);
    if (past) return Promise.resolve(past);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for a log line; last lines:\n${this.logs.slice(-10).map((l) => JSON.stringify(l)).join('\n')}`)), timeoutMs);
      this.waiters.push({ pred, resolve: (l) => (clearTimeout(t), resolve(l)) });
    });
  }

  /** Resolves with the first log line from now on matching `pred`. */
  waitForNew(pred: (l: LogLine) => boolean, timeoutMs = 20_000): Promise<LogLine> {
    const from = this.logs.length;
    return this.waitFor((l) => this.logs.indexOf(l) >= from && pred(l), timeoutMs);
  }

  /** SIGTERM, then the exit code. */
  async stop(): Promise<number | null> {
    this.child.kill('SIGTERM');
    return this.exited;
  }

  /** SIGKILL, then the exit code. */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Resolves with the exit code when the process ends. */
  exit(): Promise<number | null> {
    return this.exited;
  }

  /** CPU seconds (user + system) the agent has used so far, from /proc/PID/stat (clock ticks of 1/100 s). */
  cpuSeconds(): number {
    const fields = readFileSync(`/proc/${this.child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  }

  /** Log lines whose message is `msg`. */
  lines(msg: string): LogLine[] {
    return this.logs.filter((l) => l.msg === msg);
  }
}

/** Result of a CLI run. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs walcast-restore with arguments. */
export function restoreCli(...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [...RESTORE_NODE_FLAGS, RESTORE_CLI, ...args], { encoding: 'utf8', maxBuffer: 64 << 20, env: restoreEnv() });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Runs a CLI without blocking this process's event loop: needed when the
 * test itself serves something the CLI talks to (a proxy, a webhook).
 */
export function cliAsync(which: 'agent' | 'restore', args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, which === 'agent' ? [...AGENT_NODE_FLAGS, AGENT_CLI, ...args] : [...RESTORE_NODE_FLAGS, RESTORE_CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: which === 'agent' ? programEnv(env) : restoreEnv(env) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs walcast-agent with arguments to completion (e.g. --once, or a failing start). */
export function agentCli(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync(process.execPath, [...AGENT_NODE_FLAGS, AGENT_CLI, ...args], { encoding: 'utf8', env: programEnv(env), timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Sleeps. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
