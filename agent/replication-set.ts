/**
 * The destinations of one database: one uploader (queue, position, retries)
 * per destination, and the policy that decides when a staged object counts as
 * replicated and may leave staging. Fan-out is not a storage backend.
 *
 * - `all`: replicated once every destination confirmed it.
 * - `quorum: k`: replicated once k confirmed it. It still stays staged until
 *   every destination has it, so a slow destination catches up from staging;
 *   only when staging is over its limit are quorum-replicated objects released
 *   early (the lagging destination then misses them until its next snapshot).
 */
import type { Storage } from '../core/storage/storage.js';
import type { Logger } from './logger.js';
import type { Staging } from './staging.js';
import { Uploader, type DestinationStatus, type UploaderEvents } from './uploader.js';

/** A configured destination, opened. */
export interface OpenDestination {
  name: string;
  storage: Storage;
  prefix: string;
  /** Runs once before the first upload (the writer fence). */
  gate?: () => Promise<void>;
}

/** Called when an object becomes replicated under the policy. */
export type ReplicatedHook = (key: string) => void;

/** Uploads and acknowledgements for one database. */
export class ReplicationSet {
  readonly uploaders: Uploader[];
  private readonly acks = new Map<string, Set<string>>();
  private readonly needed: number;
  /** Per destination: staged segments it has not confirmed, with their oldest commit's observed time. */
  private readonly unacked = new Map<string, Map<string, number>>();
  /** Per destination: the highest txid of a confirmed segment, by generation. */
  private readonly replicated = new Map<string, { generation: string; txid: number }>();

  constructor(
    destinations: OpenDestination[],
    policy: 'all' | { quorum: number },
    private readonly staging: Staging,
    private readonly maxStagingBytes: number,
    log: Logger,
    private readonly onReplicated: ReplicatedHook,
    extra: Partial<UploaderEvents> = {},
  ) {
    this.needed = policy === 'all' ? destinations.length : policy.quorum;
    const events: UploaderEvents = {
      ...extra,
      onAck: (dest, key, bytes, ms) => {
        extra.onAck?.(dest, key, bytes, ms);
        void this.ack(dest, key);
      },
    };
    this.uploaders = destinations.map((d) => new Uploader(d.name, d.storage, d.prefix, staging, log, events, d.gate));
    for (const d of destinations) this.unacked.set(d.name, new Map());
  }

  /**
   * Sends a staged object to every destination. `oldestCommitMs` (segments)
   * is when its first commit was observed: what the lag is measured from.
   * `body`, when given, is the staged object's bytes (see Uploader.enqueue).
   */
  enqueue(key: string, size: number, oldestCommitMs?: number, body?: Buffer | null): void {
    this.acks.set(key, this.acks.get(key) ?? new Set());
    if (oldestCommitMs !== undefined) for (const m of this.unacked.values()) m.set(key, oldestCommitMs);
    for (const u of this.uploaders) u.enqueue(key, size, body);
  }

  /** Observed time of the oldest commit `dest` has not confirmed; null when it has everything staged. */
  oldestUnacked(dest: string): number | null {
    let oldest: number | null = null;
    for (const t of this.unacked.get(dest)?.values() ?? []) if (oldest === null || t < oldest) oldest = t;
    return oldest;
  }

  /** Highest confirmed txid per destination. */
  replicatedTxid(dest: string): { generation: string; txid: number } | null {
    return this.replicated.get(dest) ?? null;
  }

  /** At start: every destination holds `generation` up to `txid` (what is no longer staged was confirmed). */
  seed(generation: string, txid: number): void {
    for (const u of this.uploaders) if (!this.replicated.has(u.name)) this.replicated.set(u.name, { generation, txid });
  }

  /** Records a segment as confirmed by `dest` (also used for what a destination already held). */
  private noteSegment(dest: string, key: string): void {
    this.unacked.get(dest)?.delete(key);
    const m = /\/([0-9a-f]{24})\/segments\/\d\/[0-9a-f]{16}-([0-9a-f]{16})\.seg$/.exec(key);
    if (!m) return;
    const cur = this.replicated.get(dest);
    const txid = parseInt(m[2]!, 16);
    if (!cur || m[1]! > cur.generation || (m[1] === cur.generation && txid > cur.txid)) this.replicated.set(dest, { generation: m[1]!, txid });
  }

  private async ack(dest: string, key: string): Promise<void> {
    this.noteSegment(dest, key);
    const got = this.acks.get(key) ?? new Set<string>();
    got.add(dest);
    this.acks.set(key, got);
    if (got.size === this.needed) this.onReplicated(key);
    const everyone = got.size === this.uploaders.length;
    if (everyone || (got.size >= this.needed && this.staging.bytes > this.maxStagingBytes)) {
      this.acks.delete(key);
      await this.staging.remove(key).catch(() => {});
    }
  }

  /** Waits until every destination has everything queued, at most `ms`. */
  async drain(ms: number): Promise<boolean> {
    const r = await Promise.all(this.uploaders.map((u) => u.drain(ms)));
    return r.every(Boolean);
  }

  /** Per-destination health. */
  status(): DestinationStatus[] {
    return this.uploaders.map((u) => ({ ...u.status }));
  }

  /** Stops uploading (what is left stays staged) and releases the stores. */
  async close(): Promise<void> {
    for (const u of this.uploaders) u.close();
    await Promise.all(this.uploaders.map((u) => u.storage.close().catch(() => {})));
  }
}
