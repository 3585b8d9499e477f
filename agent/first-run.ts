/**
 * `--init`: a first run that works out of the box. Creates a key file the
 * config names but that does not exist (only while no destination holds a
 * backup that could need the missing key), and a small demo database in WAL
 * mode where a configured database path does not exist yet.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AgentConfig } from '../core/config.js';
import { KeyError } from '../core/errors.js';
import { generateKeyBase64 } from '../core/keyring.js';
import { Layout } from '../core/layout.js';
import { openStorage } from '../core/storage/open-storage.js';
import type { Logger } from './logger.js';
import { writeKeyFile } from './keygen.js';

/** Prepares missing first-run files. */
export async function initFirstRun(config: Readonly<AgentConfig>, log: Logger): Promise<void> {
  for (const k of config.encryption.keys) {
    if (k.file === undefined || existsSync(k.file)) continue;
    for (const db of config.databases) {
      for (const d of db.destinations) {
        const storage = await openStorage(d);
        try {
          for await (const o of storage.list(new Layout(d.prefix, db.name).root)) {
            throw new KeyError(`key file ${k.file} (key "${k.id}") is missing, but destination "${d.name}" already holds backups of "${db.name}" (${o.key})`, {
              hint: 'restore the key file from where you backed it up; a new key could not open the existing backups',
            });
          }
        } finally {
          await storage.close();
        }
      }
    }
    mkdirSync(dirname(k.file), { recursive: true });
    writeKeyFile(k.file, generateKeyBase64());
    log.warn({ keyId: k.id, file: k.file }, 'created a new encryption key; back it up somewhere safe: without it the backups cannot be restored');
  }
  for (const db of config.databases) {
    if (existsSync(db.path)) continue;
    mkdirSync(dirname(db.path), { recursive: true });
    const { default: Database } = await import('better-sqlite3');
    const d = new Database(db.path);
    d.pragma('journal_mode = WAL');
    d.exec(`CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL, created_at TEXT NOT NULL DEFAULT (datetime('now')));
            INSERT INTO notes(body) VALUES ('walcast demo database'), ('add rows with: sqlite3 ${db.path} "INSERT INTO notes(body) VALUES (''hello'')"');`);
    d.close();
    log.info({ db: db.name, path: db.path }, 'created a demo database (WAL mode)');
  }
}
