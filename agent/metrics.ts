/**
 * Prometheus metrics. Events (segments, uploads, checkpoints, ...) arrive
 * through the replicator hooks and drive counters and histograms; gauges
 * (lag, RPO, positions, sizes, ages) are computed from replicator status when
 * scraped. Labels: `db`, and `destination` where it applies; reasons are
 * folded into a few fixed classes so label sets stay small.
 */
import { stat } from 'node:fs/promises';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AgentConfig } from '../core/config.js';
import type { DbReplicator } from './db-replicator.js';
import type { ReplicatorStatus } from './replicator-status.js';
import type { ReplicatorHooks } from './replicator-hooks.js';
import type { DrillResult } from './drills.js';

type Status = ReplicatorStatus;

/** Folds a generation-change reason into a label value. */
export function generationReasonClass(reason: string): string {
  if (/no previous backup|nothing recorded/.test(reason)) return 'first';
  if (/replaced|disappeared|deleted/.test(reason)) return 'file_replaced';
  if (/page size/.test(reason)) return 'page_size';
  if (/held no read|restarted/.test(reason)) return 'wal_restarted';
  if (/agent start/.test(reason)) return 'agent_start';
  return 'other';
}

/** RPO of one database: the lag of the slowest destination its policy needs. */
export function rpoSeconds(lags: number[], policy: 'all' | { quorum: number }): number {
  if (lags.length === 0) return 0;
  const sorted = [...lags].sort((a, b) => a - b);
  const needed = policy === 'all' ? sorted.length : Math.min(policy.quorum, sorted.length);
  return sorted[needed - 1]!;
}

/** The agent's metrics registry and the hooks that feed it. */
export class AgentMetrics {
  readonly registry = new Registry();
  private readonly drills = new Map<string, DrillResult & { lastSuccessMs: number }>();
  readonly hooks: ReplicatorHooks;

  constructor(
    private readonly config: Readonly<AgentConfig>,
    private readonly status: () => { replicator: DbReplicator; status: Status }[],
    version: string,
  ) {
    const r = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'walcast_' });
    const info = new Gauge({ name: 'walcast_agent_info', help: 'Agent build information (always 1)', labelNames: ['version'], registers: r });
    info.set({ version }, 1);

    const segments = new Counter({ name: 'walcast_segments_total', help: 'Segments sealed and staged', labelNames: ['db'], registers: r });
    const commits = new Counter({ name: 'walcast_commits_captured_total', help: 'Transactions captured', labelNames: ['db'], registers: r });
    const walBytes = new Counter({ name: 'walcast_captured_wal_bytes_total', help: 'WAL bytes covered by staged segments', labelNames: ['db'], registers: r });
    const segBytes = new Counter({ name: 'walcast_segment_bytes_total', help: 'Bytes of staged segments (compressed, encrypted)', labelNames: ['db'], registers: r });
    const ratio = new Gauge({ name: 'walcast_compression_ratio', help: 'WAL bytes per stored byte of the last segment', labelNames: ['db'], registers: r });
    const seal = new Histogram({ name: 'walcast_segment_seal_seconds', help: 'Time to seal and stage a segment', labelNames: ['db'], buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: r });
    const snaps = new Counter({ name: 'walcast_snapshots_total', help: 'Snapshots staged', labelNames: ['db'], registers: r });
    const snapFail = new Counter({ name: 'walcast_snapshot_failures_total', help: 'Snapshots that failed', labelNames: ['db'], registers: r });
    const snapSize = new Gauge({ name: 'walcast_snapshot_size_bytes', help: 'Size of the last snapshot', labelNames: ['db'], registers: r });
    const snapDur = new Gauge({ name: 'walcast_snapshot_duration_seconds', help: 'Time the last snapshot took', labelNames: ['db'], registers: r });
    const gens = new Counter({ name: 'walcast_generation_changes_total', help: 'New generations started, by reason', labelNames: ['db', 'reason'], registers: r });
    const ckpts = new Counter({ name: 'walcast_checkpoints_total', help: 'Checkpoints run by the agent, by mode and result', labelNames: ['db', 'mode', 'result'], registers: r });
    const ckptDur = new Histogram({ name: 'walcast_checkpoint_duration_seconds', help: 'Checkpoint duration', labelNames: ['db', 'mode'], buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: r });
    const ckptBlock = new Histogram({ name: 'walcast_checkpoint_blocked_seconds', help: 'Time the application could not commit because of a checkpoint', labelNames: ['db'], buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1], registers: r });
    const uploads = new Counter({ name: 'walcast_uploaded_objects_total', help: 'Objects confirmed by a destination', labelNames: ['db', 'destination', 'kind'], registers: r });
    const upBytes = new Counter({ name: 'walcast_uploaded_bytes_total', help: 'Bytes confirmed by a destination', labelNames: ['db', 'destination'], registers: r });
    const upErr = new Counter({ name: 'walcast_upload_errors_total', help: 'Failed upload attempts, by reason', labelNames: ['db', 'destination', 'reason'], registers: r });
    const upDur = new Histogram({ name: 'walcast_upload_duration_seconds', help: 'Time to upload one object', labelNames: ['db', 'destination'], buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: r });
    const capErr = new Counter({ name: 'walcast_capture_errors_total', help: 'Capture cycles that failed', labelNames: ['db'], registers: r });

    this.hooks = {
      onSegment: (db, seg, ms) => {
        segments.inc({ db });
        commits.inc({ db }, seg.commits.length);
        walBytes.inc({ db }, seg.walBytes);
        segBytes.inc({ db }, seg.bytes);
        if (seg.bytes > 0) ratio.set({ db }, seg.walBytes / seg.bytes);
        seal.observe({ db }, ms / 1000);
      },
      onSnapshot: (db, s) => {
        snaps.inc({ db });
        snapSize.set({ db }, s.bytes);
        snapDur.set({ db }, s.ms / 1000);
      },
      onSnapshotError: (db) => snapFail.inc({ db }),
      onGeneration: (db, _g, reason) => gens.inc({ db, reason: generationReasonClass(reason) }),
      onCheckpoint: (db, c) => {
        ckpts.inc({ db, mode: c.mode, result: c.result });
        if (c.result !== 'skipped') {
          ckptDur.observe({ db, mode: c.mode }, c.ms / 1000);
          ckptBlock.observe({ db }, c.blockedMs / 1000);
        }
      },
      onUpload: (db, destination, key, bytes, ms) => {
        uploads.inc({ db, destination, kind: key.endsWith('.seg') ? 'segment' : key.endsWith('.snap') ? 'snapshot' : 'meta' });
        upBytes.inc({ db, destination }, bytes);
        upDur.observe({ db, destination }, ms / 1000);
      },
      onUploadError: (db, destination, _key, reason) => upErr.inc({ db, destination, reason }),
      onCaptureError: (db) => capErr.inc({ db }),
    };
    this.gauges();
  }

  /** Records a restore drill's outcome. */
  recordDrill(db: string, d: DrillResult): void {
    const prev = this.drills.get(db);
    this.drills.set(db, { ...d, lastSuccessMs: d.ok ? d.atMs : prev?.lastSuccessMs ?? 0 });
  }

  private gauges(): void {
    const r = [this.registry];
    const each = (fn: (x: { replicator: DbReplicator; status: Status }) => void) => () => {
      for (const x of this.status()) fn(x);
    };
    const gauge = (name: string, help: string, labelNames: string[], collect: (g: Gauge) => void | Promise<void>) =>
      new Gauge({
        name, help, labelNames, registers: r,
        async collect() {
          this.reset();
          await collect(this);
        },
      });
    gauge('walcast_replication_lag_seconds', 'Age of the oldest committed transaction the destination has not confirmed (0 when caught up)', ['db', 'destination'], (g) =>
      each(({ status }) => status.destinations.forEach((d) => g.set({ db: status.db, destination: d.name }, d.lagSeconds)))(),
    );
    gauge('walcast_destination_up', '1 while the destination accepts uploads, 0 while it is failing', ['db', 'destination'], (g) =>
      each(({ status }) => status.destinations.forEach((d) => g.set({ db: status.db, destination: d.name }, d.failing ? 0 : 1)))(),
    );
    gauge('walcast_replicated_txid', 'Newest txid the destination confirmed', ['db', 'destination'], (g) =>
      each(({ status }) => status.destinations.forEach((d) => g.set({ db: status.db, destination: d.name }, d.replicated && d.replicated.generation === status.generation ? d.replicated.txid : 0)))(),
    );
    gauge('walcast_last_upload_timestamp_seconds', 'When the destination last confirmed an object', ['db', 'destination'], (g) =>
      each(({ status }) => status.destinations.forEach((d) => g.set({ db: status.db, destination: d.name }, d.lastAckAtMs / 1000)))(),
    );
    gauge('walcast_upload_queue_objects', 'Objects waiting for the destination', ['db', 'destination'], (g) =>
      each(({ status }) => status.destinations.forEach((d) => g.set({ db: status.db, destination: d.name }, d.queued)))(),
    );
    gauge('walcast_captured_txid', 'Newest txid captured and staged', ['db'], (g) => each(({ status }) => g.set({ db: status.db }, status.txid))());
    gauge('walcast_staging_bytes', 'Bytes in staging', ['db'], (g) => each(({ status }) => g.set({ db: status.db }, status.stagedBytes))());
    gauge('walcast_staging_limit_bytes', 'staging.maxBytes', ['db'], (g) => each(({ status }) => g.set({ db: status.db }, status.stagingLimitBytes))());
    gauge('walcast_staging_full', '1 while capture is paused because staging is full', ['db'], (g) => each(({ status }) => g.set({ db: status.db }, status.stagingFull ? 1 : 0))());
    gauge('walcast_snapshot_age_seconds', 'Age of the newest snapshot', ['db'], (g) =>
      each(({ status }) => status.lastSnapshot && g.set({ db: status.db }, (Date.now() - status.lastSnapshot.atMs) / 1000))(),
    );
    gauge('walcast_snapshot_txid', 'Txid the newest snapshot holds (compare with walcast_captured_txid: equal means nothing changed since)', ['db'], (g) =>
      each(({ status }) => status.lastSnapshot && g.set({ db: status.db }, status.lastSnapshot.txid))(),
    );
    gauge('walcast_rpo_seconds', 'Current recovery point: data that would be lost now (lag of the slowest destination the policy needs)', ['db'], (g) =>
      each(({ replicator, status }) => g.set({ db: status.db }, rpoSeconds(status.destinations.map((d) => d.lagSeconds), replicator.deps.db.replicationPolicy)))(),
    );
    gauge('walcast_rpo_target_seconds', 'rpoTargetSeconds', ['db'], (g) => each(({ status }) => g.set({ db: status.db }, this.config.rpoTargetSeconds))());
    gauge('walcast_rpo_compliant', '1 while the current RPO is within the target', ['db'], (g) =>
      each(({ replicator, status }) => g.set({ db: status.db }, rpoSeconds(status.destinations.map((d) => d.lagSeconds), replicator.deps.db.replicationPolicy) <= this.config.rpoTargetSeconds ? 1 : 0))(),
    );
    gauge('walcast_wal_size_bytes', 'Size of the WAL file', ['db'], async (g) => {
      for (const { replicator } of this.status()) g.set({ db: replicator.name }, (await stat(replicator.tailer.walPath).catch(() => null))?.size ?? 0);
    });
    gauge('walcast_database_size_bytes', 'Size of the database file', ['db'], async (g) => {
      for (const { replicator } of this.status()) g.set({ db: replicator.name }, (await stat(replicator.tailer.dbPath).catch(() => null))?.size ?? 0);
    });
    gauge('walcast_restore_drill_last_success_timestamp_seconds', 'When the last successful restore drill finished', ['db'], (g) => {
      for (const [db, d] of this.drills) if (d.lastSuccessMs) g.set({ db }, d.lastSuccessMs / 1000);
    });
    gauge('walcast_restore_drill_duration_seconds', 'Duration of the last restore drill (RTO)', ['db'], (g) => {
      for (const [db, d] of this.drills) g.set({ db }, d.ms / 1000);
    });
    gauge('walcast_restore_drill_ok', '1 when the last restore drill passed', ['db'], (g) => {
      for (const [db, d] of this.drills) g.set({ db }, d.ok ? 1 : 0);
    });
  }
}
