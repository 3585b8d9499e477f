/**
 * `walcast-restore list`: generations, snapshots and segments with their txid
 * and time ranges, per destination.
 */
import { listGenerations, newestTxid, readHeader, readMeta, segmentChain } from '../../core/catalog.js';
import { COMMON_OPTIONS, parse } from '../args.js';
import { closeSources, openSources, selectDatabase, type Source } from '../context.js';

export const LIST_USAGE = `Usage: walcast-restore list [--config FILE] [--db NAME] [--destination NAME] [--json]

Lists, per destination, every generation of the database: when and why it
started, its snapshots (txid, time), its segments (txid and observed-time
ranges), any gap in the chain, and the newest restorable txid.`;

/** One generation as listed. */
export interface ListedGeneration {
  id: string;
  startedAt: string | null;
  reason: string | null;
  snapshots: { txid: number; takenAt: string; bytes: number }[];
  segments: { count: number; minTxid: number | null; maxTxid: number | null; firstObservedAt: string | null; lastObservedAt: string | null; bytes: number };
  gapAfterTxid: number | null;
  newestTxid: number;
  bytes: number;
}

/** Everything `list` shows for one destination. */
export async function describeSource(src: Source): Promise<ListedGeneration[]> {
  const out: ListedGeneration[] = [];
  for (const g of await listGenerations(src.storage, src.layout)) {
    const meta = await readMeta(src.storage, src.layout, g.id).catch(() => null);
    const snapshots = [];
    for (const s of g.snapshots) {
      const h = await readHeader(src.storage, s.key, 'snapshot');
      snapshots.push({ txid: s.txid, takenAt: new Date(h.takenAtMs).toISOString(), bytes: s.size });
    }
    const first = g.segments[0];
    const last = g.segments[g.segments.length - 1];
    const fh = first ? await readHeader(src.storage, first.key, 'segment') : null;
    const lh = last ? await readHeader(src.storage, last.key, 'segment') : null;
    const chain = g.snapshots.length ? segmentChain(g, g.snapshots[0]!.txid) : null;
    out.push({
      id: g.id,
      startedAt: meta?.startedAt ?? null,
      reason: meta?.reason ?? null,
      snapshots,
      segments: {
        count: g.segments.length,
        minTxid: first?.minTxid ?? null,
        maxTxid: last?.maxTxid ?? null,
        firstObservedAt: fh ? new Date(fh.commits[0]!.observedAtMs).toISOString() : null,
        lastObservedAt: lh ? new Date(lh.commits[lh.commits.length - 1]!.observedAtMs).toISOString() : null,
        bytes: g.segments.reduce((n, s) => n + s.size, 0),
      },
      gapAfterTxid: chain?.gap ? chain.gap.after : null,
      newestTxid: newestTxid(g),
      bytes: g.bytes,
    });
  }
  return out;
}

/** Runs the subcommand; returns the exit code. */
export async function runList(argv: string[]): Promise<number> {
  const o = parse('list', argv, { ...COMMON_OPTIONS, destination: { type: 'string' } });
  if (o.help) {
    console.log(LIST_USAGE);
    return 0;
  }
  const { db } = selectDatabase(o.config!, o.db);
  const sources = await openSources(db, o.destination);
  try {
    const all = [];
    for (const src of sources) all.push({ db: db.name, destination: src.name, location: src.storage.description, generations: await describeSource(src) });
    if (o.json) {
      console.log(JSON.stringify(all.length === 1 ? all[0] : all, null, 2));
      return 0;
    }
    for (const d of all) {
      console.log(`${d.db} @ ${d.destination} (${d.location})`);
      if (d.generations.length === 0) console.log('  no backups yet');
      for (const g of d.generations) {
        console.log(`  generation ${g.id}  started ${g.startedAt ?? '?'}  ${g.reason ? `(${g.reason})` : ''}`);
        for (const s of g.snapshots) console.log(`    snapshot txid ${s.txid}  ${s.takenAt}  ${fmtBytes(s.bytes)}`);
        const seg = g.segments;
        if (seg.count) console.log(`    segments txid ${seg.minTxid}..${seg.maxTxid}  ${seg.firstObservedAt} .. ${seg.lastObservedAt}  ${seg.count} objects, ${fmtBytes(seg.bytes)}`);
        if (g.gapAfterTxid !== null) console.log(`    GAP: txids after ${g.gapAfterTxid} are missing`);
        console.log(`    restorable up to txid ${g.newestTxid}`);
      }
    }
    return 0;
  } finally {
    await closeSources(sources);
  }
}

/** Formats a byte count for people. */
export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${(n / (1 << 30)).toFixed(2)} GiB`;
}
