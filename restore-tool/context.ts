/**
 * What every subcommand needs: the config, the keyring, the database entry
 * and its destinations, chosen from the command line.
 */
import { loadConfig, type AgentConfig, type DatabaseConfig } from '../core/config.js';
import { UsageError } from '../core/errors.js';
import { loadKeyring, type Keyring } from '../core/keyring.js';
import { Layout } from '../core/layout.js';
import { openStorage } from '../core/storage/open-storage.js';
import type { Storage } from '../core/storage/storage.js';

/** One destination of one database, opened. */
export interface Source {
  name: string;
  storage: Storage;
  layout: Layout;
}

/** Loads the config and finds database `dbName` (the only one when omitted). */
export function selectDatabase(configPath: string, dbName: string | undefined): { config: Readonly<AgentConfig>; db: Readonly<DatabaseConfig> } {
  const config = loadConfig(configPath);
  const names = config.databases.map((d) => d.name);
  if (dbName === undefined) {
    if (config.databases.length === 1) return { config, db: config.databases[0]! };
    throw new UsageError(`the config lists ${names.length} databases; name one with --db`, { hint: `--db ${names.join(' | --db ')}` });
  }
  const db = config.databases.find((d) => d.name === dbName);
  if (!db) throw new UsageError(`no database named "${dbName}" in ${config.file}`, { hint: `known: ${names.join(', ')}` });
  return { config, db };
}

/** The database's destinations (just `only` when given), opened. */
export async function openSources(db: Readonly<DatabaseConfig>, only?: string): Promise<Source[]> {
  const dests = only === undefined ? db.destinations : db.destinations.filter((d) => d.name === only);
  if (dests.length === 0) {
    throw new UsageError(`database "${db.name}" has no destination named "${only}"`, { hint: `known: ${db.destinations.map((d) => d.name).join(', ')}` });
  }
  return Promise.all(dests.map(async (d) => ({ name: d.name, storage: await openStorage(d), layout: new Layout(d.prefix, db.name) })));
}

/** The keyring of the config. */
export function keyringOf(config: Readonly<AgentConfig>): Keyring {
  return loadKeyring(config.encryption.keys, config.encryption.activeKey);
}

/** Closes sources. */
export async function closeSources(sources: Source[]): Promise<void> {
  await Promise.all(sources.map((s) => s.storage.close().catch(() => {})));
}
