/**
 * Bad input gets a clear error naming the field or object, with a hint, and
 * leaves nothing behind: config mistakes, key problems, CLI mistakes.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../core/config.js';
import { ConfigError } from '../../core/errors.js';
import { agentCli, restoreCli, writeConfig } from '../helpers/agent.js';
import { sqliteCli } from '../helpers/sqlite.js';
import { tempDir } from '../helpers/tmp.js';

const test = suite('bad input');

const good = () => ({
  databases: [{ path: './app.db', destinations: [{ name: 'local', type: 'file', path: './replica' }] }],
  encryption: { activeKey: 'k1', keys: [{ id: 'k1', file: './k.key' }] },
});

function configError(mutate: (c: Record<string, any>) => void): string {
  const c = good() as Record<string, any>;
  mutate(c);
  try {
    parseConfig(c, '/etc/walcast/agent.config.json');
  } catch (err) {
    assert.instance(err, ConfigError);
    assert.is((err as ConfigError).code, 'WALCAST_ERR_CONFIG');
    return (err as Error).message;
  }
  assert.unreachable('config should be rejected');
  return '';
}

test('a valid config gets defaults, absolute paths and is frozen', () => {
  const c = parseConfig(good(), '/etc/walcast/agent.config.json');
  assert.is(c.databases[0]!.name, 'app');
  assert.is(c.databases[0]!.path, '/etc/walcast/app.db');
  assert.is(c.syncIntervalMs, 1000);
  assert.is(c.syncWalBytes, 0);
  assert.is(c.checkpoint.minPages, 1000);
  assert.is(c.cpuNice, 0);
  assert.equal(c.databases[0]!.replicationPolicy, 'all');
  assert.ok(Object.isFrozen(c.databases[0]));
});

test('config errors name the field and the value', () => {
  assert.match(configError((c) => (c.syncIntervalMs = 'fast')), /syncIntervalMs: .*got "fast"/);
  assert.match(configError((c) => (c.syncWalBytes = 4096)), /syncWalBytes: use 0 \(off\) or at least 65536 \(got 4096\)/);
  assert.match(configError((c) => (c.cpuNice = 20)), /cpuNice: use 0 \(no change\) to 19 \(got 20\)/);
  assert.match(configError((c) => (c.databases[0].destinations[0].type = 'ftp')), /databases\.0\.destinations\.0\.type/);
  assert.match(configError((c) => (c.databases = [])), /databases: list at least one database/);
  assert.match(configError((c) => (c.snapshotIntervl = 5)), /unknown field\(s\) "snapshotIntervl"/);
  assert.match(configError((c) => (c.encryption.activeKey = 'k9')), /encryption\.activeKey: "k9"/);
  assert.match(configError((c) => (c.encryption.keys[0] = { id: 'k1' })), /encryption\.keys\.0: give exactly one of "file" or "env"/);
  assert.match(configError((c) => c.databases.push({ ...c.databases[0] })), /"app" is used by two databases/);
  assert.match(configError((c) => (c.databases[0].replicationPolicy = { quorum: 3 })), /quorum: 3 exceeds the 1 destination/);
});

test('the agent exits 2 on a bad config and 1 on a missing key file, with a hint', () => {
  const dir = tempDir('badcfg');
  const path = join(dir, 'agent.config.json');
  writeFileSync(path, '{ "databases": [');
  let r = agentCli(['--config', path]);
  assert.is(r.code, 2);
  assert.match(r.stderr, /not valid JSON/);
  r = agentCli(['--config', join(dir, 'missing.json')]);
  assert.is(r.code, 2);
  assert.match(r.stderr, /cannot read config .*missing\.json/);
  assert.match(r.stderr, /Try: /);
  const cfg = good();
  cfg.encryption.keys[0]!.file = join(dir, 'nope.key');
  sqliteCli(join(dir, 'app.db'), 'PRAGMA journal_mode=WAL;\n');
  writeFileSync(path, JSON.stringify(cfg));
  r = agentCli(['--config', path]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /cannot read key "k1" from file .*nope\.key: ENOENT/);
  assert.match(r.stderr, /Try: create it with: walcast-agent keygen/);
  assert.not.ok(existsSync(join(dir, 'replica')), 'nothing was created');
});

test('a key of the wrong length or an unset key variable is refused without showing the key', () => {
  const dir = tempDir('badkey');
  sqliteCli(join(dir, 'app.db'), 'PRAGMA journal_mode=WAL;\n');
  const config = writeConfig(dir);
  writeFileSync(join(dir, 'test.key'), 'c2hvcnQta2V5LXN1cGVyLXNlY3JldA==');
  let r = agentCli(['--config', config]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /does not hold a 32-byte key/);
  assert.not.match(r.stderr, /c2hvcnQta2V5/);
  const cfg = JSON.parse(readFileSync(config, 'utf8'));
  cfg.encryption.keys = [{ id: 'k1', env: 'WALCAST_TEST_KEY' }];
  writeFileSync(config, JSON.stringify(cfg));
  r = agentCli(['--config', config], { WALCAST_TEST_KEY: '' });
  assert.is(r.code, 1);
  assert.match(r.stderr, /environment variable WALCAST_TEST_KEY is not set/);
});

test('a missing database file is named, with a hint', () => {
  const dir = tempDir('nodb');
  const config = writeConfig(dir, { db: join(dir, 'absent.db') });
  const r = agentCli(['--config', config]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /cannot open database .*absent\.db: ENOENT/);
  assert.match(r.stderr, /Try: check databases\[\]\.path/);
});

test('walcast-restore rejects bad arguments with exit 2 and a pointer to --help', () => {
  let r = restoreCli('restore', '--txid', 'abc', '--output', '/tmp/x.db');
  assert.is(r.code, 2);
  assert.match(r.stderr, /--txid must be a whole number/);
  r = restoreCli('restore', '--bogus');
  assert.is(r.code, 2);
  assert.match(r.stderr, /Try: see walcast-restore restore --help/);
  r = restoreCli('restore', '--timestamp', 'yesterday', '--output', '/tmp/x.db');
  assert.is(r.code, 2);
  assert.match(r.stderr, /ISO-8601/);
  r = restoreCli('frobnicate');
  assert.is(r.code, 2);
  r = restoreCli('restore');
  assert.is(r.code, 2);
  assert.match(r.stderr, /--output is required/);
});

test('every command answers --help', () => {
  for (const cmd of ['restore', 'list', 'info', 'verify']) {
    const r = restoreCli(cmd, '--help');
    assert.is(r.code, 0);
    assert.match(r.stdout, new RegExp(`Usage: walcast-restore ${cmd}`));
  }
  assert.is(restoreCli('--help').code, 0);
  const a = agentCli(['--help']);
  assert.is(a.code, 0);
  assert.match(a.stdout, /Usage: walcast-agent/);
  assert.match(a.stdout, /keygen/);
});

test('restore refuses to overwrite an existing output without --force', () => {
  const dir = tempDir('exists');
  sqliteCli(join(dir, 'app.db'), 'PRAGMA journal_mode=WAL; CREATE TABLE t(x);\n');
  const config = writeConfig(dir);
  const once = agentCli(['--config', config, '--once']);
  assert.is(once.code, 0, once.stderr);
  const out = join(dir, 'out.db');
  writeFileSync(out, 'precious');
  const r = restoreCli('restore', '--config', config, '--output', out);
  assert.is(r.code, 1);
  assert.match(r.stderr, /already exists/);
  assert.match(r.stderr, /--force/);
  assert.is(readFileSync(out, 'utf8'), 'precious', 'the existing file is untouched');
  const f = restoreCli('restore', '--config', config, '--output', out, '--force');
  assert.is(f.code, 0, f.stderr);
  assert.is(sqliteCli(out, 'SELECT name FROM sqlite_schema;\n').trim(), 't');
});

test.run();
