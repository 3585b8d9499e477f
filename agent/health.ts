/**
 * Health: every condition that needs an operator, per database. `ok` only
 * when none holds.
 */
import type { AgentConfig } from '../core/config.js';
import type { ReplicatorStatus } from './replicator-status.js';

type Status = ReplicatorStatus;

/** One failing condition. */
export interface HealthCondition {
  condition: 'destination_failing' | 'lag_over_threshold' | 'staging_filling' | 'snapshot_too_old' | 'capture_failing' | 'restore_drill_failed';
  db: string;
  destination?: string;
  detail: string;
}

/** The health report. */
export interface Health {
  status: 'ok' | 'failing';
  failing: HealthCondition[];
  databases: { db: string; txid: number; generation: string | null }[];
}

/** Evaluates health from replicator status. */
export function evaluateHealth(config: Readonly<AgentConfig>, statuses: Status[], drillFailed: (db: string) => string | null): Health {
  const failing: HealthCondition[] = [];
  const maxSnapAge = config.health.maxSnapshotAgeSeconds ?? (2 * config.snapshotIntervalMs) / 1000;
  for (const s of statuses) {
    for (const d of s.destinations) {
      if (d.failing) failing.push({ condition: 'destination_failing', db: s.db, destination: d.name, detail: `${d.lastError?.reason ?? 'error'}: ${d.lastError?.message ?? ''}` });
      if (d.lagSeconds > config.health.maxLagSeconds) {
        failing.push({ condition: 'lag_over_threshold', db: s.db, destination: d.name, detail: `lag ${d.lagSeconds.toFixed(1)} s > ${config.health.maxLagSeconds} s` });
      }
    }
    if (s.stagingFull || s.stagedBytes > config.health.stagingWarnRatio * s.stagingLimitBytes) {
      failing.push({ condition: 'staging_filling', db: s.db, detail: `${s.stagedBytes} of ${s.stagingLimitBytes} bytes staged${s.stagingFull ? '; capture paused' : ''}` });
    }
    // Stale only if history has moved on: an idle database's newest snapshot is still current.
    if (s.lastSnapshot && s.txid > s.lastSnapshot.txid && (Date.now() - s.lastSnapshot.atMs) / 1000 > maxSnapAge) {
      failing.push({ condition: 'snapshot_too_old', db: s.db, detail: `newest snapshot is ${Math.round((Date.now() - s.lastSnapshot.atMs) / 1000)} s old` });
    }
    if (s.captureError) failing.push({ condition: 'capture_failing', db: s.db, detail: s.captureError });
    const drill = drillFailed(s.db);
    if (drill) failing.push({ condition: 'restore_drill_failed', db: s.db, detail: drill });
  }
  return {
    status: failing.length ? 'failing' : 'ok',
    failing,
    databases: statuses.map((s) => ({ db: s.db, txid: s.txid, generation: s.generation })),
  };
}
