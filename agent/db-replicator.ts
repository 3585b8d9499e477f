/**
 * Replicates one database: a single serialized loop observes the WAL, stages
 * segments, moves its read transaction forward hand over hand, runs the
 * agent's own checkpoints, and starts snapshots. The capture rules of
 * DESIGN.md are enforced here; see the comments at each step.
 */
import { join } from 'node:path';
import type { DbChecksum } from '../core/db-checksum.js';
import { describeError } from '../core/errors.js';
import { Layout } from '../core/layout.js';
import { headerPosition, positionHolds, type WalPosition } from '../core/wal-scanner.js';
import type { Logger } from './logger.js';
import { ReplicationSet } from './replication-set.js';
import type { ReplicatorDeps } from './replicator-deps.js';
import type { ReplicatorHooks } from './replicator-hooks.js';
import { resumeOrStartGeneration } from './generation.js';
import { resumeFromDestinations } from './resume.js';
import { buildSegment } from './segment-builder.js';
import { SqliteWorkerError } from './sqlite-host.js';
import { Staging, type CaptureState } from './staging.js';
import { StagingGate } from './staging-gate.js';
import { SnapshotJob } from './snapshot-job.js';
import { WalTailer } from './wal-tailer.js';
import { Backlog } from './backlog.js';
import { Checkpointer } from './checkpointer.js';
import { Fences } from './fence.js';
import { Pacer } from './pacer.js';
import { CaptureLoop } from './capture-loop.js';
import { ChangeWatcher } from './change-watcher.js';
import { ReadPin } from './read-pin.js';
import { HeldRead } from './held-read.js';
import { replicatorStatus, type ReplicatorStatus } from './replicator-status.js';
import { removeOrphans, requeueStaged } from './staged-leftovers.js';

/** A segment holds at most this many frames, unless one transaction is larger. */
const MAX_SEGMENT_FRAMES = 16_384;

/** Replicates one database. */
export class DbReplicator {
  readonly name: string;
  readonly layout: Layout;
  readonly staging: Staging;
  readonly tailer: WalTailer;
  readonly replication: ReplicationSet;
  readonly log: Logger;
  readonly hooks: ReplicatorHooks;
  /** The agent's connections and the read transaction held on them. */
  readonly read: HeldRead;
  private readonly checkpointer: Checkpointer;
  private readonly snapshots: SnapshotJob;

  state!: CaptureState;
  /** Checksum at `state.txid`; null when it must be re-proven. */
  sum: DbChecksum | null = null;
  private resyncReason = 'agent start';
  /**
   * True when there may have been a moment without a read transaction, or the
   * held read may pin less than was observed: a WAL restart is then not known
   * to be safe and needs a proof.
   */
  readGap = true;
  /** Observed commits not yet staged; `cursor` is the position after them. */
  private readonly pending = new Backlog();
  cursor: WalPosition | null = null;
  /** True when the last look stopped at a segment's cap: more committed frames lie past the cursor. */
  capped = false;
  private readonly pin = new ReadPin();
  private readonly pacer: Pacer;
  private readonly fences: Fences;
  /** Capture pauses while staging is full. */
  readonly stagingGate: StagingGate;
  private stateWrites: Promise<void> = Promise.resolve();

  private closing = false;
  private started = false;
  private watcher: ChangeWatcher | null = null;
  private readonly loop: CaptureLoop;

  constructor(readonly deps: ReplicatorDeps) {
    this.name = deps.db.name;
    this.layout = new Layout('', deps.db.name);
    this.staging = new Staging(join(deps.config.stagingDir, deps.db.name));
    this.tailer = new WalTailer(deps.db.path);
    this.log = deps.log.child({ db: deps.db.name });
    this.hooks = deps.hooks ?? {};
    this.read = new HeldRead(deps.host, deps.db.path, this.log);
    this.pacer = new Pacer(deps.config);
    this.fences = new Fences(this.name, this.staging, this.log);
    const fenced = deps.destinations.map((d) => ({ ...d, gate: () => this.fences.take(d) }));
    this.replication = new ReplicationSet(fenced, deps.db.replicationPolicy, this.staging, deps.config.staging.maxBytes, this.log, (k) => this.hooks.onReplicated?.(this.name, k), {
      onAck: (dest, key, bytes, ms) => this.hooks.onUpload?.(this.name, dest, key, bytes, ms),
      onError: (dest, key, reason) => this.hooks.onUploadError?.(this.name, dest, key, reason),
      onRecover: (dest) => this.hooks.onDestinationRecovered?.(this.name, dest),
    });
    this.stagingGate = new StagingGate(this.staging, deps.config.staging.maxBytes, this.log, (full) => this.hooks.onStagingFull?.(this.name, full));
    this.checkpointer = new Checkpointer(this, deps.config.checkpoint);
    this.snapshots = new SnapshotJob(this);
    this.loop = new CaptureLoop(() => this.cycle(false), (err, message) => this.onCycleError(err, message), this.log);
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
    // Orphans go before anything is queued for upload.
    await removeOrphans(this.staging, this.layout, this.state, this.log);
    requeueStaged(this.staging, this.layout, this.state, this.replication);
    await this.resync(recorded ? 'agent start' : 'no previous backup of this database');
    this.watcher = new ChangeWatcher([this.tailer.walPath, this.deps.db.path], () => this.wake(), this.log);
    this.loop.start();
  }

  // ---- the loop -------------------------------------------------------------

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
    if (!this.read.sqlite || !this.read.sqlite.alive) await this.openSqlite();
    await this.read.begin();
    if (!this.sum) await this.resync(this.resyncReason);
    const before = this.pending.frames;
    await this.observe();
    if (!this.sum) return 0;
    const busy = this.pacer.busy(this.pending.frames - before);
    // Commits after a whole copy back: the read moves off mark 0 at once (see ReadPin).
    if (this.pin.onCopiedBackWal && this.pending.waiting) await this.handOver(true);
    const due = force || this.capped || this.pacer.due();
    const burst = this.pending.waiting && !due && (this.pacer.earlyInMs(this.pending, this.state.pageSize) <= 0 || this.pacer.backlogFull(this.pending, this.state.pageSize));
    if (this.pending.waiting && due) {
      // A due checkpoint stages this segment itself, behind its barrier: no extra object.
      if (!(await this.checkpointer.maybeRun())) await this.stage();
    } else if (burst) {
      // A burst (a large backlog, or syncWalBytes) ships without waiting for the interval, and spends no token:
      // the interval's regular segment still goes out on time.
      await this.stage(false);
    }
    // The read moves at the interval's pace, not each burst's: moving it lets the app's
    // autocheckpoint run inside its commits; the agent's checkpoint catches up instead.
    if (!burst && !this.pending.waiting && !this.capped) {
      await this.handOver();
      if (this.pacer.due()) await this.checkpointer.maybeRun();
      if (this.snapshots.due()) await this.snapshots.start();
    }
    // Watch the files only while they change slowly (see ChangeWatcher).
    if (busy) this.watcher?.disarm();
    const watched = !busy && !this.watcher?.arm();
    // Capture waits for uploads while staging is full: the next look comes at
    // the poll, not at once (a look every few ms took a quarter of a core).
    if (this.stagingGate.full && this.stagingGate.check()) return this.deps.config.pollIntervalMs;
    return this.capped ? 0 : this.pacer.sleepMs(this.pending.waiting, watched, this.pacer.earlyInMs(this.pending, this.state.pageSize));
  }

  private onCycleError(err: unknown, message: string): void {
    // A dead worker took the read with it: the next cycle opens new connections, and a WAL restart meanwhile needs a proof.
    if (err instanceof SqliteWorkerError && this.read.sqlite && !this.read.sqlite.alive) {
      this.read.drop();
      this.readGap = true;
    }
    this.hooks.onCaptureError?.(this.name, message);
  }

  /** True while a snapshot is being taken (no hand-over, no checkpoint meanwhile). */
  get snapshotActive(): boolean {
    return this.snapshots.active;
  }

  /** Wakes the loop now (a WAL change, or a finished snapshot). */
  wake(): void {
    if (this.stagingGate.full) return; // capture waits for uploads; the poll looks again
    this.loop.wake(this.pacer.wakeGapMs(this.pending.waiting));
  }

  // ---- observe and stage ------------------------------------------------------

  /** Pass 1 over new commits, checking the WAL is still the one we were reading. */
  async observe(): Promise<void> {
    const held = this.read.held;
    const serial = this.read.serial;
    const h = await this.tailer.header();
    if (!h) return; // no WAL, or reset to empty: new frames arrive with a new header
    let from = this.cursor;
    if (from && h.salt1 === from.salt1 && h.salt2 === from.salt2 && h.pageSize === from.pageSize) {
      const wal = await this.tailer.wal();
      if (!wal || !(await positionHolds(wal, h, from))) return this.needResync('the WAL was rewritten under the same salts');
    } else {
      // A new WAL header. Safe only if a read was held throughout: then at most
      // one restart could happen, and only after every old frame was staged.
      if (this.pending.waiting) return this.needResync('the WAL restarted before observed commits were staged');
      if (this.readGap) return this.needResync('the WAL restarted while the agent held no read transaction');
      if (h.pageSize !== this.state.pageSize) return this.needResync('the page size changed');
      this.log.debug({ salt1: h.salt1 }, 'WAL restarted');
      from = this.cursor = headerPosition(h);
    }
    // A full staging holds a whole segment's worth back: look no further, so what waits stays bounded.
    if (this.pending.frames >= MAX_SEGMENT_FRAMES) return void (this.capped = true);
    const room = Math.max(1, MAX_SEGMENT_FRAMES - this.pending.frames);
    const obs = await this.tailer.observe(from, room);
    this.capped = obs.count >= room && obs.commits.length > 0;
    if (obs.commits.length) {
      this.pending.add(obs);
      this.cursor = obs.end;
      this.hooks.onObserved?.(this.name, obs.commits.length, obs.observedAtMs);
    }
    if (held && !this.capped) {
      this.readGap = false;
      if (this.read.serial === serial) this.pin.looked(serial, this.cursor!);
    }
  }

  /**
   * Seals pending commits into a segment and makes it durable in staging.
   * `paced` segments spend a token of the upload-rate bucket; a checkpoint's
   * extra ones under heavy load do not, so they never delay the regular ones.
   */
  async stage(paced = true): Promise<boolean> {
    if (!this.pending.waiting || !this.sum) return false;
    if (this.stagingGate.check()) return false;
    const started = performance.now();
    let built;
    try {
      built = await buildSegment({
        observations: this.pending.observations, firstTxid: this.state.txid + 1, sum: this.sum, pageSize: this.state.pageSize,
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
    this.pending.clear();
    if (paced) this.pacer.spend();
    this.replication.enqueue(built.key, built.bytes, built.commits[0]!.observedAtMs, built.body);
    const ms = performance.now() - started;
    this.log.debug({ minTxid: built.minTxid, maxTxid: built.maxTxid, bytes: built.bytes, walBytes: built.walBytes, ms: Math.round(ms * 10) / 10 }, 'segment staged');
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
   * checkpoints), in at most `rounds` segments; `paced` segments spend an
   * upload token, as in `stage`.
   */
  async flush(paced = true, rounds = 10_000): Promise<boolean> {
    for (let i = 0; i < rounds; i++) {
      await this.observe();
      if (!this.sum) return false;
      if (this.pending.waiting && !(await this.stage(paced))) return false;
      if (!this.capped && !this.pending.waiting) return true;
    }
    return false;
  }

  // ---- read transactions ------------------------------------------------------

  private async openSqlite(): Promise<void> {
    await this.read.open();
    this.readGap = true;
  }

  /**
   * Moves the read forward (capture rule 1); the new read starts before the
   * old one ends. Normally only once everything committed up to the end was
   * staged. `withBacklog` moves it past observed or unread commits too (under
   * sustained load): it still keeps them in the WAL, and the agent copies
   * back only once `readPinsOnlyStaged`.
   */
  async handOver(withBacklog = false): Promise<void> {
    if (!this.read.sqlite || this.snapshots.active || this.readGap) return;
    if (!withBacklog && (this.pending.waiting || this.capped)) return;
    if (!this.pin.worthMoving(this.cursor)) return;
    await this.read.moveForward();
    this.pin.moved(this.cursor);
  }

  /** Records that the WAL was just copied back whole up to the cursor, and the read begun again there. */
  copiedBack(): void {
    this.pin.copiedBack(this.cursor);
  }

  /** True when every frame the held read pins is staged: copying back up to it loses nothing if the agent dies. */
  get readPinsOnlyStaged(): boolean {
    const stagedFrame = this.pending.first ? this.pending.first.firstFrame - 1 : (this.cursor?.frame ?? 0);
    return this.read.held && this.pin.onlyStaged(this.read.serial, this.cursor, stagedFrame);
  }

  /** Frames observed and not yet staged. */
  get pendingFrameCount(): number {
    return this.pending.frames;
  }

  /** About how many observed frames the held read is behind (bursts stage without moving it). */
  get framesPastRead(): number {
    return this.pin.framesBehind(this.cursor);
  }

  private async reopen(): Promise<void> {
    await this.read.close();
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
    this.pending.clear();
    this.capped = false;
  }

  /** Drops what was observed and proves continuity with the recorded state, or starts a new generation (rule 4). */
  private async resync(reason: string): Promise<void> {
    this.pending.clear();
    this.capped = false;
    await resumeOrStartGeneration(this, reason);
  }

  // ---- shutdown -----------------------------------------------------------------

  /** Captures and uploads what is left, then closes everything; idempotent. */
  async close(deadlineMs = 30_000): Promise<void> {
    if (this.closing) return this.loop.stop();
    this.closing = true;
    const until = Date.now() + deadlineMs;
    const stopped = this.loop.stop();
    await this.watcher?.close();
    await stopped;
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
    await this.read.close();
    await this.tailer.close();
    await this.staging.unlock();
  }

  /** A snapshot of the replicator's state for health and metrics. */
  status(): ReplicatorStatus {
    return replicatorStatus({
      db: this.name, state: this.state, stagedBytes: this.staging.bytes, stagingLimitBytes: this.deps.config.staging.maxBytes,
      stagingFull: this.stagingGate.full, captureError: this.loop.error, pending: this.pending.observations, replication: this.replication,
    });
  }
}
