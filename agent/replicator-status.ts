/**
 * What health, metrics and `status` see of one replicator. Lag is measured
 * from the oldest commit a destination has not confirmed, so commits still
 * waiting to be staged count against every destination.
 */
import type { ReplicationSet } from './replication-set.js';
import type { CaptureState } from './staging.js';
import type { DestinationStatus } from './uploader.js';
import type { Observation } from './wal-tailer.js';

/** One database's replication, as reported. */
export interface ReplicatorStatus {
  db: string;
  generation: string | null;
  txid: number;
  observedAtMs: number;
  lastSnapshot: { txid: number; atMs: number } | null;
  stagedBytes: number;
  stagingLimitBytes: number;
  stagingFull: boolean;
  /** The failure the last capture cycle ended in; null once one succeeds. */
  captureError: string | null;
  pendingCommits: number;
  destinations: (DestinationStatus & { lagSeconds: number; replicated: { generation: string; txid: number } | null })[];
}

/** What the report is made from. */
export interface ReplicatorStatusInput extends Pick<ReplicatorStatus, 'db' | 'stagedBytes' | 'stagingLimitBytes' | 'stagingFull' | 'captureError'> {
  /** Absent until the replicator has started. */
  state: CaptureState | undefined;
  /** Commits observed and not yet staged, oldest first. */
  pending: readonly Observation[];
  replication: Pick<ReplicationSet, 'status' | 'oldestUnacked' | 'replicatedTxid'>;
}

/** Seconds since the oldest of two unconfirmed commit times (ms; null when none); 0 when caught up. */
function lagSeconds(oldestPendingMs: number | null, oldestUnackedMs: number | null, nowMs: number): number {
  const oldest = oldestPendingMs === null ? oldestUnackedMs : oldestUnackedMs === null ? oldestPendingMs : Math.min(oldestPendingMs, oldestUnackedMs);
  return oldest === null ? 0 : Math.max(0, (nowMs - oldest) / 1000);
}

/** The report, with every destination's lag taken at one moment. */
export function replicatorStatus(input: ReplicatorStatusInput): ReplicatorStatus {
  const now = Date.now();
  const { state, replication } = input;
  const pendingOldest = input.pending[0]?.observedAtMs ?? null;
  return {
    db: input.db,
    generation: state?.generation ?? null,
    txid: state?.txid ?? 0,
    observedAtMs: state?.observedAtMs ?? 0,
    lastSnapshot: state?.lastSnapshot ?? null,
    stagedBytes: input.stagedBytes,
    stagingLimitBytes: input.stagingLimitBytes,
    stagingFull: input.stagingFull,
    captureError: input.captureError,
    pendingCommits: input.pending.reduce((n, o) => n + o.commits.length, 0),
    destinations: replication.status().map((d) => ({
      ...d,
      lagSeconds: lagSeconds(pendingOldest, replication.oldestUnacked(d.name), now),
      replicated: replication.replicatedTxid(d.name),
    })),
  };
}
