/**
 * Database checksum: XOR over every page (the lock-byte page skipped) of
 * `pageHash(pgno, page)`. Kept incrementally: a commit XORs each rewritten
 * page's old hash out and its new one in, and truncated pages out. Holding one
 * 64-bit hash per page (8 bytes per page, 0.2% of a 4 KiB-page database) is
 * what lets the agent and the restore tool prove every commit bit-exact
 * without re-reading the database.
 */
import { lockPage, zeroPageHash } from './page-hash.js';

/** Sentinel for "no hash recorded": real XXH64 values are never expected to be 0. */
const ABSENT = 0n;

/** Incremental database checksum over a page-hash table. */
export class DbChecksum {
  readonly pageSize: number;
  private hashes: BigUint64Array;
  private size = 0;
  private sum = 0n;
  private readonly lockPgno: number;

  /**
   * A table for `capacityPages` pages, and room for the database to grow by
   * an eighth without a copy: growing copies the table into one a quarter
   * larger, and the old one stays in memory until a full collection (a
   * 4 GiB database's agent held 8.4 and 10.5 MB tables side by side after
   * its first growth). Zero-filled memory this large is mapped as it is
   * first written, so room never used costs none.
   */
  constructor(pageSize: number, capacityPages = 1024) {
    this.pageSize = pageSize;
    this.lockPgno = lockPage(pageSize);
    this.hashes = new BigUint64Array(Math.max(capacityPages, 16) + Math.max(1024, capacityPages >> 3) + 1);
  }

  /** Current checksum. */
  get value(): bigint {
    return this.sum;
  }

  /** Current database size in pages. */
  get dbPages(): number {
    return this.size;
  }

  /**
   * Applies one commit: `pages` holds the final hash of every page the commit
   * wrote (page numbers beyond `dbPages` are ignored, as SQLite ignores them),
   * then the database takes size `dbPages`. Pages the database grows into
   * without being written read as zeros.
   */
  applyCommit(pgnos: ArrayLike<number>, hashes: ArrayLike<bigint>, count: number, dbPages: number): void {
    if (dbPages < this.size) this.truncate(dbPages);
    this.ensureCapacity(dbPages);
    for (let i = 0; i < count; i++) {
      const p = pgnos[i]!;
      if (p > dbPages || p === this.lockPgno || p < 1) continue;
      const old = this.hashes[p]!;
      const h = hashes[i]!;
      this.sum ^= old ^ h;
      this.hashes[p] = h;
    }
    if (dbPages > this.size) {
      for (let p = this.size + 1; p <= dbPages; p++) {
        if (p === this.lockPgno || this.hashes[p] !== ABSENT) continue;
        const h = zeroPageHash(p, this.pageSize);
        this.hashes[p] = h;
        this.sum ^= h;
      }
    }
    this.size = dbPages;
  }

  /**
   * Records page `pgno` with hash `h` while building from a full image; call
   * `applyCommit([], [], 0, dbPages)` afterwards to set the size.
   */
  setPage(pgno: number, h: bigint): void {
    if (pgno === this.lockPgno) return;
    this.ensureCapacity(pgno);
    this.sum ^= this.hashes[pgno]! ^ h;
    this.hashes[pgno] = h;
  }

  /** Hash recorded for `pgno`, or 0n when none. */
  hashOf(pgno: number): bigint {
    return pgno < this.hashes.length ? this.hashes[pgno]! : ABSENT;
  }

  private truncate(dbPages: number): void {
    for (let p = dbPages + 1; p <= this.size; p++) {
      this.sum ^= this.hashes[p]!;
      this.hashes[p] = ABSENT;
    }
    this.size = dbPages;
  }

  private ensureCapacity(pages: number): void {
    if (pages < this.hashes.length) return;
    // Grows by a quarter, not double: the table of a 4 GiB database is 8 MiB,
    // and a database that grows a little past its snapshot should not hold 16.
    const cap = Math.max(pages + 1, this.hashes.length + Math.max(1024, this.hashes.length >> 2));
    const next = new BigUint64Array(cap);
    next.set(this.hashes);
    this.hashes = next;
  }
}
