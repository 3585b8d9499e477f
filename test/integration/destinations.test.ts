/**
 * Remote destinations misbehaving: slow, mid-upload crashes, bad credentials,
 * a missing bucket, an unreachable endpoint, a second agent, an idle
 * database; and secrets staying out of every output.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { AgentProcess, agentCli, cliAsync, restoreCli, sleep, writeConfig } from '../helpers/agent.js';
import { assertSameDatabase, filesUnder, restoreOk } from '../helpers/backups.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { freePort } from '../helpers/prometheus.js';
import { AZURITE_ACCOUNT, s3DestinationConfig, startAzurite, startS3rver, type AzuriteHandle, type S3rverHandle } from '../helpers/servers.js';
import { logicalHash, pageExactImage, sqliteCli } from '../helpers/sqlite.js';
import { tempDir } from '../helpers/tmp.js';
import { nodeWriter, SeqWriter } from '../helpers/writers.js';

const test = suite('destinations');
let t0 = 0;
test.before.each(() => {
  t0 = Date.now();
});
test.after.each(() => {
  console.log(`  (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
});
let s3: S3rverHandle;
let azure: AzuriteHandle;
let run = 0;

test.before(async () => {
  [s3, azure] = await Promise.all([startS3rver(), startAzurite()]);
});
test.after(async () => {
  await Promise.all([s3?.stop(), azure?.stop()]);
});

function newDb(label: string): { dir: string; db: string } {
  const dir = tempDir(label);
  const db = join(dir, 'app.db');
  sqliteCli(db, 'PRAGMA journal_mode=WAL; CREATE TABLE seq(id INTEGER PRIMARY KEY, v TEXT NOT NULL);\n');
  return { dir, db };
}

/** An S3 destination reached through `proxy`, under its own prefix. */
function viaProxy(proxy: TestProxy, name = 's3', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...s3DestinationConfig({ endpoint: `http://127.0.0.1:${proxy.port}`, bucket: s3.bucket }, name, `run${++run}`), ...extra };
}

async function metricsOf(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

function lagOf(text: string, dest: string): number {
  const m = new RegExp(`^walcast_replication_lag_seconds\\{db="app",destination="${dest}"\\} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

test('a slow destination lags while the others stay current, and recovers when it speeds up', async () => {
  const { dir, db } = newDb('slow');
  const proxy = await startProxy(s3.port);
  const config = writeConfig(dir, {
    destinations: [{ name: 'local', type: 'file', path: join(dir, 'replica') }, viaProxy(proxy)],
    overrides: { metrics: { listen: '127.0.0.1:0' } },
  });
  const agent = await AgentProcess.start(config);
  const port = Number((await agent.waitFor((l) => l.msg === 'metrics and health listening')).port);
  const writer = SeqWriter.start(db, 1_000_000, 10);
  try {
    await sleep(1500);
    proxy.delayMs = 700;
    await sleep(8000);
    const slow = await metricsOf(port);
    assert.ok(lagOf(slow, 's3') > 3, `S3 lags behind (${lagOf(slow, 's3')} s)`);
    assert.ok(lagOf(slow, 'local') < 1.5, `the file destination is unaffected (${lagOf(slow, 'local')} s)`);
    proxy.delayMs = 0;
    const from = Date.now();
    while (lagOf(await metricsOf(port), 's3') >= 1.5) {
      assert.ok(Date.now() - from < 30_000, 'S3 recovers once the delay ends');
      await sleep(500);
    }
  } finally {
    await writer.stop();
    assert.is(await agent.stop(), 0);
    await proxy.close();
  }
});

test('SIGKILL during a multipart snapshot upload leaves nothing restorable behind; the next run finishes it', async () => {
  const { dir, db } = newDb('multipart');
  nodeWriter(db, ['bulk', '25'], { WRITER_AUTOCHECKPOINT: '1000' });
  const proxy = await startProxy(s3.port);
  proxy.delayMs = 15;
  const config = writeConfig(dir, { destinations: [viaProxy(proxy, 's3', { partSizeBytes: 5 << 20 })] });
  const agents: AgentProcess[] = [];
  try {
    const agent = await AgentProcess.start(config);
    agents.push(agent);
    for (let i = 0; (proxy.requests.PUT ?? 0) < 3; i++) {
      assert.ok(i < 600, `a multipart upload starts (requests: ${JSON.stringify(proxy.requests)})`);
      await sleep(50);
    }
    assert.ok((proxy.requests.POST ?? 0) >= 1, 'the snapshot goes up in parts');
    await agent.kill();
    proxy.delayMs = 0;
    const out = join(dir, 'out.db');
    const r = await cliAsync('restore', ['restore', '--config', config, '--output', out]);
    assert.is(r.code, 1, 'nothing complete to restore yet');
    assert.match(r.stderr, /no restorable backup/, r.stderr);
    const v = await cliAsync('restore', ['verify', '--config', config]);
    assert.is.not(v.code, 0, 'verify accepts nothing as complete');
    const again = await AgentProcess.start(config);
    agents.push(again);
    await again.waitFor((l) => l.msg === 'uploaded' && String(l.object).endsWith('.snap'), 60_000);
    assert.is(await again.stop(), 0);
    const live = pageExactImage(db);
    const done = await cliAsync('restore', ['restore', '--config', config, '--output', out]);
    assert.is(done.code, 0, done.stderr);
    assertSameDatabase(out, { sha256: live.sha256, logical: logicalHash(live.path) }, 'restore after the redone upload');
  } finally {
    for (const a of agents) await a.kill().catch(() => {});
    await proxy.close();
  }
});

test('wrong credentials, a missing bucket and an unreachable endpoint fail distinctly, and the other destination keeps going', async () => {
  const { dir, db } = newDb('badremote');
  const secret = 'wrong-secret-Hq7Z2m';
  const closed = await freePort();
  const base = (name: string) => s3DestinationConfig(s3, name, `run${++run}`);
  const config = writeConfig(dir, {
    destinations: [
      { name: 'local', type: 'file', path: join(dir, 'replica') },
      { ...base('badkey'), accessKeyId: 'NOT-A-KEY', secretAccessKey: secret },
      { ...base('nobucket'), bucket: 'no-such-bucket' },
      { ...base('unreachable'), endpoint: `http://127.0.0.1:${closed}` },
    ],
    overrides: { metrics: { listen: '127.0.0.1:0' } },
  });
  const agent = await AgentProcess.start(config);
  const port = Number((await agent.waitFor((l) => l.msg === 'metrics and health listening')).port);
  for (let i = 0; i < 10; i++) {
    sqliteCli(db, `PRAGMA busy_timeout=5000; INSERT INTO seq(v) VALUES ('row ${i}');\n`);
    await sleep(150);
  }
  const failures = await Promise.all(
    ['badkey', 'nobucket', 'unreachable'].map((d) => agent.waitFor((l) => l.msg?.startsWith('upload failed') === true && l.destination === d, 20_000)),
  );
  assert.equal(failures.map((f) => f.reason), ['auth', 'no-bucket', 'network']);
  for (const f of failures) assert.ok(typeof f.hint === 'string' && (f.hint as string).length > 10, `a hint for ${f.destination}`);
  const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { failing: { condition: string; destination?: string }[] };
  assert.equal(health.failing.filter((c) => c.condition === 'destination_failing').map((c) => c.destination).sort(), ['badkey', 'nobucket', 'unreachable']);
  assert.ok(lagOf(await metricsOf(port), 'local') < 1.5, 'the file destination is current');
  assert.is(await agent.stop(), 0);
  const live = pageExactImage(db);
  const out = join(dir, 'out.db');
  restoreOk(config, out, '--destination', 'local');
  assertSameDatabase(out, { sha256: live.sha256, logical: logicalHash(live.path) }, 'the file destination has everything');
  assert.not.ok(agent.stderr.includes(secret) || agent.logs.some((l) => JSON.stringify(l).includes(secret)), 'the secret is never printed');
});

test('a second agent on the same S3 destination refuses and names the holder', async () => {
  const { dir } = newDb('twoagents');
  const dest = s3DestinationConfig(s3, 's3', `run${++run}`);
  const config = writeConfig(dir, { destinations: [dest] });
  const second = join(dir, 'second.json');
  const cfg = JSON.parse(readFileSync(config, 'utf8'));
  cfg.stagingDir = join(dir, 'other-staging');
  writeFileSync(second, JSON.stringify(cfg));
  const first = await AgentProcess.start(config);
  const r = agentCli(['--config', second, '--once']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /held by another agent \(host .*, pid \d+/);
  assert.is(await first.stop(), 0);
});

test('an idle database causes zero object writes for 30 s', async () => {
  const { dir, db } = newDb('idle');
  const proxy = await startProxy(s3.port);
  const config = writeConfig(dir, { destinations: [{ name: 'local', type: 'file', path: join(dir, 'replica') }, viaProxy(proxy)] });
  const agent = await AgentProcess.start(config);
  try {
    sqliteCli(db, "PRAGMA busy_timeout=5000; INSERT INTO seq(v) VALUES ('before idle');\n");
    await sleep(2000);
    const writes = () => (proxy.requests.PUT ?? 0) + (proxy.requests.POST ?? 0) + (proxy.requests.DELETE ?? 0);
    const before = writes();
    const files = filesUnder(join(dir, 'replica')).length;
    assert.ok(before > 0, 'writes are counted');
    await sleep(Number(process.env.WALCAST_IDLE_MS ?? 30_000));
    assert.is(writes(), before, `object writes while idle: ${JSON.stringify(proxy.requests)}`);
    assert.is(filesUnder(join(dir, 'replica')).length, files, 'no new files in the folder destination');
    const shipped = agent.waitForNew((l) => l.msg === 'uploaded' && l.destination === 's3' && String(l.object).endsWith('.seg'), 10_000);
    sqliteCli(db, "PRAGMA busy_timeout=5000; INSERT INTO seq(v) VALUES ('after idle');\n");
    await shipped;
    assert.ok(writes() > before, 'a commit after the idle spell ships');
    assert.is(await agent.stop(), 0);
  } finally {
    await agent.kill().catch(() => {});
    await proxy.close();
  }
});

test('no secret reaches logs, errors, metrics or health output', async () => {
  const { dir, db } = newDb('secrets');
  const s3Secret = 's3-secret-Vb81xQp';
  const azureKey = Buffer.from('azure-account-key-Lm42Rt-padding-to-length').toString('base64');
  const hookToken = 'hook-token-9dFk2';
  const config = writeConfig(dir, {
    destinations: [
      { name: 'local', type: 'file', path: join(dir, 'replica') },
      { ...s3DestinationConfig(s3, 's3', `run${++run}`), secretAccessKey: s3Secret },
      { name: 'azure', type: 'azure', container: 'nope', accountName: AZURITE_ACCOUNT, accountKey: azureKey, endpoint: azure.endpoint },
    ],
    overrides: {
      metrics: { listen: '127.0.0.1:0' },
      notifications: { webhooks: [{ url: `http://127.0.0.1:9/hook?token=${hookToken}` }] },
    },
  });
  const key = readFileSync(join(dir, 'test.key'), 'utf8').trim();
  const keyHex = Buffer.from(key, 'base64').toString('hex');
  const agent = await AgentProcess.start(config, { env: { WALCAST_LOG_LEVEL: 'trace' } });
  const port = Number((await agent.waitFor((l) => l.msg === 'metrics and health listening')).port);
  sqliteCli(db, "PRAGMA busy_timeout=5000; INSERT INTO seq(v) VALUES ('x');\n");
  await agent.waitFor((l) => l.msg?.startsWith('upload failed') === true && l.destination === 'azure', 20_000);
  await sleep(1500);
  const outputs = [await metricsOf(port), await (await fetch(`http://127.0.0.1:${port}/healthz`)).text()];
  assert.is(await agent.stop(), 0);
  outputs.push(agent.stderr, agent.logs.map((l) => JSON.stringify(l)).join('\n'));
  const list = restoreCli('list', '--config', config);
  const verify = restoreCli('verify', '--config', config);
  outputs.push(list.stdout, list.stderr, verify.stdout, verify.stderr);
  const all = outputs.join('\n');
  assert.ok(all.includes('azure') && all.length > 1000, 'there is output to search');
  for (const [what, s] of [['S3 secret', s3Secret], ['Azure account key', azureKey], ['webhook token', hookToken], ['encryption key', key], ['encryption key (hex)', keyHex]] as const) {
    assert.not.ok(all.includes(s), `the ${what} appears in the output`);
  }
  assert.equal(readdirSync(dir).filter((f) => f.includes(s3Secret)), []);
});

test.run();
