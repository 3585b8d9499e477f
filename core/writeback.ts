/**
 * Helpers for writing large files that must end durable.
 *
 * A file written in one go and then fsynced sits dirty in the page cache
 * until the fsync (a large machine's writeback thresholds are far above one
 * object or one restore), so the disk starts only at the end and the writer
 * waits for all of it. `Writeback` starts a datasync in the background every
 * so many bytes instead: the disk writes while later bytes are still being
 * produced, and the final fsync has little left to do.
 */
import type { FileHandle } from 'node:fs/promises';

/** Starts a background datasync of one file every `every` bytes written. */
export class Writeback {
  private unsynced = 0;
  private syncing: Promise<void> | null = null;
  private failure: unknown = null;

  constructor(
    private readonly fh: FileHandle,
    private readonly every: number,
  ) {}

  /** The first background datasync failure, if any. */
  get error(): unknown {
    return this.failure;
  }

  /** Counts `bytes` written; starts a datasync when enough are unsynced and none is running. */
  wrote(bytes: number): void {
    this.unsynced += bytes;
    if (this.unsynced < this.every || this.syncing) return;
    this.unsynced = 0;
    // fsync reports an error once per open file: keep it, or the final fsync could miss it.
    this.syncing = this.fh.datasync().then(
      () => void (this.syncing = null),
      (err: unknown) => {
        this.syncing = null;
        this.failure ??= err;
      },
    );
  }

  /** Waits for the datasync in flight, if any; throws if any failed. Call before the final fsync and before closing. */
  async settle(): Promise<void> {
    while (this.syncing) await this.syncing;
    if (this.failure) throw this.failure;
  }
}

/** Writes all of `buf` at `offset` (a write to a file may be short, e.g. when the disk fills). */
export async function writeFully(fh: FileHandle, buf: Uint8Array, offset: number): Promise<void> {
  for (let done = 0; done < buf.length; ) done += (await fh.write(buf, done, buf.length - done, offset + done)).bytesWritten;
}
