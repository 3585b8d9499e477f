/**
 * The bench suite in smoke mode: every scenario starts, measures something
 * beside its baseline, and writes a result JSON with the documented fields.
 * Figures and targets are not judged here: benchmarks never decide whether
 * CI is green.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/tmp.js';

const RUNNER = fileURLToPath(new URL('../../bench/run.js', import.meta.url));
const SCENARIOS = ['capture', 'restore', 'replay', 'lag', 'overhead', 'memory', 'cost', 'fan-in'];

const test = suite('bench smoke');

/** Runs the bench runner in smoke mode; resolves with its exit code and output. */
function runSmoke(out: string, work: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [RUNNER, '--smoke', '--out', out, '--work', work], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), 240_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

test('every scenario runs in smoke mode and writes a result JSON with the expected fields', async () => {
  const out = tempDir('bench-out');
  const work = tempDir('bench-work');
  const { code, output } = await runSmoke(out, work);
  assert.ok(code === 0, `bench runner exited with ${code}:\n${output}`);
  assert.match(output, /scenario\s+figure\s+walcast\s+baseline\s+ratio\s+target\s+met\?/, 'prints the figure table');
  assert.equal(readdirSync(out).sort(), SCENARIOS.map((s) => `${s}.json`).sort(), 'one JSON per scenario');
  assert.equal(readdirSync(work), [], 'scratch files are cleaned up');

  for (const s of SCENARIOS) {
    const r = JSON.parse(readFileSync(join(out, `${s}.json`), 'utf8')) as Record<string, unknown>;
    assert.is(r.scenario, s);
    assert.is(r.mode, 'smoke');
    assert.ok(!Number.isNaN(Date.parse(r.date as string)), `${s}: date is ISO-8601`);
    assert.is(r.error, undefined, `${s} failed: ${String(r.error)}`);
    const machine = r.machine as Record<string, unknown>;
    for (const k of ['cpus', 'model', 'memGiB', 'node', 'platform']) assert.ok(machine[k] !== undefined, `${s}: machine.${k}`);
    const versions = r.versions as Record<string, string>;
    for (const k of ['walcast', 'sqlite', 'litestream']) assert.type(versions[k], 'string', `${s}: versions.${k}`);
    assert.type(r.params, 'object', `${s}: params`);
    assert.ok(Array.isArray(r.notes), `${s}: notes`);
    const figures = r.figures as Record<string, unknown>[];
    assert.ok(Array.isArray(figures) && figures.length > 0, `${s}: has figures`);
    for (const f of figures) {
      for (const k of ['id', 'label', 'unit', 'walcast', 'baseline', 'baselineName', 'ratio', 'better', 'target', 'met']) assert.ok(k in f, `${s}: figure ${String(f.id)} has ${k}`);
      assert.type(f.walcast, 'number', `${s}: figure ${String(f.id)} measured a value`);
    }
    assert.ok(figures.some((f) => typeof f.baseline === 'number' && typeof f.ratio === 'number'), `${s}: at least one figure beside its baseline`);
    const targets = r.targets as Record<string, unknown>[];
    assert.ok(Array.isArray(targets), `${s}: targets`);
    for (const t of targets) for (const k of ['figure', 'target', 'met']) assert.ok(k in t, `${s}: target has ${k}`);
  }
});

test.run();
