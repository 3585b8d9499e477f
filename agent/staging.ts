/**
 * Staging: the agent's local, fsynced copy of sealed objects not yet
 * acknowledged by the destinations, and the capture state that says exactly
 * which WAL position and txid the staged history reaches. Both are written
 * durably (temp file, fsync, rename, fsync directory) before anything is
 * uploaded or any checkpoint may pass the captured frames.
 *
 *   <stagingDir>/<db>/state.json     capture state
 *   <stagingDir>/<db>/agent.pid      held by the running agent
 *   <stagingDir>/<db>/agent-id       this agent's identity in destination locks
 *   <stagingDir>/<db>/objects/<db>/<generation>/...   sealed objects, named as in a destination
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DatabaseError, NotFoundError } from '../core/errors.js';
import { FileStorage } from '../core/storage/file-storage.js';
import { getBuffer, listAll, type ObjectInfo } from '../core/storage/storage.js';
import type { WalPosition } from '../core/wal-scanner.js';

/** Where capture stands, persisted after every staged object. */
export interface CaptureState {
  version: 1;
  db: string;
  generation: string;
  /** Last txid staged (0: only the base snapshot). */
  txid: number;
  /** Database checksum after `txid` (16 hex digits). */
  checksum: string;
  dbPages: number;
  pageSize: number;
  /** SHA-256 of the last segment staged in this generation (zeros before the first). */
  prevSha256: string;
  /** WAL position right after the commit of `txid`; null when it is not in the current WAL. */
  wal: WalPosition | null;
  /** Observed time of `txid` (ms). */
  observedAtMs: number;
  lastSnapshot: { txid: number; atMs: number };
}

/** One database's staging folder. */
export class Staging {
  /** Sealed objects, keyed as in a destination without its prefix. */
  readonly objects: FileStorage;
  private readonly meta: FileStorage;
  private stagedBytes = 0;
  private readonly sizes = new Map<string, number>();
  /** Identity of the agent that owns this staging folder (stable across restarts). */
  agentId = '';

  constructor(readonly dir: string) {
    this.objects = new FileStorage(join(dir, 'objects'));
    this.meta = new FileStorage(dir);
  }

  /** Creates the folder, takes the pid lock, and counts what is staged. */
  async init(dbName: string): Promise<void> {
    await mkdir(join(this.dir, 'objects'), { recursive: true });
    await this.lock(dbName);
    this.agentId = await this.identity();
    for (const o of await listAll(this.objects, '')) this.track(o.key, o.size);
  }

  private async lock(dbName: string): Promise<void> {
    const path = join(this.dir, 'agent.pid');
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fh = await open(path, 'wx');
        await fh.writeFile(String(process.pid));
        await fh.close();
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (pid > 0 && pid !== process.pid && alive(pid)) {
        throw new DatabaseError(`database "${dbName}" is already being replicated by agent process ${pid} (staging ${this.dir})`, {
          hint: 'run one agent per database; stop the other one first',
        });
      }
      await unlink(path).catch(() => {}); // stale: its agent is gone
    }
  }

  private async identity(): Promise<string> {
    const path = join(this.dir, 'agent-id');
    const id = (await readFile(path, 'utf8').catch(() => '')).trim();
    if (/^[0-9a-f]{32}$/.test(id)) return id;
    const fresh = randomBytes(16).toString('hex');
    await writeFile(path, fresh + '\n', { mode: 0o644 });
    return fresh;
  }

  /** Releases the pid lock. */
  async unlock(): Promise<void> {
    const path = join(this.dir, 'agent.pid');
    const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (pid === process.pid) await unlink(path).catch(() => {});
  }

  /** The persisted capture state, or null when there is none. */
  async readState(): Promise<CaptureState | null> {
    try {
      return JSON.parse((await getBuffer(this.meta, 'state.json')).toString('utf8')) as CaptureState;
    } catch (err) {
      if (err instanceof NotFoundError) return null;
      if (err instanceof SyntaxError) return null; // unreadable state: resume from the destinations
      throw err;
    }
  }

  /** Persists the capture state durably. */
  async writeState(state: CaptureState): Promise<void> {
    await this.meta.put('state.json', Buffer.from(JSON.stringify(state)));
  }

  /** Forgets the capture state (next start resumes from the destinations). */
  async clearState(): Promise<void> {
    await this.meta.delete(['state.json']);
  }

  /** Staged objects, sorted by key. */
  list(): ObjectInfo[] {
    return [...this.sizes].map(([key, size]) => ({ key, size })).sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  /** Records an object just written into `objects`. */
  track(key: string, size: number): void {
    this.stagedBytes += size - (this.sizes.get(key) ?? 0);
    this.sizes.set(key, size);
  }

  /** Removes a staged object (acknowledged, or an orphan). */
  async remove(key: string): Promise<void> {
    await this.objects.delete([key]);
    this.stagedBytes -= this.sizes.get(key) ?? 0;
    this.sizes.delete(key);
  }

  /** Bytes staged now. */
  get bytes(): number {
    return this.stagedBytes;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
