/**
 * The agent: one replicator per configured database, sharing a small pool of
 * SQLite worker threads. `start()` brings every database up, `close()` flushes
 * and drains them, `runOnce()` captures, uploads and stops.
 */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AgentConfig } from '../core/config.js';
import { combineHooks } from './combine-hooks.js';
import { DrillScheduler, type DrillResult } from './drills.js';
import { evaluateHealth, type Health } from './health.js';
import { startHttpServer } from './http-server.js';
import { AgentMetrics } from './metrics.js';
import { Notifier } from './notifier.js';
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

/** The version in package.json. */
export const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Runs replication for every database in a config. */
export class Agent {
  readonly replicators: DbReplicator[] = [];
  readonly metrics: AgentMetrics;
  private readonly notifier: Notifier;
  private readonly drills: DrillScheduler;
  private readonly lastDrill = new Map<string, DrillResult>();
  private readonly host: SqliteHost;
  private readonly keyring: Keyring;
  private server: Server | null = null;
  private closing: Promise<void> | null = null;
  private readonly hooks: ReplicatorHooks;

  constructor(
    readonly config: Readonly<AgentConfig>,
    readonly log: Logger,
    opts: AgentOptions = {},
  ) {
    this.keyring = opts.keyring ?? loadKeyring(config.encryption.keys, config.encryption.activeKey);
    this.host = new SqliteHost(config.sqliteWorkers);
    this.metrics = new AgentMetrics(config, () => this.replicators.map((r) => ({ replicator: r, status: r.status() })), VERSION);
    this.notifier = new Notifier(config, log);
    this.drills = new DrillScheduler(config, log, (db, r) => {
      this.lastDrill.set(db, r);
      this.metrics.recordDrill(db, r);
      if (!r.ok) this.notifier.notify({ event: 'restore_drill_failed', db, detail: r.error ?? 'failed' });
    });
    this.hooks = combineHooks(this.metrics.hooks, this.notifier.hooks, opts.hooks ?? {});
  }

  /** Health of every database. */
  health(): Health {
    return evaluateHealth(
      this.config,
      this.replicators.map((r) => r.status()),
      (db) => {
        const d = this.lastDrill.get(db);
        return d && !d.ok ? (d.error ?? 'failed') : null;
      },
    );
  }

  /** Starts every database; if one fails to start, the ones started are closed and the error is thrown. */
  async start(): Promise<void> {
    const { config, log, keyring, host, hooks } = this;
    log.info({ databases: config.databases.map((d) => d.name), version: VERSION }, 'walcast agent starting');
    try {
      for (const db of config.databases) {
        const destinations = await Promise.all(db.destinations.map(async (d) => ({ name: d.name, storage: await openStorage(d), prefix: d.prefix })));
        this.replicators.push(new DbReplicator({ config, db, keyring, host, log, destinations, hooks }));
      }
      if (this.config.metrics.listen) {
        const { server, port } = await startHttpServer(this.config.metrics.listen, this.metrics.registry, () => this.health());
        this.server = server;
        this.log.info({ listen: this.config.metrics.listen, port }, 'metrics and health listening');
      }
      // A few at a time: each start reads its database once (the continuity proof).
      const queue = [...this.replicators];
      await Promise.all(
        Array.from({ length: Math.min(4, queue.length) }, async () => {
          for (let r = queue.shift(); r; r = queue.shift()) await r.start();
        }),
      );
    } catch (err) {
      await this.close(5_000);
      throw err;
    }
    this.drills.start();
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
      await this.drills.stop();
      await Promise.all(this.replicators.map((r) => r.close(deadlineMs)));
      const server = this.server;
      if (server) {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
      }
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
