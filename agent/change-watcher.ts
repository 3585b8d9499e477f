/**
 * Watch events are only a hint that makes capture prompt; the poll is the
 * truth (capture rule 2), so a watch that fails is logged and left alone.
 */
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from './logger.js';

/** Calls `onChange` when any of `paths` changes. */
export class ChangeWatcher {
  private readonly watcher: FSWatcher;

  /**
   * Pass the files themselves (the database and its WAL), not their folder:
   * a folder watch rescans the folder on every WAL write.
   */
  constructor(paths: string[], onChange: () => void, log: Logger) {
    this.watcher = watch(paths, { ignoreInitial: true, persistent: false, alwaysStat: false })
      .on('all', () => onChange())
      .on('error', (err) => log.debug({ err: String(err) }, 'file watch error; polling continues'));
  }

  /** Stops watching; never throws, since the poll goes on without it. */
  async close(): Promise<void> {
    await this.watcher.close().catch(() => {});
  }
}
