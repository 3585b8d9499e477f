/**
 * The shape of a bench result: figures measured side by side with their
 * baseline, each with its ratio and (where the issue sets one) a target; the
 * machine and versions they were measured on. One JSON file per scenario.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { LITESTREAM_BIN } from './litestream.js';
import { REPO_ROOT } from './paths.js';
import { ratio as ratioOf, round } from './stats.js';

/** How big and long a run is. */
export type Mode = 'smoke' | 'quick' | 'full';

/** Which direction is good for a figure. */
export type Better = 'higher' | 'lower';

/** One measured figure. `ratio` is always walcast / baseline. */
export interface Figure {
  id: string;
  label: string;
  unit: string;
  walcast: number | null;
  baseline: number | null;
  /** What the baseline is (e.g. "litestream", "raw lz4+aes-gcm"); null when none applies. */
  baselineName: string | null;
  ratio: number | null;
  better: Better;
  /** Target text, e.g. "≥ 150 MB/s and ratio ≥ 0.6"; null when the issue sets none. */
  target: string | null;
  /** Whether the target was met; null when there is no target or a value is missing. */
  met: boolean | null;
  details?: Record<string, unknown>;
}

/** One target check against a figure. */
export type Check =
  | { kind: 'min'; value: number }
  | { kind: 'max'; value: number }
  | { kind: 'ratioMin'; value: number }
  | { kind: 'ratioMax'; value: number }
  | { kind: 'custom'; text: string; met: boolean | null };

/** Inputs of `figure()`. */
export interface FigureInput {
  id: string;
  label: string;
  unit: string;
  walcast: number | null;
  baseline?: number | null;
  baselineName?: string | null;
  better: Better;
  checks?: Check[];
  details?: Record<string, unknown>;
}

/** A target as listed in the JSON's `targets`. */
export interface TargetRecord {
  figure: string;
  label: string;
  target: string;
  met: boolean | null;
  walcast: number | null;
  ratio: number | null;
}

/** Machine the figures were measured on. */
export interface MachineInfo {
  cpus: number;
  model: string;
  memGiB: number;
  node: string;
  platform: string;
}

/** Versions of what was measured. */
export interface Versions {
  walcast: string;
  sqlite: string;
  litestream: string;
}

/** Everything a scenario file writes. */
export interface ScenarioResult {
  scenario: string;
  mode: Mode;
  date: string;
  durationS: number;
  machine: MachineInfo;
  versions: Versions;
  /** Sizes, durations and settings the figures depend on. */
  params: Record<string, unknown>;
  figures: Figure[];
  targets: TargetRecord[];
  notes: string[];
  /** Set when the scenario failed; figures may then be partial. */
  error?: string;
}

function checkText(c: Check, unit: string): string {
  switch (c.kind) {
    case 'min':
      return `≥ ${fmt(c.value)} ${unit}`.trim();
    case 'max':
      return `≤ ${fmt(c.value)} ${unit}`.trim();
    case 'ratioMin':
      return `ratio ≥ ${fmt(c.value)}`;
    case 'ratioMax':
      return `ratio ≤ ${fmt(c.value)}`;
    case 'custom':
      return c.text;
  }
}

function checkMet(c: Check, walcast: number | null, ratio: number | null): boolean | null {
  switch (c.kind) {
    case 'min':
      return walcast === null ? null : walcast >= c.value;
    case 'max':
      return walcast === null ? null : walcast <= c.value;
    case 'ratioMin':
      return ratio === null ? null : ratio >= c.value;
    case 'ratioMax':
      return ratio === null ? null : ratio <= c.value;
    case 'custom':
      return c.met;
  }
}

/** Builds a figure: computes the ratio and evaluates the checks (all must hold). */
export function figure(f: FigureInput): Figure {
  const baseline = f.baseline ?? null;
  const r = ratioOf(f.walcast, baseline);
  const checks = f.checks ?? [];
  const results = checks.map((c) => checkMet(c, f.walcast, r));
  const met = checks.length === 0 ? null : results.some((x) => x === false) ? false : results.some((x) => x === null) ? null : true;
  return {
    id: f.id,
    label: f.label,
    unit: f.unit,
    walcast: round(f.walcast),
    baseline: round(baseline),
    baselineName: baseline === null && !f.baselineName ? null : (f.baselineName ?? null),
    ratio: round(r, 3),
    better: f.better,
    target: checks.length ? checks.map((c) => checkText(c, f.unit)).join(' and ') : null,
    met,
    ...(f.details ? { details: f.details } : {}),
  };
}

/** The targets of a list of figures, for the JSON's `targets`. */
export function targetsOf(figures: readonly Figure[]): TargetRecord[] {
  return figures
    .filter((f) => f.target !== null)
    .map((f) => ({ figure: f.id, label: f.label, target: f.target!, met: f.met, walcast: f.walcast, ratio: f.ratio }));
}

/** CPU, memory and runtime of this machine. */
export function machineInfo(): MachineInfo {
  const c = cpus();
  return {
    cpus: c.length,
    model: c[0]?.model.trim() ?? 'unknown',
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${platform()} ${release()}`,
  };
}

let cachedVersions: Versions | null = null;

/** walcast's package version, the bundled SQLite, and Litestream's version (cached). */
export function versions(): Versions {
  if (cachedVersions) return cachedVersions;
  const walcast = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const db = new Database(':memory:');
  const sqlite = (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
  db.close();
  let litestream = 'unavailable';
  try {
    litestream = execFileSync(LITESTREAM_BIN, ['version'], { encoding: 'utf8' }).trim();
  } catch {
    // Reported as unavailable; scenarios that need it fail with a clear message.
  }
  cachedVersions = { walcast, sqlite, litestream };
  return cachedVersions;
}

/** Writes `<dir>/<scenario>.json`; returns its path. */
export function writeResult(dir: string, r: ScenarioResult): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${r.scenario}.json`);
  writeFileSync(path, JSON.stringify(r, null, 2) + '\n');
  return path;
}

/** Formats a number for tables: up to 3 significant digits, no exponent for ordinary sizes. */
export function fmt(x: number | null): string {
  if (x === null || !Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a === 0) return '0';
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(2);
}

/** Column values of one figure row, as printed. */
export function rowOf(scenario: string, f: Figure): string[] {
  const unit = f.unit ? ` ${f.unit}` : '';
  return [
    scenario,
    f.label,
    f.walcast === null ? '–' : `${fmt(f.walcast)}${unit}`,
    f.baseline === null ? '–' : `${fmt(f.baseline)}${unit}${f.baselineName ? ` (${f.baselineName})` : ''}`,
    f.ratio === null ? '–' : fmt(f.ratio),
    f.target ?? '',
    f.met === null ? (f.target ? '?' : '') : f.met ? 'yes' : 'NO',
  ];
}

/** The header of the figure table. */
export const TABLE_HEADER = ['scenario', 'figure', 'walcast', 'baseline', 'ratio', 'target', 'met?'];

/** A plain-text table with aligned columns. */
export function textTable(rows: string[][]): string {
  const all = [TABLE_HEADER, ...rows];
  const widths = TABLE_HEADER.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(TABLE_HEADER), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** A Markdown table of the same rows. */
export function markdownTable(rows: string[][]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [`| ${TABLE_HEADER.join(' | ')} |`, `|${TABLE_HEADER.map(() => ' --- ').join('|')}|`, ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');
}
