/**
 * Writer fencing: one agent per database per destination. `<db>/lock.json`
 * in the destination names the holder, an agent identity kept in its staging
 * folder, so the same agent restarting after a crash takes its lock back while
 * a second agent (other staging) refuses and names the holder. No heartbeat:
 * an idle agent writes nothing.
 *
 * Where the store has atomic conditional writes (file, Azure, S3 with
 * If-None-Match) the lock is created with one; elsewhere it is written and
 * read back after a pause, which catches all but an exactly simultaneous
 * start (README: "What each destination guarantees").
 */
import { hostname } from 'node:os';
import { AlreadyExistsError, describeError, FencedError, NotFoundError } from '../core/errors.js';
import { Layout } from '../core/layout.js';
import { getBuffer, type Storage } from '../core/storage/storage.js';
import type { Logger } from './logger.js';
import type { OpenDestination } from './replication-set.js';

/** What lock.json holds. */
export interface LockInfo {
  agentId: string;
  host: string;
  pid: number;
  staging: string;
  since: string;
}

const SETTLE_MS = 750;

async function readLock(storage: Storage, key: string): Promise<LockInfo | null> {
  try {
    return JSON.parse((await getBuffer(storage, key)).toString('utf8')) as LockInfo;
  } catch (err) {
    if (err instanceof NotFoundError) return null;
    if (err instanceof SyntaxError) return null; // unreadable: treat as absent and overwrite
    throw err;
  }
}

function fenced(dest: string, db: string, key: string, holder: LockInfo): FencedError {
  return new FencedError(
    `database "${db}" in destination "${dest}" is held by another agent (host ${holder.host}, pid ${holder.pid}, staging ${holder.staging}, since ${holder.since})`,
    {
      hint: `run one agent per database per destination: stop that agent; if it is gone for good, delete ${key} from the destination and start again`,
      context: { destination: dest, object: key, holder: holder.agentId },
    },
  );
}

/** Takes (or re-takes) the lock of `layout.db` in one destination; throws FencedError if another agent holds it. */
export async function acquireFence(storage: Storage, layout: Layout, dest: string, agentId: string, staging: string): Promise<void> {
  const key = layout.lock();
  const mine: LockInfo = { agentId, host: hostname(), pid: process.pid, staging, since: new Date().toISOString() };
  const body = Buffer.from(JSON.stringify(mine, null, 2));
  for (let attempt = 0; attempt < 3; attempt++) {
    const current = await readLock(storage, key);
    if (current && current.agentId !== agentId) throw fenced(dest, layout.db, key, current);
    try {
      await storage.put(key, body, current || !storage.conditionalWrites ? {} : { ifNoneMatch: true });
    } catch (err) {
      if (err instanceof AlreadyExistsError) continue; // someone created it meanwhile: look again
      throw err;
    }
    if (!storage.conditionalWrites) {
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      const after = await readLock(storage, key);
      if (after && after.agentId !== agentId) throw fenced(dest, layout.db, key, after);
    }
    return;
  }
  const holder = await readLock(storage, key);
  if (holder) throw fenced(dest, layout.db, key, holder);
}

/** Removes the lock if this agent holds it (clean shutdown). */
export async function releaseFence(storage: Storage, layout: Layout, agentId: string): Promise<void> {
  const key = layout.lock();
  const current = await readLock(storage, key);
  if (current?.agentId === agentId) await storage.delete([key]);
}

/** The locks of one database in each of its destinations, held by one agent. */
export class Fences {
  private readonly held = new Set<string>();

  constructor(
    private readonly db: string,
    /** The agent's identity and staging folder (the identity is known once staging is initialised). */
    private readonly staging: { readonly agentId: string; readonly dir: string },
    private readonly log: Logger,
  ) {}

  /**
   * Takes the lock in every destination. Another agent holding one means this
   * one must not run (FencedError); an unreachable destination is fenced
   * later, before its first upload (`take`), so the others are not held up.
   */
  async takeAll(destinations: readonly OpenDestination[]): Promise<void> {
    const results = await Promise.allSettled(destinations.map((d) => this.take(d)));
    for (const [i, r] of results.entries()) {
      if (r.status === 'fulfilled') continue;
      if (r.reason instanceof FencedError) throw r.reason;
      this.log.warn({ destination: destinations[i]!.name, err: describeError(r.reason).message }, 'could not check the writer lock now; will before the first upload');
    }
  }

  /** Takes the lock in one destination, once. */
  async take(d: OpenDestination): Promise<void> {
    if (this.held.has(d.name)) return;
    await acquireFence(d.storage, new Layout(d.prefix, this.db), d.name, this.staging.agentId, this.staging.dir);
    this.held.add(d.name);
  }

  /** Releases the locks taken; failures are left for the next start to resolve. */
  async releaseAll(destinations: readonly OpenDestination[]): Promise<void> {
    await Promise.all(
      destinations.filter((d) => this.held.has(d.name)).map((d) => releaseFence(d.storage, new Layout(d.prefix, this.db), this.staging.agentId).catch(() => {})),
    );
  }
}
