/**
 * Records when each object appears in a destination, tool-neutrally: a
 * recursive fs.watch for promptness plus a 5 ms directory poll that catches
 * what the watch misses (files in a folder created a moment before the watch
 * reached it). An object counts as appeared when its final name exists: both
 * walcast's file backend and Litestream write a temp file and rename it, so
 * the rename is the acknowledgement; for s3rver the metadata file, written
 * after the object, is.
 */
import { readdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';

/** One appeared object. */
export interface Appearance {
  /** Path relative to the watched root. */
  rel: string;
  atMs: number;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Watches a folder tree for new objects whose relative path `accept` admits. */
export class ReplicaWatcher {
  private readonly seen = new Map<string, number>();
  private readonly dirs = new Set<string>(['']);
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Rename events for accepted names (a rewrite of an existing name counts again): objects written. */
  writes = 0;

  constructor(
    readonly root: string,
    private readonly accept: (rel: string) => boolean,
    private readonly pollMs = 5,
  ) {}

  /** Starts watching; what exists now is recorded as already there (time 0). */
  start(): this {
    this.scan(0);
    try {
      this.watcher = watch(this.root, { recursive: true }, (event, name) => {
        if (!name) return;
        const rel = name.toString();
        if (!this.accept(rel)) {
          if (event === 'rename') this.dirs.add(rel); // may be a new folder; the poll checks
          return;
        }
        if (event === 'rename' && isFile(join(this.root, rel))) {
          this.writes++;
          this.record(rel, Date.now());
        } else if (event === 'rename') this.dirs.add(rel);
      });
      this.watcher.on('error', () => {}); // the poll carries on alone
    } catch {
      // No recursive watch here: the poll alone keeps the 5 ms resolution.
    }
    this.timer = setInterval(() => this.scan(Date.now()), this.pollMs);
    return this;
  }

  /** Stops watching; idempotent. */
  stop(): void {
    this.watcher?.close();
    this.watcher = null;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Everything that appeared after start, oldest first. */
  appeared(): Appearance[] {
    return [...this.seen.entries()].filter(([, at]) => at > 0).map(([rel, atMs]) => ({ rel, atMs })).sort((a, b) => a.atMs - b.atMs);
  }

  /** Objects that appeared in [fromMs, toMs). */
  countBetween(fromMs: number, toMs: number): number {
    let n = 0;
    for (const at of this.seen.values()) if (at >= fromMs && at < toMs) n++;
    return n;
  }

  /**
   * Objects per minute in [fromMs, toMs) from their spacing: n objects make
   * n − 1 gaps between the first and the last. Counting n in the window
   * instead is off by up to one object depending on where the window's
   * edges fall (±1.7 % over a minute at one object a second). Fewer than two
   * objects: the count over the window.
   */
  ratePerMin(fromMs: number, toMs: number): number {
    const at = [...this.seen.values()].filter((t) => t >= fromMs && t < toMs).sort((a, b) => a - b);
    if (at.length < 2 || at[at.length - 1]! === at[0]!) return (at.length * 60_000) / (toMs - fromMs);
    return ((at.length - 1) * 60_000) / (at[at.length - 1]! - at[0]!);
  }

  /** Sizes in bytes of the objects that appeared in [fromMs, toMs) and `filter` admits. */
  bytesBetween(fromMs: number, toMs: number, filter: (rel: string) => boolean = () => true): number {
    let n = 0;
    for (const [rel, at] of this.seen) {
      if (at < fromMs || at >= toMs || !filter(rel)) continue;
      try {
        n += statSync(join(this.root, rel)).size;
      } catch {
        // Removed since (retention): not stored any more.
      }
    }
    return n;
  }

  private record(rel: string, at: number): void {
    if (!this.seen.has(rel)) this.seen.set(rel, at);
  }

  private scan(at: number): void {
    for (const d of [...this.dirs]) {
      let entries;
      try {
        entries = readdirSync(join(this.root, d), { withFileTypes: true });
      } catch {
        if (d !== '') this.dirs.delete(d);
        continue;
      }
      for (const e of entries) {
        const rel = d === '' ? e.name : `${d}/${e.name}`;
        if (e.isDirectory()) {
          if (!this.dirs.has(rel)) {
            this.dirs.add(rel);
            this.scanOne(rel, at);
          }
        } else if (this.accept(rel)) this.record(rel, at);
      }
    }
  }

  /** Scans a newly found folder at once (and its subfolders), so nothing in it waits a tick. */
  private scanOne(dir: string, at: number): void {
    let entries;
    try {
      entries = readdirSync(join(this.root, dir), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) {
        if (!this.dirs.has(rel)) {
          this.dirs.add(rel);
          this.scanOne(rel, at);
        }
      } else if (this.accept(rel)) this.record(rel, at);
    }
  }
}

/** Accepts walcast objects in a file destination (segments and snapshots, not temp files). */
export const walcastFiles = (rel: string): boolean => rel.endsWith('.seg') || rel.endsWith('.snap');
/** Accepts Litestream's replica files (WAL segments and snapshots, not temp files). */
export const litestreamFiles = (rel: string): boolean => rel.endsWith('.wal.lz4') || rel.endsWith('.snapshot.lz4');
/** Accepts walcast objects stored by s3rver (the metadata file is written after the object). */
export const s3rverWalcastFiles = (rel: string): boolean => /\.(seg|snap)\._S3rver_metadata\.json$/.test(rel);
/** The s3rver file holding the bytes of an object whose metadata file is `rel`. */
export const s3rverObjectOf = (rel: string): string => rel.replace(/\._S3rver_metadata\.json$/, '._S3rver_object');
