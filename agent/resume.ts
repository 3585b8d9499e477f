/**
 * When staging holds no capture state (first start, or staging lost), the
 * newest position in the destinations is the recorded state to prove
 * continuity against (capture rule 6).
 */
import { listGenerations, readHeader, segmentChain } from '../core/catalog.js';
import { describeError } from '../core/errors.js';
import { Layout } from '../core/layout.js';
import { ZERO_SHA256 } from '../core/object-format.js';
import { getBuffer } from '../core/storage/storage.js';
import { createHash } from 'node:crypto';
import type { DbReplicator } from './db-replicator.js';
import type { CaptureState } from './staging.js';

/** The newest restorable position across the destinations, as a capture state; null when there is none. */
export async function resumeFromDestinations(rep: DbReplicator): Promise<CaptureState | null> {
  let best: CaptureState | null = null;
  for (const d of rep.deps.destinations) {
    try {
      const layout = new Layout(d.prefix, rep.name);
      const gens = (await listGenerations(d.storage, layout)).filter((g) => g.snapshots.length > 0);
      const gen = gens[gens.length - 1];
      if (!gen) continue;
      const lastSnap = gen.snapshots[gen.snapshots.length - 1]!;
      const { segments } = segmentChain(gen, gen.snapshots[0]!.txid);
      const lastSeg = segments[segments.length - 1];
      const snapHeader = await readHeader(d.storage, lastSnap.key, 'snapshot');
      let state: CaptureState;
      if (lastSeg && lastSeg.maxTxid >= lastSnap.txid) {
        const body = await getBuffer(d.storage, lastSeg.key);
        const h = await readHeader(d.storage, lastSeg.key, 'segment');
        const last = h.commits[h.commits.length - 1]!;
        state = {
          version: 1, db: rep.name, generation: gen.id, txid: last.txid, checksum: last.checksum, dbPages: last.dbPages,
          pageSize: h.pageSize, prevSha256: createHash('sha256').update(body).digest('hex'), wal: null,
          observedAtMs: last.observedAtMs, lastSnapshot: { txid: lastSnap.txid, atMs: snapHeader.takenAtMs },
        };
      } else {
        // The newest snapshot is the position; segments after it (if any came first) are not contiguous.
        if (segments.length) continue;
        state = {
          version: 1, db: rep.name, generation: gen.id, txid: snapHeader.txid, checksum: snapHeader.checksum, dbPages: snapHeader.dbPages,
          pageSize: snapHeader.pageSize, prevSha256: ZERO_SHA256, wal: null,
          observedAtMs: snapHeader.takenAtMs, lastSnapshot: { txid: snapHeader.txid, atMs: snapHeader.takenAtMs },
        };
      }
      if (!best || state.generation > best.generation || (state.generation === best.generation && state.txid > best.txid)) best = state;
    } catch (err) {
      rep.log.warn({ destination: d.name, err: describeError(err).message }, 'could not read the newest position from a destination');
    }
  }
  if (best) rep.log.info({ generation: best.generation, txid: best.txid }, 'no local capture state; resuming from the newest position in the destinations');
  return best;
}
