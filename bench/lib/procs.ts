/**
 * Child processes as the bench measures them: wall time, peak resident
 * memory (VmHWM, through /usr/bin/time when present, else by sampling
 * /proc), CPU time from /proc/<pid>/stat.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ScenarioContext } from './context.js';

const TIME_BIN = '/usr/bin/time';

/** Peak and current resident set of a live process, in MiB; null when it is gone. */
export function memoryOf(pid: number): { hwmMiB: number; rssMiB: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
    return { hwmMiB: kib('VmHWM') / 1024, rssMiB: kib('VmRSS') / 1024 };
  } catch {
    return null;
  }
}

let clockTicks: number | null = null;

/** User + system CPU seconds a live process has used; null when it is gone. */
export function cpuSecondsOf(pid: number): number | null {
  clockTicks ??= (() => {
    try {
      return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      return 100;
    }
  })();
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at ") ".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicks;
  } catch {
    return null;
  }
}

/** Resolves with the exit code (or null on a signal) when the child ends. */
export function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** Sends SIGTERM (or `signal`), then SIGKILL after `graceMs`; resolves when the child is gone. */
export async function stopChild(child: ChildProcess, graceMs = 30_000, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const done = exitOf(child);
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const code = await done;
  clearTimeout(timer);
  return code;
}

/** Result of a timed run. */
export interface TimedRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit. */
  ms: number;
  /** Peak resident set of the command, in MiB (null if it could not be measured). */
  peakRssMiB: number | null;
}

/**
 * Runs a command to completion, timing it and taking its peak RSS. With
 * /usr/bin/time the figure is the kernel's own maximum (ru_maxrss); without,
 * /proc/<pid>/status is sampled every 5 ms, which can miss a short peak.
 */
export async function runTimed(ctx: ScenarioContext, cmd: string, args: string[], opts: SpawnOptions = {}): Promise<TimedRun> {
  const useTime = existsSync(TIME_BIN);
  const rssFile = join(ctx.workDir, `rss-${process.pid}-${Math.random().toString(36).slice(2)}.txt`);
  const [bin, argv] = useTime ? [TIME_BIN, ['-o', rssFile, '-f', '%M', cmd, ...args]] : [cmd, args];
  const started = performance.now();
  const child = ctx.track(spawn(bin, argv, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  let sampled = 0;
  const sampler = useTime
    ? null
    : setInterval(() => {
        const m = child.pid ? memoryOf(child.pid) : null;
        if (m) sampled = Math.max(sampled, m.hwmMiB);
      }, 5);
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  const ms = performance.now() - started;
  if (sampler) clearInterval(sampler);
  let peakRssMiB: number | null = sampled || null;
  if (useTime) {
    let raw = '';
    try {
      raw = readFileSync(rssFile, 'utf8');
    } catch (err) {
      raw = `(unreadable: ${(err as Error).message})`;
    }
    const kib = Number(raw.trim().split('\n').pop());
    peakRssMiB = raw.trim() !== '' && Number.isFinite(kib) ? kib / 1024 : null;
    if (peakRssMiB === null) ctx.log(`could not read the peak RSS of ${cmd} from /usr/bin/time: ${JSON.stringify(raw.slice(0, 200))}`);
    rmSync(rssFile, { force: true });
  }
  return { code, stdout, stderr, ms, peakRssMiB };
}

/** Spawns a long-running child whose output is drained (so it never blocks on a full pipe) and tracked. */
export function spawnTracked(ctx: ScenarioContext, cmd: string, args: string[], opts: SpawnOptions = {}): { child: ChildProcess; output: () => string } {
  const child = ctx.track(spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  const keep = (d: Buffer) => {
    // Keep the tail only: long runs must not grow the bench's memory.
    out = (out + d.toString()).slice(-64 * 1024);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, output: () => out };
}

/** Sleeps. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `pred` every `everyMs` until it holds; throws after `timeoutMs` naming `what`. */
export async function waitUntil(pred: () => boolean | Promise<boolean>, timeoutMs: number, what: string, everyMs = 20): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
