/**
 * Which generation capture goes on in (capture rule 4): the recorded one when
 * the database and its WAL are proven to continue it, else a new one.
 * Histories are never spliced.
 *
 * Starting a generation: a fresh id, a meta.json, and a base snapshot at the
 * position the continuity proof ended on, all staged before the capture state
 * names the new generation (so a crash in between leaves only orphans that the
 * next start removes).
 */
import { hostname } from 'node:os';
import type { GenerationMeta } from '../core/catalog.js';
import { newGenerationId } from '../core/layout.js';
import { ZERO_SHA256 } from '../core/object-format.js';
import { formatChecksum } from '../core/page-hash.js';
import { proveContinuity, type ProofResult } from './continuity.js';
import type { DbReplicator } from './db-replicator.js';
import { writeSnapshot } from './snapshotter.js';
import { removeOrphans } from './staged-leftovers.js';
import type { CaptureState } from './staging.js';

/** Resumes the recorded generation where the proof found it, or starts a new one; `reason` is logged. */
export async function resumeOrStartGeneration(rep: DbReplicator, reason: string): Promise<void> {
  await rep.read.begin(); // held from before the proof reads anything
  const proof = await proveContinuity(rep.tailer, (rep.state as CaptureState | undefined) ?? null);
  await removeOrphans(rep.staging, rep.layout, rep.state, rep.log);
  if (proof.matched) {
    rep.sum = proof.sum;
    rep.cursor = proof.position;
    // A WAL restart is safe only if the held read pins no more than what the proof reached.
    rep.readGap = !proof.atEnd;
    await rep.saveState((s) => ({ ...s, wal: proof.position }));
    rep.log.info({ reason, txid: rep.state.txid, generation: rep.state.generation, at: proof.detail }, 'continuity proven; resuming the generation');
    return;
  }
  await startGeneration(rep, proof, `${reason}: ${proof.detail}`);
}

/** Starts a new generation at the proof's position; `reason` is logged and recorded. */
export async function startGeneration(rep: DbReplicator, proof: ProofResult, reason: string): Promise<void> {
  const started = performance.now();
  const previous = rep.state as typeof rep.state | undefined;
  const generation = newGenerationId();
  const takenAtMs = Date.now();
  const checksum = formatChecksum(proof.sum.value);
  const meta: GenerationMeta = {
    db: rep.name,
    generation,
    pageSize: proof.pageSize,
    startedAt: new Date(takenAtMs).toISOString(),
    host: hostname(),
    reason,
    ...(previous ? { parent: { generation: previous.generation, txid: previous.txid } } : {}),
  };
  const metaKey = rep.layout.meta(generation);
  const metaBody = Buffer.from(JSON.stringify(meta, null, 2));
  await rep.staging.objects.put(metaKey, metaBody);
  rep.staging.track(metaKey, metaBody.length);
  const snap = await writeSnapshot({
    tailer: rep.tailer, position: proof.position, dbPages: proof.sum.dbPages, pageSize: proof.pageSize, checksum,
    txid: 0, generation, takenAtMs, layout: rep.layout, keyring: rep.deps.keyring,
    compress: rep.deps.config.compression === 'lz4', staging: rep.staging.objects,
  });
  rep.staging.track(snap.key, snap.bytes);
  await rep.saveState(() => ({
    version: 1, db: rep.name, generation, txid: 0, checksum, dbPages: proof.sum.dbPages, pageSize: proof.pageSize,
    prevSha256: ZERO_SHA256, wal: proof.position, observedAtMs: takenAtMs, lastSnapshot: { txid: 0, atMs: takenAtMs },
  }));
  rep.sum = proof.sum;
  rep.cursor = proof.position;
  rep.readGap = false; // the read was held from before the proof, which read to the end
  rep.replication.enqueue(metaKey, metaBody.length);
  rep.replication.enqueue(snap.key, snap.bytes);
  const ms = performance.now() - started;
  rep.log.info({ generation, reason, dbPages: proof.sum.dbPages, snapshotBytes: snap.bytes, ms: Math.round(ms) }, 'new generation started');
  rep.hooks.onGeneration?.(rep.name, generation, reason);
  rep.hooks.onSnapshot?.(rep.name, { txid: 0, bytes: snap.bytes, ms, generation });
}
