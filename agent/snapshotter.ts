/**
 * Snapshots (capture rule 7): with the read transaction held at or before
 * commit frame K, the database file with the newest committed frame ≤ K laid
 * over each page, cut to K's size. The image is streamed, sealed and staged;
 * its checksum is computed on the way and must equal the one capture expects,
 * or the snapshot is thrown away (a backfill past K would show up here).
 */
import { chunkChecksum, readImage, walPageIndex } from '../core/db-image.js';
import { ChecksumMismatchError } from '../core/errors.js';
import type { Keyring } from '../core/keyring.js';
import type { Layout } from '../core/layout.js';
import { formatChecksum } from '../core/page-hash.js';
import { SnapshotEncoder } from '../core/snapshot.js';
import type { Storage } from '../core/storage/storage.js';
import { writeObject } from '../core/storage/write-object.js';
import { headerPosition, scanWal, type WalPosition } from '../core/wal-scanner.js';
import type { WalTailer } from './wal-tailer.js';

/** Inputs of `writeSnapshot`. */
export interface SnapshotInput {
  tailer: WalTailer;
  /** WAL position of the image; null when the database file alone holds it. */
  position: WalPosition | null;
  dbPages: number;
  pageSize: number;
  /** Checksum the image must have. */
  checksum: string;
  txid: number;
  generation: string;
  takenAtMs: number;
  layout: Layout;
  keyring: Keyring;
  compress: boolean;
  staging: Storage;
}

/**
 * Stages the snapshot; returns its key, size and hash. If the WAL restarted
 * since the position was fixed (possible only while the held read sits on
 * read mark 0, that is when every frame up to the position had already been
 * copied into the database file, which that read then keeps from changing),
 * the image is the database file alone; the checksum check proves it.
 */
export async function writeSnapshot(input: SnapshotInput): Promise<{ key: string; bytes: number; sha256: string }> {
  try {
    return await writeImage(input, input.position);
  } catch (err) {
    const h = await input.tailer.header().catch(() => null);
    const p = input.position;
    const restarted = p !== null && p.frame > 0 && (!h || h.salt1 !== p.salt1 || h.salt2 !== p.salt2);
    if (!restarted) throw err;
    return writeImage(input, null);
  }
}

async function writeImage(input: SnapshotInput, position: WalPosition | null): Promise<{ key: string; bytes: number; sha256: string }> {
  const { tailer, pageSize, dbPages } = input;
  let index = new Map<number, number>();
  const wal = position && position.frame > 0 ? await tailer.wal() : null;
  if (position && position.frame > 0) {
    const h = await tailer.header();
    if (!wal || !h || h.salt1 !== position.salt1 || h.salt2 !== position.salt2) throw new Error('the WAL restarted before the snapshot began');
    const scan = await scanWal(wal, headerPosition(h), { hashPages: false, lastFrame: position.frame });
    if (scan.end.frame !== position.frame) throw new Error('the WAL no longer holds the snapshot position');
    index = walPageIndex(scan);
  }
  const key = input.layout.snapshot(input.generation, input.txid);
  const plan = {
    db: input.layout.db, generation: input.generation, txid: input.txid, pageSize, dbPages,
    checksum: input.checksum, takenAtMs: input.takenAtMs,
  };
  const done = await writeObject(input.staging, key, async (sink) => {
    const enc = new SnapshotEncoder(plan, input.keyring, sink, input.compress);
    // Every page once: a running XOR, not a page-hash table (8 MiB more for a 4 GiB database).
    let check = 0n;
    for await (const { first, chunk } of readImage(tailer.db, wal, pageSize, dbPages, index)) {
      check ^= chunkChecksum(first, chunk, pageSize);
      for (let o = 0; o < chunk.length; o += pageSize) await enc.addPage(chunk.subarray(o, o + pageSize));
    }
    if (formatChecksum(check) !== input.checksum) {
      throw new ChecksumMismatchError(`snapshot of ${input.layout.db} at txid ${input.txid} does not match the captured state; it is discarded`, {
        context: { db: input.layout.db, txid: input.txid },
      });
    }
    return enc.finish();
  });
  return { key, bytes: done.bytes, sha256: done.sha256 };
}
