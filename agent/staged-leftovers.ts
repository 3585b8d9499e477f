/**
 * What staging holds from before now. Objects ahead of the capture state were
 * written just before a crash and never uploaded: they must go before
 * anything is uploaded, or a destination could receive a history the state
 * does not continue. The rest is still owed to the destinations.
 */
import type { Layout } from '../core/layout.js';
import type { Logger } from './logger.js';
import type { ReplicationSet } from './replication-set.js';
import type { CaptureState, Staging } from './staging.js';

/** Removes staged objects ahead of `state`; with no state, removes nothing. */
export async function removeOrphans(staging: Staging, layout: Layout, state: CaptureState | undefined, log: Logger): Promise<void> {
  if (!state) return;
  for (const o of staging.list()) {
    const p = layout.parse(o.key);
    if (!p) continue;
    const ahead =
      p.generation > state.generation ||
      (p.generation === state.generation && ((p.kind === 'segment' && p.maxTxid > state.txid) || (p.kind === 'snapshot' && p.txid > state.txid)));
    if (ahead) {
      log.info({ object: o.key }, 'removing a staged object written after the last saved state');
      await staging.remove(o.key);
    }
  }
}

/**
 * Queues every staged object for upload. What is no longer staged was
 * confirmed, so each destination is taken to hold the generation up to just
 * before its first staged segment.
 */
export function requeueStaged(staging: Staging, layout: Layout, state: CaptureState | undefined, replication: ReplicationSet): void {
  if (state) {
    const staged = staging.list().map((o) => layout.parse(o.key)).filter((p) => p?.kind === 'segment' && p.generation === state.generation);
    const firstStaged = Math.min(...staged.map((p) => (p as { minTxid: number }).minTxid));
    replication.seed(state.generation, Number.isFinite(firstStaged) ? firstStaged - 1 : state.txid);
  }
  for (const o of staging.list()) replication.enqueue(o.key, o.size, o.key.endsWith('.seg') ? state?.observedAtMs ?? Date.now() : undefined);
}
