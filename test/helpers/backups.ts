/**
 * Looking at what a destination holds, and restoring through the real CLI.
 */
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Staging } from '../../agent/staging.js';
import { listGenerations, readHeader } from '../../core/catalog.js';
import { fileChecksum } from '../../core/db-image.js';
import { Layout } from '../../core/layout.js';
import { loadConfig } from '../../core/config.js';
import { formatChecksum } from '../../core/page-hash.js';
import { dbFilePages, readDbHeader } from '../../core/sqlite-file.js';
import { openStorage } from '../../core/storage/open-storage.js';
import { restoreCli, sleep } from './agent.js';
import { fileSha256, logicalHash } from './sqlite.js';

/** One commit as recorded in a destination. */
export interface RecordedCommit {
  generation: string;
  txid: number;
  observedAtMs: number;
}

/** Every generation and commit of the config's (first, or named) database destination, oldest first. */
export async function timeline(configPath: string, destination?: string) {
  const config = loadConfig(configPath);
  const dbc = config.databases[0]!;
  const dest = destination === undefined ? dbc.destinations[0]! : dbc.destinations.find((d) => d.name === destination)!;
  const storage = await openStorage(dest);
  const layout = new Layout(dest.prefix, dbc.name);
  const gens = await listGenerations(storage, layout);
  const commits: RecordedCommit[] = [];
  for (const g of gens) {
    for (const s of g.segments) {
      const h = await readHeader(storage, s.key, 'segment');
      for (const c of h.commits) commits.push({ generation: g.id, txid: c.txid, observedAtMs: c.observedAtMs });
    }
  }
  await storage.close();
  return { generations: gens, commits };
}

/**
 * Waits until the agent of `configPath` (its first database) has staged
 * exactly the database in `image`, a page-exact copy of the live one: its
 * capture state then holds that database's checksum, so every commit up to
 * it was observed (and timestamped) before this returns.
 */
export async function waitCaptured(configPath: string, image: string, timeoutMs = 60_000): Promise<void> {
  const config = loadConfig(configPath);
  const fh = await open(image, 'r');
  let pages: number;
  let want: string;
  try {
    const header = await readDbHeader(fh);
    assert.ok(header, `${image} is a SQLite database`);
    pages = await dbFilePages(fh, header);
    want = formatChecksum(await fileChecksum(fh, header.pageSize, pages));
  } finally {
    await fh.close();
  }
  const staging = new Staging(join(config.stagingDir, config.databases[0]!.name));
  for (const until = Date.now() + timeoutMs; ; await sleep(50)) {
    const state = await staging.readState();
    if (state && state.checksum === want && state.dbPages === pages) return;
    if (Date.now() > until) assert.unreachable(`the agent had not staged the live database after ${timeoutMs} ms (staged up to txid ${state?.txid})`);
  }
}

/** Restores through walcast-restore (expecting success) and returns its JSON report. */
export function restoreOk(config: string, output: string, ...args: string[]): Record<string, unknown> {
  const r = restoreCli('restore', '--config', config, '--output', output, '--json', ...args);
  assert.is(r.code, 0, `restore ${args.join(' ')} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** Asserts a restored file equals a reference, page-exact and logically. */
export function assertSameDatabase(restored: string, ref: { sha256: string; logical: string }, what: string): void {
  assert.is(logicalHash(restored), ref.logical, `${what}: logical content differs`);
  assert.is(fileSha256(restored), ref.sha256, `${what}: restored file is not byte-identical to the live database`);
}

/** Every regular file under a folder (recursively). */
export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((p) => statSync(p).isFile());
}

/** Files under `dir` whose bytes contain `needle`. */
export function filesContaining(dir: string, needle: string): string[] {
  const n = Buffer.from(needle);
  return filesUnder(dir).filter((p) => readFileSync(p).includes(n));
}
