/**
 * Writer fencing: a second agent pointed at the same database name in the
 * same destination refuses to start and names the holder; the holder itself
 * restarts after a crash without trouble; a clean stop releases the lock.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentProcess, agentCli, writeConfig } from '../helpers/agent.js';
import { sqliteCli } from '../helpers/sqlite.js';
import { tempDir } from '../helpers/tmp.js';

const test = suite('fence');

test('a second agent on the same destination refuses and names the holder', async () => {
  const dir = tempDir('fence');
  const db = join(dir, 'app.db');
  sqliteCli(db, 'PRAGMA journal_mode=WAL; CREATE TABLE t(x);\n');
  const config = writeConfig(dir);
  // The second agent: its own staging (another host, say), same database name and destination.
  const cfg2 = JSON.parse(readFileSync(config, 'utf8'));
  cfg2.stagingDir = join(dir, 'staging-2');
  const config2 = join(dir, 'second.json');
  writeFileSync(config2, JSON.stringify(cfg2));

  const first = await AgentProcess.start(config);
  const lock = join(dir, 'replica', 'app', 'lock.json');
  assert.ok(existsSync(lock));
  const second = agentCli(['--config', config2, '--once']);
  assert.is(second.code, 1);
  assert.match(second.stderr, /held by another agent \(host .*, pid \d+, staging .*staging\/app/);
  assert.match(second.stderr, /Try: run one agent per database per destination/);
  assert.is(JSON.parse(readFileSync(lock, 'utf8')).pid, first.child.pid, 'the lock still names the first agent');

  // The holder itself comes back after a crash.
  await first.kill();
  const again = await AgentProcess.start(config);
  sqliteCli(db, 'PRAGMA busy_timeout=5000; INSERT INTO t VALUES (1);\n');
  assert.is(await again.stop(), 0);
  assert.not.ok(existsSync(lock), 'a clean stop releases the lock');
  const third = agentCli(['--config', config2, '--once']);
  assert.is(third.code, 0, `after a clean stop another agent may take over: ${third.stderr}`);
});

test.run();
