/**
 * The application side of every scenario: a separate Node process writing
 * with better-sqlite3 (as an application would, in its own process), driven
 * by a spec of phases, recording when each transaction committed. Every row
 * carries a marker `LAGMARK:<n>:` naming its transaction, which the lag
 * scenario finds again in the replicated files.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { ScenarioContext } from './context.js';
import { WRITER_PROCESS } from './paths.js';
import { exitOf } from './procs.js';

/** One phase of writing. */
export interface PhaseSpec {
  name: string;
  /** Transactions per second; 0 writes flat out. */
  txPerSec: number;
  /** Transactions in the phase. */
  count: number;
  /** Rows inserted per transaction (into `rows`). */
  rowsPerTx: number;
  /** Bytes of each inserted row's body. */
  rowBytes: number;
  /** Random existing rows of `items` rewritten per transaction (spreads page writes over the file). */
  updates?: number;
  /**
   * How transactions are spaced: `uniform` (every 1/rate s, the default) or
   * `poisson` (exponential gaps of mean 1/rate s, capped at 3×, as independent requests
   * arrive; a metronome at exactly the sync interval would measure only its
   * phase against the tool's timer).
   */
  arrivals?: 'uniform' | 'poisson';
  /** Quiet time after the phase (not after the last one). */
  pauseAfterMs?: number;
}

/** What the writer process is told to do. */
export interface WriterSpec {
  /** Databases written round-robin, one transaction each in turn. */
  dbs: string[];
  /** Where the writer puts its WriterResult JSON. */
  out: string;
  /** wal_autocheckpoint; null keeps SQLite's default (1000). */
  autocheckpoint: number | null;
  synchronous: 'OFF' | 'NORMAL' | 'FULL';
  busyTimeoutMs: number;
  seed: number;
  phases: PhaseSpec[];
}

/** Timing of one phase as the writer saw it. */
export interface PhaseResult {
  name: string;
  /** Marker number of the phase's first transaction. */
  first: number;
  /** Transactions committed. */
  count: number;
  startMs: number;
  endMs: number;
  /** Wall time of the phase's transactions (pause excluded). */
  elapsedMs: number;
  /** Commit latency (time inside each transaction), ms. */
  latency: { p50: number | null; p99: number | null; max: number | null };
}

/** What the writer reports. */
export interface WriterResult {
  /** Wall-clock commit time (ms since the epoch) of transaction n, indexed by marker number. */
  commitMs: number[];
  phases: PhaseResult[];
  /** True when it was stopped before finishing. */
  stopped: boolean;
  /** Size of each database's WAL file when the writer finished (before it closed its connections). */
  walBytes: number[];
}

/** A running writer process. */
export class WriterHandle {
  /** Resolves with the writer's result when it exits. */
  readonly done: Promise<WriterResult>;
  private stderr = '';

  constructor(
    readonly spec: WriterSpec,
    readonly child: ReturnType<typeof spawn>,
  ) {
    child.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-8192)));
    child.stdout!.resume();
    this.done = exitOf(child).then((code) => {
      if (code !== 0) throw new Error(`writer exited with ${code}: ${this.stderr}`);
      return JSON.parse(readFileSync(spec.out, 'utf8')) as WriterResult;
    });
    this.done.catch(() => {}); // awaited by the caller; avoid an unhandled rejection meanwhile
  }

  /** Asks the writer to stop after its current transaction; resolves with its result. */
  stop(): Promise<WriterResult> {
    this.child.kill('SIGTERM');
    return this.done;
  }
}

/** Starts a writer process. */
export function startWriter(ctx: ScenarioContext, spec: WriterSpec): WriterHandle {
  const child = ctx.track(spawn(process.execPath, [WRITER_PROCESS, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] }));
  return new WriterHandle(spec, child);
}

/** Runs a writer to completion. */
export function runWriter(ctx: ScenarioContext, spec: WriterSpec): Promise<WriterResult> {
  return startWriter(ctx, spec).done;
}

/** Defaults for a writer spec: busy timeout 5 s (README: at least 1 s), synchronous NORMAL, SQLite's autocheckpoint. */
export function writerSpec(dbs: string[], out: string, phases: PhaseSpec[], over: Partial<WriterSpec> = {}): WriterSpec {
  return { dbs, out, autocheckpoint: null, synchronous: 'NORMAL', busyTimeoutMs: 5000, seed: 42, phases, ...over };
}

/** Total seconds a list of phases takes at their rates (flat-out phases count as 0). */
export function phasesSeconds(phases: readonly PhaseSpec[]): number {
  return phases.reduce((s, p) => s + (p.txPerSec > 0 ? p.count / p.txPerSec : 0) + (p.pauseAfterMs ?? 0) / 1000, 0);
}
