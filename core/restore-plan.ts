/**
 * Chooses where a restore starts: the generation that covers the target, the
 * newest snapshot at or before it, and the contiguous segments after it.
 */
import { listGenerations, readHeader, segmentChain, type GenerationInfo, type SnapshotRef } from './catalog.js';
import { TargetError } from './errors.js';
import type { Layout } from './layout.js';
import type { ReplayPlan, RestoreTarget } from './replay.js';
import type { Storage } from './storage/storage.js';

/** Options of `planRestore`. */
export interface PlanOptions {
  /** Restore from this generation only. */
  generation?: string;
}

/** Plans a restore of `layout.db` from `storage` to `target`. */
export async function planRestore(storage: Storage, layout: Layout, target: RestoreTarget, opts: PlanOptions = {}): Promise<ReplayPlan> {
  const all = await listGenerations(storage, layout);
  let gens = all.filter((g) => g.snapshots.length > 0);
  if (opts.generation !== undefined) {
    const g = all.find((x) => x.id === opts.generation);
    if (!g) {
      throw new TargetError(`generation ${opts.generation} of database "${layout.db}" is not in ${storage.description}`, {
        hint: 'list generations with: walcast-restore list',
      });
    }
    if (g.snapshots.length === 0) throw new TargetError(`generation ${g.id} has no snapshot yet, so it cannot be restored`);
    gens = [g];
  }
  if (gens.length === 0) {
    throw new TargetError(`no restorable backup of database "${layout.db}" in ${storage.description}`, {
      hint: 'check the database name and the destination prefix; a new agent uploads its first snapshot a moment after it starts',
    });
  }

  let gen: GenerationInfo;
  let snapshot: SnapshotRef;
  if (target.kind === 'time') {
    ({ gen, snapshot } = await byTime(storage, gens, target.ms));
  } else {
    gen = gens[gens.length - 1]!;
    const limit = target.kind === 'txid' ? target.txid : Infinity;
    const fit = gen.snapshots.filter((s) => s.txid <= limit);
    if (fit.length === 0) {
      throw new TargetError(`txid ${limit} is before the oldest restorable point of generation ${gen.id} (txid ${gen.snapshots[0]!.txid})`, {
        hint: `restore --txid ${gen.snapshots[0]!.txid} or later, or pick an older generation with --generation`,
      });
    }
    snapshot = fit[fit.length - 1]!;
  }
  const chain = segmentChain(gen, snapshot.txid);
  const gapBefore = chain.gap ? gen.segments.find((s) => s.minTxid === chain.gap!.nextMin) : undefined;
  return { db: layout.db, generation: gen, snapshot, segments: chain.segments, ...(gapBefore ? { gapBefore } : {}), target };
}

/** The newest generation whose first snapshot was taken at or before `ms`, and its newest snapshot by then. */
async function byTime(storage: Storage, gens: GenerationInfo[], ms: number): Promise<{ gen: GenerationInfo; snapshot: SnapshotRef }> {
  let oldestMs = Infinity;
  for (let i = gens.length - 1; i >= 0; i--) {
    const gen = gens[i]!;
    for (let j = gen.snapshots.length - 1; j >= 0; j--) {
      const snap = gen.snapshots[j]!;
      const h = await readHeader(storage, snap.key, 'snapshot');
      oldestMs = Math.min(oldestMs, h.takenAtMs);
      if (h.takenAtMs <= ms) return { gen, snapshot: snap };
    }
  }
  throw new TargetError(`${new Date(ms).toISOString()} is before the oldest restorable point (${new Date(oldestMs).toISOString()})`, {
    hint: `restore --timestamp ${new Date(oldestMs).toISOString()} or later`,
  });
}
