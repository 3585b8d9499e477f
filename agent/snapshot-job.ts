/**
 * Periodic snapshots, taken while capture goes on. The position is fixed at a
 * moment when the held read transaction pins no more than what was staged;
 * until the snapshot is staged the read is not moved and the agent runs no
 * checkpoint, so nothing can be copied into the database file past it.
 */
import { describeError } from '../core/errors.js';
import type { DbReplicator } from './db-replicator.js';
import { writeSnapshot } from './snapshotter.js';

/** Runs at most one snapshot at a time for one database. */
export class SnapshotJob {
  active = false;
  private task: Promise<void> | null = null;
  private failedAtMs = 0;

  constructor(private readonly rep: DbReplicator) {}

  /** True when a snapshot is due: the interval passed and something changed since the last one. */
  due(): boolean {
    const r = this.rep;
    if (this.active || !r.sum || r.stagingGate.full || !r.state || Date.now() - this.failedAtMs < 60_000) return false;
    const last = r.state.lastSnapshot;
    return Date.now() - last.atMs >= r.deps.config.snapshotIntervalMs && r.state.txid > last.txid;
  }

  /** Fixes the position and starts the snapshot in the background. */
  async start(): Promise<void> {
    const r = this.rep;
    await r.handOver();
    if (!(await r.flush()) || r.readGap) return;
    const at = { ...r.state };
    this.active = true;
    const started = performance.now();
    this.task = writeSnapshot({
      tailer: r.tailer, position: at.wal, dbPages: at.dbPages, pageSize: at.pageSize, checksum: at.checksum,
      txid: at.txid, generation: at.generation, takenAtMs: at.observedAtMs, layout: r.layout, keyring: r.deps.keyring,
      compress: r.deps.config.compression === 'lz4', staging: r.staging.objects,
    })
      .then(async (snap) => {
        if (r.state.generation !== at.generation) {
          await r.staging.remove(snap.key);
          return;
        }
        r.staging.track(snap.key, snap.bytes);
        await r.saveState((s) => (s.generation === at.generation ? { ...s, lastSnapshot: { txid: at.txid, atMs: Date.now() } } : s));
        r.replication.enqueue(snap.key, snap.bytes);
        const ms = performance.now() - started;
        r.log.info({ txid: at.txid, bytes: snap.bytes, ms: Math.round(ms) }, 'snapshot staged');
        r.hooks.onSnapshot?.(r.name, { txid: at.txid, bytes: snap.bytes, ms, generation: at.generation });
      })
      .catch((err) => {
        this.failedAtMs = Date.now();
        const { message } = describeError(err);
        r.log.error({ txid: at.txid, err: message }, 'snapshot failed; retrying in a minute');
        r.hooks.onSnapshotError?.(r.name, message);
      })
      .finally(() => {
        this.active = false;
        this.task = null;
        r.wake();
      });
  }

  /** Waits for a running snapshot, at most `ms`. */
  async wait(ms: number): Promise<void> {
    if (!this.task) return;
    let t: NodeJS.Timeout | undefined;
    await Promise.race([this.task, new Promise<void>((res) => (t = setTimeout(res, ms)))]);
    clearTimeout(t);
  }
}
