/** What the agent hands each replicator: its settings and the shared resources. */
import type { AgentConfig, DatabaseConfig } from '../core/config.js';
import type { Keyring } from '../core/keyring.js';
import type { Logger } from './logger.js';
import type { OpenDestination } from './replication-set.js';
import type { ReplicatorHooks } from './replicator-hooks.js';
import type { SqliteHost } from './sqlite-host.js';

/** Everything a replicator needs from the agent. */
export interface ReplicatorDeps {
  config: Readonly<AgentConfig>;
  db: Readonly<DatabaseConfig>;
  keyring: Keyring;
  host: SqliteHost;
  log: Logger;
  destinations: OpenDestination[];
  hooks?: ReplicatorHooks;
}
