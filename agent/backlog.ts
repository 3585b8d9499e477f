/**
 * The commits a replicator has observed and not yet staged: the observations
 * in WAL order, and how many frames they span.
 */
import { WAL_FRAME_HEADER_SIZE } from '../core/wal-format.js';
import type { Observation } from './wal-tailer.js';

/** Observed commits waiting to be staged. */
export class Backlog {
  private list: Observation[] = [];
  private frameCount = 0;

  /** The observations, oldest first. */
  get observations(): readonly Observation[] {
    return this.list;
  }

  /** Frames the observations span. */
  get frames(): number {
    return this.frameCount;
  }

  /** WAL bytes the observations span, with pages of `pageSize`. */
  walBytes(pageSize: number): number {
    return this.frameCount * (pageSize + WAL_FRAME_HEADER_SIZE);
  }

  /** True when any commit waits. */
  get waiting(): boolean {
    return this.list.length > 0;
  }

  /** The oldest observation; undefined when nothing waits. */
  get first(): Observation | undefined {
    return this.list[0];
  }

  add(obs: Observation): void {
    this.list.push(obs);
    this.frameCount += obs.count;
  }

  /** Forgets everything (staged, or dropped for a resync). */
  clear(): void {
    this.list = [];
    this.frameCount = 0;
  }
}
