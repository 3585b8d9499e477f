/**
 * The bench runner: `npm run bench [-- --quick|--smoke] [scenario ...]`.
 *
 * Runs each scenario in turn in its own scratch folder under bench/.work
 * (removed afterwards), writes bench/results/<scenario>.json, prints one
 * table of every figure beside its baseline, and after a full run rewrites
 * bench/RESULTS.md. Missed targets never fail the run (benchmarks do not
 * decide whether CI is green); a scenario that crashes does, so the smoke
 * test notices.
 *
 *   --quick        smaller sizes and shorter phases (about 3 minutes in all)
 *   --smoke        tiny sizes: checks every scenario runs (well under a minute)
 *   --out DIR      where result JSON files go (default bench/results)
 *   --work DIR     scratch folder (default bench/.work)
 *   --keep         keep scratch files for inspection
 *
 * A scenario that names Node flags (Scenario.nodeFlags) runs in a child
 * runner started with them and the programs' environment (PROGRAM_ENV), which
 * writes its JSON and nothing else.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { programEnv } from '../core/node-flags.js';
import { ScenarioContext } from './lib/context.js';
import { AGENT_CLI, RESULTS_DIR, RESULTS_MD, WORK_DIR } from './lib/paths.js';
import { machineInfo, rowOf, targetsOf, textTable, versions, writeResult, type Mode, type ScenarioResult } from './lib/report.js';
import { writeResultsMd } from './lib/results-md.js';
import type { Scenario } from './lib/scenario.js';
import { capture } from './scenarios/capture.js';
import { cost } from './scenarios/cost.js';
import { fanIn } from './scenarios/fan-in.js';
import { lag } from './scenarios/lag.js';
import { memory } from './scenarios/memory.js';
import { overhead } from './scenarios/overhead.js';
import { replayScenario } from './scenarios/replay.js';
import { restore } from './scenarios/restore.js';

/** Every scenario, in the order they run. */
export const SCENARIOS: readonly Scenario[] = [capture, restore, replayScenario, lag, overhead, memory, cost, fanIn];

const USAGE = `Usage: node dist/bench/run.js [--quick | --smoke] [--out DIR] [--work DIR] [--keep] [scenario ...]

Scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}
${SCENARIOS.map((s) => `  ${s.name.padEnd(9)} ${s.summary}`).join('\n')}`;

let current: ScenarioContext | null = null;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      quick: { type: 'boolean', default: false },
      smoke: { type: 'boolean', default: false },
      out: { type: 'string' },
      work: { type: 'string' },
      keep: { type: 'boolean', default: false },
      child: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.quick && values.smoke) {
    console.error('give --quick or --smoke, not both');
    return 2;
  }
  const mode: Mode = values.smoke ? 'smoke' : values.quick ? 'quick' : 'full';
  const unknown = positionals.filter((p) => !SCENARIOS.some((s) => s.name === p));
  if (unknown.length) {
    console.error(`unknown scenario(s): ${unknown.join(', ')}\n\n${USAGE}`);
    return 2;
  }
  if (!existsSync(AGENT_CLI)) {
    console.error(`${AGENT_CLI} is missing: build first (npm run bench builds)`);
    return 2;
  }
  const chosen = positionals.length ? SCENARIOS.filter((s) => positionals.includes(s.name)) : SCENARIOS;
  const outDir = values.out ?? RESULTS_DIR;
  const workRoot = values.work ?? WORK_DIR;
  const machine = machineInfo();
  const vers = versions();
  process.stderr.write(`walcast bench (${mode}): ${chosen.map((s) => s.name).join(', ')}\n`);
  process.stderr.write(`machine: ${machine.cpus} × ${machine.model}, ${machine.memGiB} GiB; walcast ${vers.walcast}, SQLite ${vers.sqlite}, Litestream ${vers.litestream}\n`);

  const results: ScenarioResult[] = [];
  const started = Date.now();
  /** Writes a scenario's result JSON and keeps it for the table; returns where it went. */
  const record = (s: Scenario, t0: number, r: Pick<ScenarioResult, 'params' | 'figures' | 'notes' | 'error'>): string => {
    const result: ScenarioResult = {
      scenario: s.name,
      mode,
      date: new Date().toISOString(),
      durationS: Math.round((Date.now() - t0) / 100) / 10,
      machine,
      versions: vers,
      params: r.params,
      figures: r.figures,
      targets: targetsOf(r.figures),
      notes: r.notes,
      ...(r.error ? { error: r.error } : {}),
    };
    results.push(result);
    return writeResult(outDir, result);
  };
  for (const s of chosen) {
    const t0 = Date.now();
    const flags = s.nodeFlags ?? [];
    if (!values.child && flags.length) {
      const fromChild = await runInChild(s, flags, mode, outDir, workRoot, values.keep!);
      if (fromChild.result) results.push(fromChild.result);
      else record(s, t0, { params: {}, figures: [], notes: [], error: fromChild.error }); // it died before writing its JSON
      continue;
    }
    const ctx = new ScenarioContext(s.name, mode, join(workRoot, s.name));
    current = ctx;
    let figures: ScenarioResult['figures'] = [];
    let error: string | undefined;
    try {
      figures = await s.run(ctx);
    } catch (err) {
      error = (err as Error).stack ?? String(err);
      ctx.log(`FAILED: ${error}`);
    } finally {
      await ctx.cleanup(values.keep);
      current = null;
    }
    const path = record(s, t0, { params: ctx.params, figures, notes: ctx.notes, ...(error ? { error } : {}) });
    ctx.log(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s → ${path}`);
  }
  if (!values.keep && !values.work) rmSync(workRoot, { recursive: true, force: true });
  if (values.child) return results.some((r) => r.error) ? 1 : 0;

  const rows = results.flatMap((r) => (r.error ? [[r.scenario, 'FAILED (see JSON)', '', '', '', '', '']] : r.figures.map((f) => rowOf(r.scenario, f))));
  console.log(`\nwalcast bench, ${mode} mode, ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  console.log(textTable(rows));
  const missed = results.flatMap((r) => r.targets.filter((t) => t.met === false).map((t) => `${r.scenario}: ${t.label}`));
  console.log(`\ntargets: ${results.reduce((n, r) => n + r.targets.length, 0)}, missed: ${missed.length}${missed.length ? `\n  ${missed.join('\n  ')}` : ''}`);
  if (mode === 'full' && outDir === RESULTS_DIR) {
    writeResultsMd(outDir, RESULTS_MD, SCENARIOS.map((s) => s.name));
    console.log(`\nwrote ${RESULTS_MD}`);
  }
  return results.some((r) => r.error) ? 1 : 0;
}

/** Runs one scenario in a child runner started with `flags`; returns the result it wrote, or why there is none. */
async function runInChild(s: Scenario, flags: readonly string[], mode: Mode, outDir: string, workRoot: string, keep: boolean): Promise<{ result?: ScenarioResult; error?: string }> {
  const args = [...flags, fileURLToPath(import.meta.url), '--child', '--out', outDir, '--work', workRoot, ...(mode === 'full' ? [] : [`--${mode}`]), ...(keep ? ['--keep'] : []), s.name];
  process.stderr.write(`[${s.name}] in a child process: node ${flags.join(' ')}\n`);
  const path = join(outDir, `${s.name}.json`);
  rmSync(path, { force: true });
  const child = spawn(process.execPath, args, { stdio: 'inherit', env: programEnv() });
  const code = await new Promise<number | null>((resolve) => {
    child.on('exit', (c) => resolve(c));
    child.on('error', () => resolve(null));
  });
  if (!existsSync(path)) return { error: `the child runner exited (${code}) without writing ${path}` };
  return { result: JSON.parse(readFileSync(path, 'utf8')) as ScenarioResult };
}

// A Ctrl-C must not leave agents, Litestream or writers running.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    void (current?.cleanup() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
