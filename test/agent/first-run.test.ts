/**
 * The README's first run: the shipped agent.config.json with --init creates a
 * key and a demo database, backs it up, and the backup restores. A missing key
 * is never silently replaced once backups exist.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { agentCli, restoreCli } from '../helpers/agent.js';
import { sqliteCli } from '../helpers/sqlite.js';
import { tempDir } from '../helpers/tmp.js';

const test = suite('first run');
const shipped = fileURLToPath(new URL('../../../agent.config.json', import.meta.url));
const repo = fileURLToPath(new URL('../../../', import.meta.url));

test("the README's commands run the built bins: npx walcast-agent and npx walcast-restore", () => {
  for (const bin of ['walcast-agent', 'walcast-restore']) {
    const r = spawnSync('npx', ['--no-install', bin, '--help'], { cwd: repo, encoding: 'utf8', timeout: 60_000 });
    assert.is(r.status, 0, `${bin}: ${r.stderr}`);
    assert.match(r.stdout, /Usage|usage/);
  }
});

test('the shipped config with --init creates a key and a demo database and backs it up', () => {
  const dir = tempDir('first');
  const config = join(dir, 'agent.config.json');
  copyFileSync(shipped, config);
  const r = agentCli(['--config', config, '--init', '--once']);
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.ok(existsSync(join(dir, 'walcast.key')));
  assert.is(statSync(join(dir, 'walcast.key')).mode & 0o777, 0o600, 'the key is readable by its owner only');
  assert.match(r.stdout, /created a new encryption key/);
  const out = join(dir, 'restored.db');
  const res = restoreCli('restore', '--config', config, '--output', out);
  assert.is(res.code, 0, res.stderr);
  assert.is(sqliteCli(out, 'SELECT count(*) FROM notes;\n').trim(), '2');
  // Losing the key later must not lead to a new one silently taking its place.
  rmSync(join(dir, 'walcast.key'));
  const again = agentCli(['--config', config, '--init', '--once']);
  assert.is(again.code, 1);
  assert.match(again.stderr, /key file .*walcast\.key.* is missing, but destination "local" already holds backups/);
  assert.not.ok(existsSync(join(dir, 'walcast.key')));
});

test.run();
