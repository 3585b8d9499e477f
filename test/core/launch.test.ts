/**
 * Every way the two programs are started carries the same Node flags and
 * environment (core/node-flags.ts; the restore tool's has two more
 * variables): the built shebang lines, `npm start`,
 * the systemd unit; and a program started by its shebang really runs with
 * them.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AGENT_NODE_FLAGS, PROGRAM_ENV, RESTORE_ENV, RESTORE_NODE_FLAGS } from '../../core/node-flags.js';

const test = suite('launch');
const repo = (p: string): string => fileURLToPath(new URL(`../../../${p}`, import.meta.url));
const words = (env: Readonly<Record<string, string>>): string[] => Object.entries(env).map(([k, v]) => `${k}=${v}`);
const envWords = words(PROGRAM_ENV);

test('the built programs start with the flags and environment of node-flags.ts', () => {
  for (const [cli, env, flags] of [
    ['dist/agent/cli.js', PROGRAM_ENV, AGENT_NODE_FLAGS],
    ['dist/restore-tool/cli.js', RESTORE_ENV, RESTORE_NODE_FLAGS],
  ] as const) {
    const first = readFileSync(repo(cli), 'utf8').split('\n')[0];
    assert.is(first, `#!/usr/bin/env -S ${[...words(env), 'node', ...flags].join(' ')}`, cli);
  }
});

test('npm start and the systemd unit start the agent the same way', () => {
  const start = (JSON.parse(readFileSync(repo('package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  assert.ok(start.includes(`${[...envWords, 'node', ...AGENT_NODE_FLAGS].join(' ')} dist/agent/cli.js`), start);
  const unit = readFileSync(repo('ops/systemd/walcast-agent.service'), 'utf8');
  for (const w of envWords) assert.ok(unit.includes(`\nEnvironment=${w}\n`), `unit lacks Environment=${w}`);
  assert.ok(unit.includes(`ExecStart=/usr/bin/node ${AGENT_NODE_FLAGS.join(' ')} /opt/walcast/dist/agent/cli.js`), 'unit ExecStart');
});

test('a program started by its shebang has the environment', () => {
  // The restore tool's help is printed by the process the shebang started; ask it for its environment instead.
  const names = JSON.stringify(Object.keys(RESTORE_ENV));
  const report = `console.log(JSON.stringify({ env: Object.fromEntries(${names}.map((k) => [k, process.env[k]])), argv: process.execArgv }))`;
  const r = spawnSync(repo('dist/restore-tool/cli.js'), ['--help'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: `--import=data:text/javascript,${encodeURIComponent(report)}` } });
  assert.is(r.status, 0, r.stderr);
  const seen = JSON.parse(r.stdout.split('\n')[0]!) as { env: Record<string, string>; argv: string[] };
  assert.equal(seen.env, { ...RESTORE_ENV });
  for (const f of RESTORE_NODE_FLAGS) assert.ok(seen.argv.includes(f), `execArgv ${seen.argv.join(' ')}`);
});

test.run();
