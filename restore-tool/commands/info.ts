/**
 * `walcast-restore info`: the recovery window of a database per destination:
 * the oldest and newest restorable points and the age of the newest snapshot.
 */
import { COMMON_OPTIONS, parse } from '../args.js';
import { closeSources, openSources, selectDatabase } from '../context.js';
import { describeSource, fmtBytes } from './list.js';

export const INFO_USAGE = `Usage: walcast-restore info [--config FILE] [--db NAME] [--destination NAME] [--json]

Shows, per destination, the oldest and newest restorable points of the
database, the number of generations, the newest snapshot and the bytes stored.`;

/** Runs the subcommand; returns the exit code. */
export async function runInfo(argv: string[]): Promise<number> {
  const o = parse('info', argv, { ...COMMON_OPTIONS, destination: { type: 'string' } });
  if (o.help) {
    console.log(INFO_USAGE);
    return 0;
  }
  const { db } = selectDatabase(o.config!, o.db);
  const sources = await openSources(db, o.destination);
  try {
    const rows = [];
    for (const src of sources) {
      const gens = (await describeSource(src)).filter((g) => g.snapshots.length);
      const newest = gens[gens.length - 1];
      const oldest = gens[0];
      const lastSnap = newest?.snapshots[newest.snapshots.length - 1];
      rows.push({
        db: db.name,
        destination: src.name,
        generations: gens.length,
        oldest: oldest ? { generation: oldest.id, txid: oldest.snapshots[0]!.txid, at: oldest.snapshots[0]!.takenAt } : null,
        newest: newest ? { generation: newest.id, txid: newest.newestTxid, at: newest.segments.lastObservedAt ?? lastSnap!.takenAt } : null,
        newestSnapshot: lastSnap ? { txid: lastSnap.txid, at: lastSnap.takenAt, ageSeconds: Math.round((Date.now() - Date.parse(lastSnap.takenAt)) / 1000) } : null,
        bytes: gens.reduce((n, g) => n + g.bytes, 0),
      });
    }
    if (o.json) {
      console.log(JSON.stringify(rows.length === 1 ? rows[0] : rows, null, 2));
      return 0;
    }
    for (const r of rows) {
      console.log(`${r.db} @ ${r.destination}: ${r.generations} generation(s), ${fmtBytes(r.bytes)}`);
      if (!r.newest) {
        console.log('  nothing restorable yet');
        continue;
      }
      console.log(`  oldest restorable: ${r.oldest!.at} (generation ${r.oldest!.generation}, txid ${r.oldest!.txid})`);
      console.log(`  newest restorable: ${r.newest.at} (generation ${r.newest.generation}, txid ${r.newest.txid})`);
      console.log(`  newest snapshot:   ${r.newestSnapshot!.at} (txid ${r.newestSnapshot!.txid}, ${r.newestSnapshot!.ageSeconds} s ago)`);
    }
    return 0;
  } finally {
    await closeSources(sources);
  }
}
