/** File helpers shared by scenarios. */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Relative paths of the files under `dir` (recursive) ending in `suffix`. */
export function filesUnder(dir: string, suffix: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith(suffix));
}

/** Total bytes of the files under `dir` whose relative path `filter` admits. */
export function bytesUnder(dir: string, filter: (rel: string) => boolean = () => true): number {
  let n = 0;
  for (const rel of filesUnder(dir, '')) {
    if (!filter(rel)) continue;
    try {
      const s = statSync(join(dir, rel));
      if (s.isFile()) n += s.size;
    } catch {
      // Gone meanwhile.
    }
  }
  return n;
}

/** Removes a database file and its -wal, -shm and -journal. */
export function removeDb(path: string): void {
  for (const p of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) rmSync(p, { force: true });
}

/**
 * Fsyncs files the bench just wrote (a built database, its copy, a WAL), so
 * the kernel's writeback of hundreds of megabytes does not land inside the
 * next timed step (an fsync there would wait for it on ext4).
 */
export function settle(...paths: string[]): void {
  for (const p of paths) {
    if (!existsSync(p)) continue;
    const fd = openSync(p, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * Removes a database and waits until the file system is quiet (`sync -f`):
 * freeing a large file (with the `discard` mount option, trimming it) and
 * the writeback of the last output would otherwise run into the next timed
 * restore.
 */
export function removeDbAndSettle(path: string): void {
  removeDb(path);
  quietDisk(dirname(path));
}

/** Flushes the file system holding `path` and waits for it (`sync -f`), so pending writeback stays out of the next timed step. */
export function quietDisk(path: string): void {
  spawnSync('sync', ['-f', path], { stdio: 'ignore' });
}
