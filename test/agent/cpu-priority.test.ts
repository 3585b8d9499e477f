/**
 * The agent yields the CPU to the application: every thread of a running
 * agent (main, V8's and libuv's helpers, the SQLite worker) runs at the
 * configured nice value, and by default (`cpuNice: 0`) the threads keep the
 * nice value they started with.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import { AgentProcess, writeConfig } from '../helpers/agent.js';
import { sqliteCli } from '../helpers/sqlite.js';
import { tempDir } from '../helpers/tmp.js';

const test = suite('cpu priority');

/** Nice value of each thread of `pid` (field 19 of /proc/PID/task/TID/stat). */
function threadNices(pid: number): number[] {
  const out: number[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended
    }
    // The name in parentheses may hold spaces: count fields after it (state is field 3).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.push(Number(fields[19 - 3]));
  }
  return out;
}

/** Starts an agent on a fresh database, waits until it has shipped a segment (all its threads are up), and returns its threads' nice values. */
async function nicesOfRunningAgent(overrides: Record<string, unknown>): Promise<number[]> {
  const dir = tempDir('nice');
  const db = join(dir, 'app.db');
  sqliteCli(db, 'PRAGMA journal_mode=WAL; CREATE TABLE t(v);\n');
  const agent = await AgentProcess.start(writeConfig(dir, { overrides }));
  try {
    sqliteCli(db, "INSERT INTO t VALUES ('x');\n");
    await agent.waitFor((l) => l.msg === 'uploaded' && String(l.object).endsWith('.seg'));
    const nices = threadNices(agent.child.pid!);
    assert.ok(nices.length >= 5, `an agent runs several threads (${nices.length})`);
    assert.is(await agent.stop(), 0);
    return nices;
  } finally {
    if (agent.child.exitCode === null) await agent.kill();
  }
}

test('every thread of the agent runs at cpuNice', async () => {
  const expected = Math.max(10, getPriority());
  const nices = await nicesOfRunningAgent({ cpuNice: 10 });
  assert.equal(nices.filter((n) => n !== expected), [], `all ${nices.length} threads at nice ${expected}`);
});

test('by default the threads keep the nice value they started with', async () => {
  const nices = await nicesOfRunningAgent({});
  assert.equal(nices.filter((n) => n !== getPriority()), []);
});

test.run();
