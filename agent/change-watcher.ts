/**
 * File-change events on the database and its WAL make capture prompt; the
 * poll is the truth (capture rule 2), so a watch that fails is logged and
 * left alone. While the files change fast the replicator turns the watch off
 * (`disarm`) and looks every few milliseconds instead: each write of the
 * application would otherwise queue an event and wake the agent, and the
 * application pays for that wake inside its write call.
 *
 * Raw `fs.watch` (inotify on Linux), not a watcher library: the kernel merges
 * a change only into an event not yet read, so an event always follows the
 * last write of a commit. Libraries made for editors drop events a few
 * milliseconds after another, or when only the access time seems to have
 * changed (the agent itself reads the WAL), and then a commit written by a
 * short-lived process (the sqlite3 CLI) went unnoticed until the poll.
 */
import { watch, type FSWatcher } from 'node:fs';
import type { Logger } from './logger.js';

/** Calls `onChange` when any of `paths` changes. */
export class ChangeWatcher {
  private readonly watchers = new Map<string, FSWatcher>();
  private closed = false;

  /**
   * Pass the files themselves (the database and its WAL), not their folder:
   * a folder watch wakes on every file beside them.
   */
  constructor(
    private readonly paths: string[],
    private readonly onChange: () => void,
    private readonly log: Logger,
  ) {
    this.arm();
  }

  /**
   * Watches every path not watched now. A path that is missing, or was
   * renamed or deleted (its watch follows the old file), is tried again at
   * the next call; the capture loop calls this every cycle at rest. True when
   * a watch was set up now: it has missed any change before it.
   */
  arm(): boolean {
    let added = false;
    for (const path of this.paths) {
      if (this.closed || this.watchers.has(path)) continue;
      try {
        const w = watch(path, { persistent: false }, (event) => {
          if (event === 'rename') this.drop(path);
          this.onChange();
        });
        w.on('error', (err) => {
          this.log.debug({ path, err: String(err) }, 'file watch error; polling continues');
          this.drop(path);
        });
        this.watchers.set(path, w);
        added = true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.debug({ path, err: String(err) }, 'cannot watch file; polling continues');
      }
    }
    return added;
  }

  /** Stops watching until the next `arm()`. */
  disarm(): void {
    for (const path of [...this.watchers.keys()]) this.drop(path);
  }

  private drop(path: string): void {
    this.watchers.get(path)?.close();
    this.watchers.delete(path);
  }

  /** Stops watching; never throws, since the poll goes on without it. */
  close(): Promise<void> {
    this.closed = true;
    this.disarm();
    return Promise.resolve();
  }
}
