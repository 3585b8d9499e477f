/**
 * Callbacks a replicator reports through: the seam where metrics, health and
 * notifications attach. Every member is optional and must not throw or block.
 */
import type { BuiltSegment } from './segment-builder.js';

/** Events of one database's replication. */
export interface ReplicatorHooks {
  /** New commits were seen in the WAL. */
  onObserved?(db: string, commits: number, atMs: number): void;
  /** A segment was sealed and staged. */
  onSegment?(db: string, seg: BuiltSegment, ms: number): void;
  /** A snapshot was staged. */
  onSnapshot?(db: string, info: { txid: number; bytes: number; ms: number; generation: string }): void;
  /** A snapshot failed. */
  onSnapshotError?(db: string, message: string): void;
  /** A new generation started. */
  onGeneration?(db: string, generation: string, reason: string): void;
  /** A checkpoint ran. */
  onCheckpoint?(db: string, info: { mode: 'PASSIVE' | 'TRUNCATE'; result: 'ok' | 'busy' | 'skipped' | 'error'; ms: number; blockedMs: number }): void;
  /** An object reached a destination. */
  onUpload?(db: string, dest: string, key: string, bytes: number, ms: number): void;
  /** An upload attempt failed. */
  onUploadError?(db: string, dest: string, key: string, reason: string): void;
  /** A failing destination accepted an upload again. */
  onDestinationRecovered?(db: string, dest: string): void;
  /** An object became replicated under the database's policy. */
  onReplicated?(db: string, key: string): void;
  /** Staging went over (true) or back under (false) its limit. */
  onStagingFull?(db: string, full: boolean): void;
  /** A capture cycle failed. */
  onCaptureError?(db: string, message: string): void;
}
