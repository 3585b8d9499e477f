/**
 * Test runner: runs every compiled `*.test.js` under dist/test in its own
 * process (uvu suites run when their file is executed), a few at a time, and
 * fails if any file fails or runs past its time limit.
 *
 *   node dist/test/run.js [substring ...]     run the files whose path contains a substring
 *   WALCAST_TEST_JOBS=1                       run one file at a time
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));
const jobs = Math.max(1, Number(process.env.WALCAST_TEST_JOBS ?? 2));
const limitMs = Number(process.env.WALCAST_TEST_FILE_TIMEOUT_MS ?? 600_000);
const filters = process.argv.slice(2);

function find(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return find(p);
    return name.endsWith('.test.js') ? [p] : [];
  });
}

// Longest files first (measured), so the lanes finish close together.
const SLOW = ['fan-out', 'destinations', 'outage', 'bench/smoke', 'round-trip', 'crash', 'hazards', 'observability', 'tamper'];
const weight = (f: string): number => {
  const i = SLOW.findIndex((s) => f.includes(s));
  return i < 0 ? SLOW.length : i;
};
const files = find(root)
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort((a, b) => weight(a) - weight(b) || a.localeCompare(b));

interface Outcome {
  file: string;
  ok: boolean;
  ms: number;
  output: string;
}

/**
 * True when uvu's summary says every test ran and passed. uvu exits 0 when a
 * suite's before hook throws: it prints no error and counts none of the
 * suite's tests as passed.
 */
function allRan(output: string): boolean {
  const total = /^\s*Total:\s+(\d+)/m.exec(output);
  const passed = /^\s*Passed:\s+(\d+)/m.exec(output);
  return total !== null && passed !== null && Number(total[1]) > 0 && total[1] === passed[1];
}

function runFile(file: string): Promise<Outcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => {
      output += `\n[run] ${relative(root, file)} exceeded ${limitMs} ms; killed\n`;
      child.kill('SIGKILL');
    }, limitMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const counted = allRan(output);
      if (code === 0 && !counted) output += `\n[run] ${relative(root, file)} exited 0, but not every test passed (a failing before hook ends uvu's suite silently)\n`;
      resolve({ file, ok: code === 0 && signal === null && counted, ms: Date.now() - started, output });
    });
  });
}

async function main(): Promise<void> {
  if (files.length === 0) {
    console.error('no test files matched');
    process.exit(1);
  }
  const queue = [...files];
  const outcomes: Outcome[] = [];
  const started = Date.now();
  await Promise.all(
    Array.from({ length: Math.min(jobs, queue.length) }, async () => {
      for (let f = queue.shift(); f; f = queue.shift()) {
        const o = await runFile(f);
        outcomes.push(o);
        const name = relative(root, o.file);
        console.log(`${o.ok ? 'ok  ' : 'FAIL'} ${name} (${(o.ms / 1000).toFixed(1)} s)`);
        if (!o.ok || process.env.WALCAST_TEST_VERBOSE) console.log(o.output.replace(/^/gm, '    '));
      }
    }),
  );
  const failed = outcomes.filter((o) => !o.ok);
  console.log(`\n${outcomes.length - failed.length}/${outcomes.length} test files passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  for (const f of failed) console.log(`  failed: ${relative(root, f.file)}`);
  process.exit(failed.length ? 1 : 0);
}

void main();
