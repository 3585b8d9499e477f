/**
 * Replicates one database: a single serialized loop observes the WAL, stages
 * segments, moves its read transaction forward hand over hand, runs the
 * agent's own checkpoints, and starts snapshots. The capture rules of
 * DESIGN.md are enforced here; see the comments at each step.
 */
import { watch, type FSWatcher } from 'chokidar';
import { join } from 'node:path';
import type { DbChecksum } from '../core/db-checksum.js';
import { describeError } from '../core/errors.js';
import type { Keyring } from '../core/keyring.js';
import { Layout } from '../core/layout.js';
import { headerPosition, positionHolds, type WalPosition } from '../core/wal-scanner.js';
import type { AgentConfig, DatabaseConfig } from '../core/config.js';
import { proveContinuity, type ProofResult } from './continuity.js';
import { startGeneration } from './generation.js';
import type { Logger } from './logger.js';
import { ReplicationSet, type OpenDestination } from './replication-set.js';
import type { ReplicatorHooks } from './replicator-hooks.js';
import { resumeFromDestinations } from './resume.js';
import { buildSegment } from './segment-builder.js';
import { SqliteHandle, SqliteHost, SqliteWorkerError } from './sqlite-host.js';
import { Staging, type CaptureState } from './staging.js';
import { SnapshotJob } from './snapshot-job.js';
import { notWal, WalTailer, type Observation } from './wal-tailer.js';
import { Checkpointer } from './checkpointer.js';
import { Fences } from './fence.js';
import { Pacer } from './pacer.js';
import { Alarm } from './alarm.js';

/** A segment holds at most this many frames, unless one transaction is larger. */
const MAX_SEGMENT_FRAMES = 16_384;
const SQLITE_BUSY_MS = 100;

/** Everything a replicator needs from the agent. */
export interface ReplicatorDeps {
  config: Readonly<AgentConfig>;
  db: Readonly<DatabaseConfig>;
  keyring: Keyring;
  host: SqliteHost;
  log: Logger;
  destinations: OpenDestination[];
  hooks?: ReplicatorHooks;
}

/** Replicates one database. */
export class DbReplicator {
  readonly name: string;
  readonly layout: Layout;
  readonly staging: Staging;
  readonly tailer: WalTailer;
  readonly replication: ReplicationSet;
  readonly log: Logger;
  readonly hooks: ReplicatorHooks;
  private readonly checkpointer: Checkpointer;
  private readonly snapshots: SnapshotJob;

  state!: CaptureState;
  /** Checksum at `state.txid`; null when it must be re-proven. */
  sum: DbChecksum | null = null;
  private resyncReason = 'agent start';
  sqlite: SqliteHandle | null = null;
  /** Reader slot holding the current read transaction. */
  readSlot: 0 | 1 | null = null;
  /**
   * True when there may have been a moment without a read transaction, or the
   * held read may pin less than was observed: a WAL restart is then not known
   * to be safe and needs a proof.
   */
  readGap = true;
  /** Observed commits not yet staged, and the position after them. */
  private pending: Observation[] = [];
  private pendingFrames = 0;
  cursor: WalPosition | null = null;
  private capped = false;
  private readonly pacer: Pacer;
  private readonly fences: Fences;
  stagingFull = false;
  private stateWrites: Promise<void> = Promise.resolve();

  private closing = false;
  private started = false;
  private watcher: FSWatcher | null = null;
  private readonly alarm = new Alarm();
  private loopDone: Promise<void> = Promise.resolve();
  private lastError: { message: string; atMs: number } | null = null;

  constructor(readonly deps: ReplicatorDeps) {
    this.name = deps.db.name;
    this.layout = new Layout('', deps.db.name);
    this.staging = new Staging(join(deps.config.stagingDir, deps.db.name));
    this.tailer = new WalTailer(deps.db.path);
    this.log = deps.log.child({ db: deps.db.name });
    this.hooks = deps.hooks ?? {};
    this.pacer = new Pacer(deps.config.syncIntervalMs);
    this.fences = new Fences(this.name, this.staging, this.log);
    const fenced = deps.destinations.map((d) => ({ ...d, gate: () => this.fences.take(d) }));
    this.replication = new ReplicationSet(fenced, deps.db.replicationPolicy, this.staging, deps.config.staging.maxBytes, this.log, (k) => this.hooks.onReplicated?.(this.name, k), {
      onAck: (dest, key, bytes, ms) => this.hooks.onUpload?.(this.name, dest, key, bytes, ms),
      onError: (dest, key, reason) => this.hooks.onUploadError?.(this.name, dest, key, reason),
      onRecover: (dest) => this.hooks.onDestinationRecovered?.(this.name, dest),
    });
    this.checkpointer = new Checkpointer(this, deps.config.checkpoint);
    this.snapshots = new SnapshotJob(this);
  }

  /** Opens the database, resumes or starts a generation, and starts the capture loop. */
  async start(): Promise<void> {
    const header = await this.tailer.open();
    await this.staging.init(this.name);
    try {
      await this.fences.takeAll(this.deps.destinations);
    } catch (err) {
      await this.staging.unlock();
      throw err;
    }
    await this.openSqlite();
    const recorded = (await this.staging.readState()) ?? (await resumeFromDestinations(this));
    if (recorded) this.state = recorded;
    if (recorded && recorded.pageSize !== header.pageSize) this.log.warn('page size differs from the recorded state');
    this.started = true;
    // Orphans (staged just before a crash, after the last saved state) must go before anything is uploaded.
    await this.removeOrphans();
    if (this.state) {
      const staged = this.staging.list().map((o) => this.layout.parse(o.key)).filter((p) => p?.kind === 'segment' && p.generation === this.state.generation);
      const firstStaged = Math.min(...staged.map((p) => (p as { minTxid: number }).minTxid));
      this.replication.seed(this.state.generation, Number.isFinite(firstStaged) ? firstStaged - 1 : this.state.txid);
    }
    for (const o of this.staging.list()) this.replication.enqueue(o.key, o.size, o.key.endsWith('.seg') ? this.state?.observedAtMs ?? Date.now() : undefined);
    await this.resync(recorded ? 'agent start' : 'no previous backup of this database');
    this.watch();
    this.loopDone = this.loop();
  }

  // ---- the loop -------------------------------------------------------------

  private async loop(): Promise<void> {
    let delay = 0;
    while (!this.closing) {
      await this.alarm.sleep(delay);
      if (this.closing) break;
      try {
        delay = await this.cycle(false);
        this.lastError = null;
      } catch (err) {
        delay = this.onCycleError(err);
      }
    }
  }

  /**
   * One pass: prove continuity if needed, observe, stage when due, hand the
   * read over, checkpoint, snapshot. Returns how long to wait before the next.
   */
  async cycle(force: boolean): Promise<number> {
    const replaced = await this.tailer.replaced();
    if (replaced) {
      await this.reopen();
      this.needResync(replaced);
    }
    if (!this.sqlite || !this.sqlite.alive) await this.openSqlite();
    if (this.readSlot === null) await this.beginRead();
    if (!this.sum) await this.resync(this.resyncReason);
    await this.observe();
    if (!this.sum) return 0;
    const interval = this.deps.config.syncIntervalMs;
    const due = force || this.capped || this.pacer.available() >= 1;
    if (this.pending.length && due) {
      // A due checkpoint stages this segment itself, behind its barrier: no extra object.
      if (!(await this.checkpointer.maybeRun())) await this.stage();
    }
    if (!this.pending.length && !this.capped) {
      await this.handOver();
      if (this.pacer.available() >= 1) await this.checkpointer.maybeRun();
      if (this.snapshots.due()) await this.snapshots.start();
    }
    if (this.capped) return 0;
    if (this.pending.length) return Math.max(0, (1 - this.pacer.available()) * interval);
    return this.deps.config.pollIntervalMs;
  }

  private onCycleError(err: unknown): number {
    const { message, hint } = describeError(err);
    if (err instanceof SqliteWorkerError && this.sqlite && !this.sqlite.alive) {
      this.sqlite = null;
      this.readSlot = null;
      this.readGap = true;
    }
    if (!this.lastError || this.lastError.message !== message || Date.now() - this.lastError.atMs > 60_000) {
      this.log.error({ err: message, hint }, 'capture cycle failed; retrying');
      this.lastError = { message, atMs: Date.now() };
    }
    this.hooks.onCaptureError?.(this.name, message);
    return 1000;
  }

  /** True while a snapshot is being taken (no hand-over, no checkpoint meanwhile). */
  get snapshotActive(): boolean {
    return this.snapshots.active;
  }

  /** Wakes the loop now (a WAL change, or a finished snapshot). */
  wake(): void {
    this.alarm.wake();
  }

  private watch(): void {
    // Watch events are only a hint that makes capture prompt; the poll is the
    // truth. The two files are watched, not their folder: a folder watch
    // rescans the folder on every WAL write.
    this.watcher = watch([this.tailer.walPath, this.deps.db.path], { ignoreInitial: true, persistent: false, alwaysStat: false })
      .on('all', () => this.wake())
      .on('error', (err) => this.log.debug({ err: String(err) }, 'file watch error; polling continues'));
  }

  // ---- observe and stage ------------------------------------------------------

  /** Pass 1 over new commits, checking the WAL is still the one we were reading. */
  async observe(): Promise<void> {
    const held = this.readSlot !== null;
    const h = await this.tailer.header();
    if (!h) return; // no WAL, or reset to empty: new frames arrive with a new header
    let from = this.cursor;
    if (from && h.salt1 === from.salt1 && h.salt2 === from.salt2 && h.pageSize === from.pageSize) {
      const wal = await this.tailer.wal();
      if (!wal || !(await positionHolds(wal, h, from))) return this.needResync('the WAL was rewritten under the same salts');
    } else {
      // A new WAL header. Safe only if a read was held throughout: then at most
      // one restart could happen, and only after every old frame was staged.
      if (this.pending.length) return this.needResync('the WAL restarted before observed commits were staged');
      if (this.readGap) return this.needResync('the WAL restarted while the agent held no read transaction');
      if (h.pageSize !== this.state.pageSize) return this.needResync('the page size changed');
      this.log.debug({ salt1: h.salt1 }, 'WAL restarted');
      from = this.cursor = headerPosition(h);
    }
    const room = Math.max(1, MAX_SEGMENT_FRAMES - this.pendingFrames);
    const obs = await this.tailer.observe(from, room);
    this.capped = obs.count >= room && obs.commits.length > 0;
    if (obs.commits.length) {
      this.pending.push(obs);
      this.pendingFrames += obs.count;
      this.cursor = obs.end;
      this.hooks.onObserved?.(this.name, obs.commits.length, obs.observedAtMs);
    }
    if (held && !this.capped) this.readGap = false;
  }

  /**
   * Seals pending commits into a segment and makes it durable in staging.
   * `paced` segments spend a token of the upload-rate bucket; a checkpoint's
   * extra ones under heavy load do not, so they never delay the regular ones.
   */
  async stage(paced = true): Promise<boolean> {
    if (!this.pending.length || !this.sum) return false;
    if (this.staging.bytes > this.deps.config.staging.maxBytes) {
      if (!this.stagingFull) this.log.error({ stagedBytes: this.staging.bytes, hint: 'check destination health; the WAL stays pinned until uploads catch up' }, 'staging is full; capture paused');
      this.stagingFull = true;
      this.hooks.onStagingFull?.(this.name, true);
      return false;
    }
    if (this.stagingFull) this.hooks.onStagingFull?.(this.name, false);
    this.stagingFull = false;
    const started = performance.now();
    let built;
    try {
      built = await buildSegment({
        observations: this.pending, firstTxid: this.state.txid + 1, sum: this.sum, pageSize: this.state.pageSize,
        generation: this.state.generation, prevSha256: this.state.prevSha256, layout: this.layout, tailer: this.tailer,
        keyring: this.deps.keyring, compress: this.deps.config.compression === 'lz4', staging: this.staging.objects,
      });
    } catch (err) {
      this.needResync(`staging a segment failed: ${describeError(err).message}`);
      throw err;
    }
    this.staging.track(built.key, built.bytes);
    await this.saveState((s) => ({
      ...s, txid: built.maxTxid, checksum: built.checksum, dbPages: built.dbPages,
      prevSha256: built.sha256, wal: built.end, observedAtMs: built.observedAtMs,
    }));
    this.pending = [];
    this.pendingFrames = 0;
    if (paced) this.pacer.spend();
    this.replication.enqueue(built.key, built.bytes, built.commits[0]!.observedAtMs);
    const ms = performance.now() - started;
    this.log.debug({ minTxid: built.minTxid, maxTxid: built.maxTxid, bytes: built.bytes, walBytes: built.walBytes, ms: Math.round(ms) }, 'segment staged');
    this.hooks.onSegment?.(this.name, built, ms);
    return true;
  }

  /**
   * Persists the capture state. Writes are serialized and each `update` is
   * applied to the state as the previous write left it, so a snapshot
   * finishing beside a segment never writes back an older position.
   */
  async saveState(update: (current: CaptureState) => CaptureState): Promise<void> {
    const write = this.stateWrites.then(async () => {
      const next = update(this.state);
      await this.staging.writeState(next);
      this.state = next;
    });
    this.stateWrites = write.catch(() => {});
    try {
      await write;
    } catch (err) {
      this.needResync('writing the capture state failed');
      throw err;
    }
  }

  /**
   * Observes and stages until nothing committed is left (shutdown, --once,
   * checkpoints); `paced` segments spend an upload token, as in `stage`.
   */
  async flush(paced = true): Promise<boolean> {
    for (let i = 0; i < 10_000; i++) {
      await this.observe();
      if (!this.sum) return false;
      if (this.pending.length && !(await this.stage(paced))) return false;
      if (!this.capped && !this.pending.length) return true;
    }
    return false;
  }

  // ---- read transactions ------------------------------------------------------

  private async openSqlite(): Promise<void> {
    const r = await this.deps.host.open(this.deps.db.path, SQLITE_BUSY_MS);
    if (!r.handle) throw notWal(this.deps.db.path, `journal_mode is ${r.journalMode}`);
    this.sqlite = r.handle;
    this.readSlot = null;
    this.readGap = true;
  }

  /** Starts a read transaction when none is held. */
  async beginRead(): Promise<void> {
    if (this.readSlot !== null || !this.sqlite) return;
    this.readSlot = await this.sqlite.beginRead();
  }

  /** Ends the held read transaction (only behind a barrier or before a TRUNCATE). */
  async endRead(): Promise<void> {
    if (this.readSlot === null || !this.sqlite) return;
    const slot = this.readSlot;
    this.readSlot = null;
    await this.sqlite.endRead(slot);
  }

  /**
   * Moves the read forward (capture rule 1): only once everything committed
   * up to the end was staged; the new read starts before the old one ends.
   */
  async handOver(): Promise<void> {
    if (!this.sqlite || this.snapshots.active || this.pending.length || this.capped || this.readGap) return;
    const old = this.readSlot;
    try {
      this.readSlot = await this.sqlite.beginRead();
    } catch (err) {
      this.log.debug({ err: describeError(err).message }, 'could not start a new read; keeping the old one');
      return;
    }
    if (old !== null) await this.sqlite.endRead(old);
  }

  /** Frames observed and not yet staged. */
  get pendingFrameCount(): number {
    return this.pendingFrames;
  }

  /**
   * Moves the read forward, then stages what was committed since: afterwards
   * the held read pins only staged frames. False when that could not be done
   * (a backlog too large for one segment, staging full, a restart).
   */
  async stageAfterHandOver(): Promise<boolean> {
    if (this.pending.length || this.capped || this.readGap) return false;
    await this.handOver();
    await this.observe();
    if (this.capped || this.readGap || !this.sum) return false;
    if (this.pending.length && !(await this.stage(false))) return false;
    return this.pending.length === 0;
  }

  /**
   * Moves the read forward and looks again: true when nothing was committed
   * past the staged end, so the held read pins no unstaged frame.
   */
  async pinsOnlyStaged(): Promise<boolean> {
    if (this.pending.length || this.capped || this.readGap) return false;
    await this.handOver();
    await this.observe();
    return this.pending.length === 0 && !this.capped && !this.readGap;
  }

  private async reopen(): Promise<void> {
    await this.sqlite?.close().catch(() => {});
    this.sqlite = null;
    this.readSlot = null;
    this.readGap = true;
    this.cursor = null;
    await this.tailer.open();
  }

  // ---- continuity and generations ---------------------------------------------

  /** Marks the checksum untrusted; the next cycle proves continuity or starts a generation. */
  needResync(reason: string): void {
    if (this.sum) this.log.warn({ reason }, 'continuity in question; re-proving');
    this.sum = null;
    this.resyncReason = reason;
    this.pending = [];
    this.pendingFrames = 0;
    this.capped = false;
  }

  /** Proves continuity with the recorded state, or starts a new generation (rule 4). */
  private async resync(reason: string): Promise<void> {
    this.pending = [];
    this.pendingFrames = 0;
    this.capped = false;
    await this.beginRead(); // held from before the proof reads anything
    const proof: ProofResult = await proveContinuity(this.tailer, (this.state as CaptureState | undefined) ?? null);
    await this.removeOrphans();
    if (proof.matched) {
      this.sum = proof.sum;
      this.cursor = proof.position;
      // A WAL restart is safe only if the held read pins no more than what the proof reached.
      this.readGap = !proof.atEnd;
      await this.saveState((s) => ({ ...s, wal: proof.position }));
      this.log.info({ reason, txid: this.state.txid, generation: this.state.generation, at: proof.detail }, 'continuity proven; resuming the generation');
      return;
    }
    await startGeneration(this, proof, `${reason}: ${proof.detail}`);
  }

  /** Removes staged objects ahead of the capture state (written just before a crash, never uploaded). */
  private async removeOrphans(): Promise<void> {
    if (!this.state) return;
    for (const o of this.staging.list()) {
      const p = this.layout.parse(o.key);
      if (!p) continue;
      const ahead =
        p.generation > this.state.generation ||
        (p.generation === this.state.generation &&
          ((p.kind === 'segment' && p.maxTxid > this.state.txid) || (p.kind === 'snapshot' && p.txid > this.state.txid)));
      if (ahead) {
        this.log.info({ object: o.key }, 'removing a staged object written after the last saved state');
        await this.staging.remove(o.key);
      }
    }
  }

  // ---- shutdown -----------------------------------------------------------------

  /** Captures and uploads what is left, then closes everything; idempotent. */
  async close(deadlineMs = 30_000): Promise<void> {
    if (this.closing) return this.loopDone;
    this.closing = true;
    const until = Date.now() + deadlineMs;
    await this.watcher?.close().catch(() => {});
    this.wake();
    await this.loopDone;
    if (this.started) {
      await this.snapshots.wait(Math.max(0, until - Date.now()));
      try {
        if (this.sum) await this.flush();
      } catch (err) {
        this.log.error({ err: describeError(err).message }, 'final capture failed; the WAL keeps what was not captured');
      }
      const drained = await this.replication.drain(Math.max(0, until - Date.now()));
      if (!drained) this.log.warn('shutdown deadline reached with uploads pending; they stay staged for the next start');
      await this.fences.releaseAll(this.deps.destinations);
    }
    await this.replication.close();
    await this.sqlite?.close().catch(() => {});
    await this.tailer.close();
    await this.staging.unlock();
  }

  /**
   * Seconds since the oldest commit `dest` has not confirmed was observed
   * (commits not yet staged count for every destination); 0 when caught up.
   */
  lagSeconds(dest: string, nowMs = Date.now()): number {
    const pendingOldest = this.pending[0]?.observedAtMs ?? null;
    const unacked = this.replication.oldestUnacked(dest);
    const oldest = pendingOldest === null ? unacked : unacked === null ? pendingOldest : Math.min(pendingOldest, unacked);
    return oldest === null ? 0 : Math.max(0, (nowMs - oldest) / 1000);
  }

  /** A snapshot of the replicator's state for health and metrics. */
  status() {
    const now = Date.now();
    return {
      db: this.name,
      generation: this.state?.generation ?? null,
      txid: this.state?.txid ?? 0,
      observedAtMs: this.state?.observedAtMs ?? 0,
      lastSnapshot: this.state?.lastSnapshot ?? null,
      stagedBytes: this.staging.bytes,
      stagingLimitBytes: this.deps.config.staging.maxBytes,
      stagingFull: this.stagingFull,
      captureError: this.lastError?.message ?? null,
      pendingCommits: this.pending.reduce((n, o) => n + o.commits.length, 0),
      destinations: this.replication.status().map((d) => ({
        ...d,
        lagSeconds: this.lagSeconds(d.name, now),
        replicated: this.replication.replicatedTxid(d.name),
      })),
    };
  }
}
