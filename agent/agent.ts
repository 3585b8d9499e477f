/**
 * The agent: one replicator per configured database, sharing a small pool of
 * SQLite worker threads. `start()` brings every database up, `close()` flushes
 * and drains them, `runOnce()` captures, uploads and stops.
 */
import type { AgentConfig } from '../core/config.js';
import { loadKeyring, type Keyring } from '../core/keyring.js';
import { openStorage } from '../core/storage/open-storage.js';
import { DbReplicator } from './db-replicator.js';
import type { Logger } from './logger.js';
import type { ReplicatorHooks } from './replicator-hooks.js';
import { SqliteHost } from './sqlite-host.js';

/** Options of the agent. */
export interface AgentOptions {
  hooks?: ReplicatorHooks;
  keyring?: Keyring;
}

/** Runs replication for every database in a config. */
export class Agent {
  readonly replicators: DbReplicator[] = [];
  private readonly host: SqliteHost;
  private readonly keyring: Keyring;
  private closing: Promise<void> | null = null;

  constructor(
    readonly config: Readonly<AgentConfig>,
    readonly log: Logger,
    opts: AgentOptions = {},
  ) {
    this.keyring = opts.keyring ?? loadKeyring(config.encryption.keys, config.encryption.activeKey);
    this.host = new SqliteHost(config.sqliteWorkers);
    for (const db of config.databases) {
      const destinations = db.destinations.map((d) => ({ name: d.name, storage: openStorage(d), prefix: d.prefix }));
      this.replicators.push(new DbReplicator({ config, db, keyring: this.keyring, host: this.host, log, destinations, ...(opts.hooks ? { hooks: opts.hooks } : {}) }));
    }
  }

  /** Starts every database; if one fails to start, the ones started are closed and the error is thrown. */
  async start(): Promise<void> {
    this.log.info({ databases: this.replicators.map((r) => r.name), version: process.env.npm_package_version }, 'walcast agent starting');
    try {
      for (const r of this.replicators) await r.start();
    } catch (err) {
      await this.close(5_000);
      throw err;
    }
    this.log.info('walcast agent running');
  }

  /** Captures everything committed now, uploads it, and closes. */
  async runOnce(deadlineMs = 120_000): Promise<void> {
    await this.start();
    for (const r of this.replicators) await r.cycle(true);
    await this.close(deadlineMs);
  }

  /** Flushes and drains every database, then stops; idempotent. */
  close(deadlineMs = 30_000): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all(this.replicators.map((r) => r.close(deadlineMs)));
      await this.host.close();
      this.log.info('walcast agent stopped');
    })();
    return this.closing;
  }

  /** Per-database status. */
  status() {
    return this.replicators.map((r) => r.status());
  }
}
