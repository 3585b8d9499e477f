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
}

/** Called when an object becomes replicated under the policy. */
export type ReplicatedHook = (key: string) => void;

/** Uploads and acknowledgements for one database. */
export class ReplicationSet {
  readonly uploaders: Uploader[];
  private readonly acks = new Map<string, Set<string>>();
  private readonly needed: number;

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
    this.uploaders = destinations.map((d) => new Uploader(d.name, d.storage, d.prefix, staging, log, events));
  }

  /** Sends a staged object to every destination. */
  enqueue(key: string, size: number): void {
    this.acks.set(key, this.acks.get(key) ?? new Set());
    for (const u of this.uploaders) u.enqueue(key, size);
  }

  private async ack(dest: string, key: string): Promise<void> {
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
