/**
 * walcast as the bench runs it: a config for some databases and one
 * destination each, the agent as a real process (the tests' AgentProcess),
 * and the restore CLI timed with its peak RSS.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../core/config.js';
import { restoreEnv, RESTORE_NODE_FLAGS } from '../../core/node-flags.js';
import { generateKeyBase64, loadKeyring, type Keyring } from '../../core/keyring.js';
import { AgentProcess } from '../../test/helpers/agent.js';
import type { ScenarioContext } from './context.js';
import { RESTORE_CLI } from './paths.js';
import { runTimed, type TimedRun } from './procs.js';

/** A database for the agent config. */
export interface AgentDb {
  path: string;
  name: string;
}

/** Files of one agent setup. */
export interface AgentSetup {
  config: string;
  replicaDir: string;
  stagingDir: string;
}

/**
 * Writes a key and a config in `dir`. Only what must be set is set (the
 * issue asks for walcast's defaults); `settings` adds top-level fields such
 * as syncIntervalMs. The destination is a folder unless `destination` gives
 * another entry (e.g. s3DestinationConfig).
 */
export function writeAgentConfig(
  dir: string,
  dbs: AgentDb[],
  opts: { settings?: Record<string, unknown>; destination?: Record<string, unknown> } = {},
): AgentSetup {
  const keyFile = join(dir, 'walcast.key');
  writeFileSync(keyFile, generateKeyBase64(), { mode: 0o600 });
  const replicaDir = join(dir, 'replica');
  const stagingDir = join(dir, 'staging');
  const config = {
    databases: dbs.map((d) => ({ path: d.path, name: d.name, destinations: [opts.destination ?? { name: 'local', type: 'file', path: replicaDir }] })),
    encryption: { activeKey: 'k1', keys: [{ id: 'k1', file: keyFile }] },
    stagingDir,
    ...opts.settings,
  };
  const path = join(dir, 'agent.config.json');
  writeFileSync(path, JSON.stringify(config, null, 2));
  return { config: path, replicaDir, stagingDir };
}

/** The keyring a config names. */
export function keyringOf(configPath: string): Keyring {
  const c = loadConfig(configPath);
  return loadKeyring(c.encryption.keys, c.encryption.activeKey);
}

/**
 * Starts the agent and waits until it runs. Log level `info` is walcast's
 * default; `debug` adds one line per staged segment and upload.
 */
export async function startAgent(ctx: ScenarioContext, config: string, opts: { logLevel?: 'info' | 'debug'; timeoutMs?: number } = {}): Promise<AgentProcess> {
  const agent = await AgentProcess.start(config, { env: { WALCAST_LOG_LEVEL: opts.logLevel ?? 'info' }, wait: false });
  ctx.track(agent.child);
  // Start-up includes the first snapshot of every database: large databases and many of them take a while.
  const ready = agent.waitFor((l) => l.msg === 'walcast agent running', opts.timeoutMs ?? 600_000);
  const died = agent.exit().then((code) => {
    throw new Error(`agent exited (${code}) before running: ${agent.stderr.slice(-2000)}\n${agent.logs.slice(-5).map((l) => JSON.stringify(l)).join('\n')}`);
  });
  await Promise.race([ready, died]);
  return agent;
}

/** Stops the agent (it flushes and uploads what is committed first); throws when it exits non-zero. */
export async function stopAgent(agent: AgentProcess): Promise<void> {
  const code = await agent.stop();
  if (code !== 0) throw new Error(`agent exited with ${code}: ${agent.stderr.slice(-2000)}`);
}

/** What `walcast-restore restore --json` prints. */
export interface RestoreJson {
  txid: number;
  bytes: number;
  commits: number;
  ms: number;
  observedAt: string;
}

/** Runs `walcast-restore restore`, timed; throws if it fails. */
export async function restoreWalcast(
  ctx: ScenarioContext,
  config: string,
  output: string,
  opts: { timestamp?: string; integrity?: boolean } = {},
): Promise<TimedRun & { result: RestoreJson }> {
  const args = [...RESTORE_NODE_FLAGS, RESTORE_CLI, 'restore', '--config', config, '--output', output, '--json'];
  if (opts.timestamp) args.push('--timestamp', opts.timestamp);
  if (opts.integrity === false) args.push('--no-integrity-check');
  const r = await runTimed(ctx, process.execPath, args, { env: restoreEnv() });
  if (r.code !== 0) throw new Error(`walcast restore failed (${r.code}): ${r.stderr || r.stdout}`);
  return { ...r, result: JSON.parse(r.stdout.trim().split('\n').pop()!) as RestoreJson };
}
