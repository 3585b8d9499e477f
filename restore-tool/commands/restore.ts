/**
 * `walcast-restore restore`: rebuild a database at the latest point, a
 * timestamp or a txid, bit-exact and atomically.
 */
import { SingleBar, Presets } from 'cli-progress';
import { resolve } from 'node:path';
import { listGenerations, newestTxid } from '../../core/catalog.js';
import { KeyError, OutputExistsError, UsageError, WrongKeyError, describeError, IntegrityError } from '../../core/errors.js';
import type { RestoreTarget } from '../../core/replay.js';
import { restoreToFile, type RestoreResult } from '../../core/restore-file.js';
import { COMMON_OPTIONS, intOption, parse, timeOption } from '../args.js';
import { closeSources, keyringOf, openSources, selectDatabase, type Source } from '../context.js';

export const RESTORE_USAGE = `Usage: walcast-restore restore [--config FILE] [--db NAME] --output PATH
         [--timestamp ISO-8601 | --txid N] [--generation G] [--destination NAME]
         [--force] [--no-integrity-check] [--json]

Rebuilds the database as it was after the last transaction observed at or
before --timestamp, or after --txid (of the newest generation unless
--generation is given), or at the newest point. The result is written to a
temporary file beside --output, its checksum is proven against the one
recorded at backup time and PRAGMA integrity_check must pass before it is
renamed into place; on failure nothing is left at --output.

Options:
  --config FILE         agent config naming the destinations and keys (default agent.config.json)
  --db NAME             database name (may be omitted when the config has one)
  --output PATH         where to write the restored database (required)
  --timestamp TIME      ISO-8601 time, e.g. 2026-11-24T18:00:00Z
  --txid N              transaction id within the generation
  --generation G        restore from this generation
  --destination NAME    read from this destination only (default: the one with the
                        newest backup, falling back to the others on a failure)
  --force               replace an existing --output (and its -wal/-shm)
  --no-integrity-check  skip PRAGMA integrity_check (the checksum is still proven)
  --json                print the result as JSON`;

/** Runs the subcommand; returns the exit code. */
export async function runRestore(argv: string[]): Promise<number> {
  const o = parse('restore', argv, {
    ...COMMON_OPTIONS,
    output: { type: 'string' },
    timestamp: { type: 'string' },
    txid: { type: 'string' },
    generation: { type: 'string' },
    destination: { type: 'string' },
    force: { type: 'boolean', default: false },
    'no-integrity-check': { type: 'boolean', default: false },
  });
  if (o.help) {
    console.log(RESTORE_USAGE);
    return 0;
  }
  if (!o.output) throw new UsageError('--output is required', { hint: 'walcast-restore restore --output ./restored.db' });
  if (o.timestamp !== undefined && o.txid !== undefined) throw new UsageError('give --timestamp or --txid, not both');
  const ms = timeOption('timestamp', o.timestamp);
  const txid = intOption('txid', o.txid);
  const target: RestoreTarget = ms !== undefined ? { kind: 'time', ms } : txid !== undefined ? { kind: 'txid', txid } : { kind: 'latest' };
  const { config, db } = selectDatabase(o.config!, o.db);
  const keyring = keyringOf(config);
  const sources = await rank(await openSources(db, o.destination));
  const output = resolve(o.output);
  try {
    let lastErr: unknown;
    for (const [i, src] of sources.entries()) {
      const bar = !o.json && process.stderr.isTTY ? new SingleBar({ format: `restoring ${db.name} from ${src.name} [{bar}] {percentage}% {value}/{total} bytes`, stream: process.stderr }, Presets.shades_classic) : null;
      try {
        const result = await restoreToFile({
          storage: src.storage, layout: src.layout, keyring, target, output, force: o.force, integrityCheck: !o['no-integrity-check'],
          ...(o.generation !== undefined ? { generation: o.generation } : {}),
          ...(bar ? { onProgress: (p) => (bar.getTotal() === 0 ? bar.start(p.totalBytes, p.bytesRead) : bar.update(p.bytesRead)) } : {}),
        });
        bar?.stop();
        report(result, db.name, src.name, output, o.json!);
        return 0;
      } catch (err) {
        bar?.stop();
        lastErr = err;
        const final = err instanceof UsageError || err instanceof OutputExistsError || err instanceof KeyError || err instanceof WrongKeyError || err instanceof IntegrityError;
        if (final || i === sources.length - 1) throw err;
        console.error(`walcast-restore: destination "${src.name}" failed (${describeError(err).message}); trying "${sources[i + 1]!.name}"`);
      }
    }
    throw lastErr;
  } finally {
    await closeSources(sources);
  }
}

/** Orders destinations newest backup first (unreachable ones last). */
async function rank(sources: Source[]): Promise<Source[]> {
  if (sources.length < 2) return sources;
  const pos = await Promise.all(
    sources.map(async (s) => {
      try {
        const gens = (await listGenerations(s.storage, s.layout)).filter((g) => g.snapshots.length);
        const g = gens[gens.length - 1];
        return g ? `${g.id}:${newestTxid(g).toString(16).padStart(16, '0')}` : '';
      } catch {
        return '';
      }
    }),
  );
  return sources.map((s, i) => ({ s, p: pos[i]! })).sort((a, b) => (a.p > b.p ? -1 : a.p < b.p ? 1 : 0)).map((x) => x.s);
}

function report(r: RestoreResult, db: string, dest: string, output: string, json: boolean): void {
  if (json) {
    console.log(JSON.stringify({ db, destination: dest, output, ...r, observedAt: new Date(r.observedAtMs).toISOString() }));
    return;
  }
  const mb = (r.bytes / 1e6).toFixed(1);
  console.log(
    `restored ${db} to ${output}: generation ${r.generation}, txid ${r.txid} (observed ${new Date(r.observedAtMs).toISOString()}), ` +
      `${mb} MB in ${(r.ms / 1000).toFixed(2)} s from "${dest}"; checksum ${r.checksum} proven`,
  );
}
