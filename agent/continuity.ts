/**
 * Proof of continuity (capture rule 4). The agent may continue a generation
 * only if the database content equals the state recorded after the last
 * staged txid. The database's state is computed from the file alone, then
 * after each committed transaction in the WAL, and compared with the recorded
 * checksum (and size):
 *
 * - if the WAL still holds the recorded position (same salts, same chain
 *   checksum there), only that point may match: the frames before it were
 *   captured already, even if they were also copied into the database file
 *   since (then the file alone would match too, and resuming there would
 *   capture them twice);
 * - otherwise (the WAL restarted, or was deleted), every frame in it is newer
 *   than the record, and the first matching point is where capture resumes.
 *
 * With no match the caller starts a new generation: histories are never spliced.
 */
import { DbChecksum } from '../core/db-checksum.js';
import { hashDbFile } from '../core/db-image.js';
import { formatChecksum } from '../core/page-hash.js';
import { dbFilePages, readDbHeader } from '../core/sqlite-file.js';
import { headerPosition, positionHolds, scanWal, type WalPosition } from '../core/wal-scanner.js';
import type { WalTailer } from './wal-tailer.js';
import { notWal } from './wal-tailer.js';

/** The state the history recorded last. */
export interface RecordedState {
  checksum: string;
  dbPages: number;
  pageSize: number;
  /** Where in the WAL it was captured, when known. */
  wal: WalPosition | null;
}

/** Outcome of a proof. */
export interface ProofResult {
  /** True when the recorded state was found. */
  matched: boolean;
  /** Checksum at `position` (the match, or else the end of the WAL). */
  sum: DbChecksum;
  /** WAL position of that state; null when there is no valid WAL (state is the file alone). */
  position: WalPosition | null;
  pageSize: number;
  /** True when `position` is the end of the committed WAL (nothing after it). */
  atEnd: boolean;
  /** Why it failed, for the log. */
  detail: string;
}

/**
 * Computes the database state from the file and the WAL and looks for
 * `recorded` at every commit boundary. The caller holds a read transaction
 * started before this call, so the WAL cannot restart underneath.
 */
export async function proveContinuity(tailer: WalTailer, recorded: RecordedState | null): Promise<ProofResult> {
  const dbHeader = await readDbHeader(tailer.db);
  if (!dbHeader) throw new Error(`${tailer.dbPath} no longer has a SQLite header`);
  if (!dbHeader.walMode) throw notWal(tailer.dbPath, 'its header changed');
  const pageSize = dbHeader.pageSize;
  const filePages = await dbFilePages(tailer.db, dbHeader);
  const sum = await hashDbFile(tailer.db, pageSize, filePages);

  const wal = await tailer.wal();
  const walHeader = wal ? await tailer.header() : null;
  const usable = walHeader !== null && walHeader.pageSize === pageSize;
  let position: WalPosition | null = usable ? headerPosition(walHeader) : null;

  const comparable = recorded !== null && recorded.pageSize === pageSize;
  // The one acceptable point when the WAL still holds the recorded position.
  const pinned = usable && recorded?.wal && (await positionHolds(wal!, walHeader, recorded.wal)) ? recorded.wal.frame : null;
  const matches = (frame: number): boolean =>
    comparable && (pinned === null || pinned === frame) && formatChecksum(sum.value) === recorded.checksum && sum.dbPages === recorded.dbPages;
  if (!usable) {
    if (matches(0)) return { matched: true, sum, position, pageSize, atEnd: true, detail: 'database file' };
    return { matched: false, sum, position, pageSize, atEnd: true, detail: !recorded ? 'nothing recorded yet' : !comparable ? 'page size changed' : 'database differs from the recorded state' };
  }

  const scan = await scanWal(wal!, position!);
  if (matches(0)) return { matched: true, sum, position, pageSize, atEnd: scan.commits.length === 0, detail: 'database file' };
  let first = 0;
  for (const c of scan.commits) {
    sum.applyCommit(scan.pgnos.subarray(first, c.end), scan.hashes.subarray(first, c.end), c.end - first, c.dbPages);
    first = c.end;
    position = { ...position!, frame: c.commitFrame };
    if (matches(c.commitFrame)) {
      position = await positionAfter(tailer, position);
      return { matched: true, sum, position, pageSize, atEnd: c.commitFrame === scan.end.frame, detail: `WAL frame ${c.commitFrame}` };
    }
  }
  return {
    matched: false,
    sum,
    position: scan.end,
    pageSize,
    atEnd: true,
    detail: !comparable ? (recorded ? 'page size changed' : 'no recorded state') : 'database differs from the recorded state at every point of the WAL',
  };
}

/** Fills in the chain checksum after `pos.frame` by rescanning up to it. */
async function positionAfter(tailer: WalTailer, pos: WalPosition): Promise<WalPosition> {
  const h = await tailer.header();
  const wal = await tailer.wal();
  if (!h || !wal) throw new Error('WAL vanished during the continuity proof');
  const scan = await scanWal(wal, headerPosition(h), { hashPages: false, lastFrame: pos.frame });
  if (scan.end.frame !== pos.frame) throw new Error('WAL changed during the continuity proof');
  return scan.end;
}
