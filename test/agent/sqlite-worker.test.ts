/**
 * The agent's SQLite worker against another process's checkpoint. The
 * application's autocheckpoint runs after its commit, outside any write
 * lock, so the agent's write barrier can begin while that checkpoint still
 * holds the checkpoint lock; the agent's PASSIVE checkpoint then waits for
 * it (up to the time it is given) instead of giving up at once.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { SqliteHost } from '../../agent/sqlite-host.js';
import { sleep } from '../helpers/agent.js';
import { createWalDb } from '../helpers/sqlite.js';
import { tempDir } from '../helpers/tmp.js';
import { pythonAsync } from '../helpers/writers.js';

const test = suite('sqlite worker');

test('a PASSIVE checkpoint waits for a checkpoint lock held by another process, for as long as it is given', async () => {
  const dir = tempDir('ckpt-lock');
  const path = join(dir, 'app.db');
  const app = createWalDb(path);
  app.exec('CREATE TABLE t(v); INSERT INTO t VALUES (randomblob(100000));');
  const host = new SqliteHost();
  const { handle } = await host.open(path, 100);
  assert.ok(handle, 'opened in WAL mode');
  // The application takes the write lock; another process's FULL checkpoint then
  // holds the checkpoint lock while it waits for the write lock. (It tries again
  // while the probe below holds the lock.)
  app.exec('BEGIN IMMEDIATE');
  const other = pythonAsync(path, 'checkpoint-retry', 'FULL');
  other.catch(() => {}); // awaited below; a failure before then must not go unhandled
  try {
    let held = null;
    for (const until = Date.now() + 10_000; Date.now() < until; await sleep(20)) {
      const r = await handle.checkpoint('PASSIVE', 0);
      if (r.busy && r.log === -1) {
        held = r;
        break;
      }
    }
    assert.ok(held, 'the other checkpoint holds the lock, and a PASSIVE given no time reports it busy at once');
    // Given too little time, it still gives up, and says so.
    const short = await handle.checkpoint('PASSIVE', 50);
    assert.is(short.busy, 1, 'busy while the lock is held');
    assert.is(short.log, -1);
    assert.ok(short.ms >= 45, `it waited the 50 ms it was given (${short.ms.toFixed(1)} ms)`);
    // Given enough, it runs once the other checkpoint is done.
    const releaseAfterMs = 300;
    const waited = handle.checkpoint('PASSIVE', 10_000);
    await sleep(releaseAfterMs);
    app.exec('ROLLBACK');
    const r = await waited;
    const otherResult = await other;
    assert.is(r.busy, 0, `the checkpoint ran (${JSON.stringify(r)})`);
    assert.ok(r.log > 0 && r.checkpointed === r.log, `the whole WAL is in the database (${JSON.stringify(r)})`);
    assert.ok(r.ms >= releaseAfterMs - 50, `it waited for the lock (${r.ms.toFixed(0)} ms)`);
    assert.match(otherResult, /^\(0, \d+, \d+\)/, `the other checkpoint ran too (${otherResult.trim()})`);
  } finally {
    if (app.inTransaction) app.exec('ROLLBACK');
    await other.catch(() => {});
    await handle.close();
    await host.close();
    app.close();
  }
});

test.run();
