/**
 * Observability against real parts: Debian's Prometheus scrapes a running
 * agent under write load; every query of the shipped Grafana dashboard must
 * return data; the shipped alert rules pass promtool and fire when a
 * destination fails; lag grows in step with wall time while a destination is
 * blocked and returns to ~0; /healthz turns 503 and back; webhooks receive the
 * failure and the recovery while a hanging webhook does not slow capture.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentProcess, sleep, writeConfig } from '../helpers/agent.js';
import { promtool, startPrometheus } from '../helpers/prometheus.js';
import { sqliteCli } from '../helpers/sqlite.js';
import { tempDir } from '../helpers/tmp.js';
import { SeqWriter } from '../helpers/writers.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { s3DestinationConfig, startS3rver, type S3rverHandle } from '../helpers/servers.js';

const test = suite('observability');
let s3: S3rverHandle;
let runs = 0;
test.before(async () => {
  s3 = await startS3rver();
});
test.after(async () => {
  await s3?.stop();
});

/** An S3 destination named "remote" behind a proxy the test can cut. */
function remote(proxy: TestProxy): Record<string, unknown> {
  return s3DestinationConfig({ endpoint: `http://127.0.0.1:${proxy.port}`, bucket: s3.bucket }, 'remote', `obs${++runs}`);
}
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const DASHBOARD = join(repo, 'ops/grafana/walcast-dashboard.json');
const RULES = join(repo, 'ops/prometheus/walcast-alerts.yml');

interface Received {
  body: Record<string, string>;
}

/** A webhook receiver; `hang` never answers. */
function webhook(hang = false): Promise<{ server: Server; url: string; got: Received[] }> {
  const got: Received[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let b = '';
    req.on('data', (d) => (b += d));
    req.on('end', () => {
      got.push({ body: JSON.parse(b) });
      if (!hang) res.writeHead(204).end();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, got })));
}

async function scrape(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

function gauge(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : NaN;
}

async function health(port: number): Promise<{ code: number; body: { status: string; failing: { condition: string; destination?: string }[] } }> {
  const r = await fetch(`http://127.0.0.1:${port}/healthz`);
  return { code: r.status, body: (await r.json()) as never };
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

test('the shipped alert rules pass promtool', () => {
  const r = promtool('check', 'rules', RULES);
  assert.is(r.code, 0, r.out);
  assert.match(r.out, /SUCCESS: \d+ rules found/);
});

test('Prometheus scrapes the agent; every dashboard query returns data; the destination alert fires; health and webhooks follow', async () => {
  const dir = tempDir('obs');
  const db = join(dir, 'app.db');
  sqliteCli(db, 'PRAGMA journal_mode=WAL; CREATE TABLE seq(id INTEGER PRIMARY KEY, v TEXT NOT NULL);\n');
  const good = await webhook();
  const hanging = await webhook(true);
  const proxy = await startProxy(s3.port);
  const config = writeConfig(dir, {
    destinations: [{ name: 'local', type: 'file', path: join(dir, 'replica') }, remote(proxy)],
    overrides: {
      metrics: { listen: '127.0.0.1:0' },
      snapshotIntervalMs: 3000,
      checkpoint: { minPages: 50 },
      drills: { intervalMs: 2000 },
      health: { maxLagSeconds: 30 },
      notifications: { webhooks: [{ url: hanging.url }, { url: good.url }], timeoutMs: 60_000 },
    },
  });
  const agent = await AgentProcess.start(config);
  const port = Number((await agent.waitFor((l) => l.msg === 'metrics and health listening')).port);
  const writer = SeqWriter.start(db, 1_000_000, 5);
  // The test's copy of the rules fires at once.
  const rules = join(dir, 'rules.yml');
  writeFileSync(rules, readFileSync(RULES, 'utf8').replace(/for: \d+m/g, 'for: 1s'));
  const prom = await startPrometheus([`127.0.0.1:${port}`], [rules]);
  try {
    await until('the first scrape', async () => (await prom.query('up{job="walcast"}')).length > 0);
    await until('a restore drill', async () => (await prom.query('walcast_restore_drill_ok')).length > 0);
    await sleep(6000); // enough samples for rate() and histogram_quantile()

    const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { templating: { list: { name: string }[] }; panels: { title: string; targets: { expr: string }[] }[] };
    assert.equal(dash.templating.list.map((v) => v.name), ['datasource', 'db']);
    const empty: string[] = [];
    let queries = 0;
    for (const p of dash.panels) {
      for (const t of p.targets) {
        const expr = t.expr.replaceAll('$db', 'app').replaceAll('$__rate_interval', '20s');
        queries++;
        const r = await prom.query(expr);
        if (r.length === 0) empty.push(`${p.title}: ${t.expr}`);
      }
    }
    assert.ok(queries >= 20, `${queries} queries`);
    assert.equal(empty, [], 'dashboard queries without data');

    // A failing destination: the alert fires, health says why, the webhook hears it.
    proxy.block();
    await until('WalcastDestinationFailing firing', async () =>
      (await prom.alerts()).some((a) => a.labels.alertname === 'WalcastDestinationFailing' && a.labels.destination === 'remote' && a.state === 'firing'),
    );
    const h = await health(port);
    assert.is(h.code, 503);
    assert.ok(h.body.failing.some((c) => c.condition === 'destination_failing' && c.destination === 'remote'), JSON.stringify(h.body));
    await until('a failure webhook', async () => good.got.some((g) => g.body.event === 'destination_failing' && g.body.destination === 'remote'));
    // Capture is not slowed by the hanging webhook: commits keep being captured.
    const before = gauge(await scrape(port), 'walcast_captured_txid', 'db="app"');
    await sleep(1500);
    assert.ok(gauge(await scrape(port), 'walcast_captured_txid', 'db="app"') > before + 50, 'capture goes on');
    proxy.unblock();
    await until('health back to 200', async () => (await health(port)).code === 200, 30_000);
    await until('a recovery webhook', async () => good.got.some((g) => g.body.event === 'destination_recovered'));
    assert.ok(hanging.got.length >= 1, 'the hanging webhook was called too');
  } finally {
    await writer.stop();
    await prom.stop();
    assert.is(await agent.stop(), 0);
    good.server.close();
    hanging.server.closeAllConnections();
    hanging.server.close();
    await proxy.close();
  }
});

test('lag grows in step with wall time while the destination is blocked, and returns to ~0', async () => {
  const dir = tempDir('lag');
  const db = join(dir, 'app.db');
  sqliteCli(db, 'PRAGMA journal_mode=WAL; CREATE TABLE seq(id INTEGER PRIMARY KEY, v TEXT NOT NULL);\n');
  const proxy = await startProxy(s3.port);
  const config = writeConfig(dir, { destinations: [remote(proxy)], overrides: { metrics: { listen: '127.0.0.1:0' } } });
  const agent = await AgentProcess.start(config);
  const port = Number((await agent.waitFor((l) => l.msg === 'metrics and health listening')).port);
  const writer = SeqWriter.start(db, 1_000_000, 20);
  try {
    await sleep(1500);
    const lag = async () => gauge(await scrape(port), 'walcast_replication_lag_seconds', 'destination="remote"');
    assert.ok((await lag()) < 1.5, 'caught up while healthy');
    proxy.block();
    await sleep(2000);
    const t1 = Date.now();
    const l1 = await lag();
    await sleep(4000);
    const l2 = await lag();
    const wall = (Date.now() - t1) / 1000;
    assert.ok(l1 >= 1.5, `lag grows once blocked (${l1})`);
    assert.ok(Math.abs(l2 - l1 - wall) < 1, `lag grew ${(l2 - l1).toFixed(2)} s in ${wall.toFixed(2)} s of wall time`);
    proxy.unblock();
    await until('lag back to ~0', async () => (await lag()) < 1.5, 20_000);
  } finally {
    await writer.stop();
    assert.is(await agent.stop(), 0);
    await proxy.close();
  }
});

test.run();
