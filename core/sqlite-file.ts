/**
 * The parts of the SQLite database file header walcast reads:
 *
 *   0   16  "SQLite format 3\0"
 *   16   2  page size (big-endian; 1 means 65536)
 *   18   1  file format write version (2 = WAL)
 *   19   1  file format read version  (2 = WAL)
 *   24   4  file change counter
 *   28   4  database size in pages (valid when offset 92 equals the change counter)
 *   92   4  version-valid-for number
 */
import type { FileHandle } from 'node:fs/promises';
import { isValidPageSize } from './wal-format.js';

export const DB_HEADER_SIZE = 100;
const MAGIC = 'SQLite format 3\0';

/** Parsed database header. */
export interface DbHeader {
  pageSize: number;
  /** Both format version bytes say WAL. */
  walMode: boolean;
  /** In-header database size, when valid. */
  headerPages: number | null;
}

/** Parses a database header; null when the bytes are not a SQLite database header. */
export function parseDbHeader(buf: Uint8Array): DbHeader | null {
  if (buf.length < DB_HEADER_SIZE) return null;
  const b = Buffer.from(buf.buffer, buf.byteOffset, DB_HEADER_SIZE);
  if (b.toString('latin1', 0, 16) !== MAGIC) return null;
  const raw = b.readUInt16BE(16);
  const pageSize = raw === 1 ? 65536 : raw;
  if (!isValidPageSize(pageSize)) return null;
  const counter = b.readUInt32BE(24);
  const pages = b.readUInt32BE(28);
  return {
    pageSize,
    walMode: b[18] === 2 && b[19] === 2,
    headerPages: pages > 0 && b.readUInt32BE(92) === counter ? pages : null,
  };
}

/** Reads the header of an open database file; null when it is empty or not SQLite. */
export async function readDbHeader(fh: FileHandle): Promise<DbHeader | null> {
  const buf = Buffer.alloc(DB_HEADER_SIZE);
  const { bytesRead } = await fh.read(buf, 0, DB_HEADER_SIZE, 0);
  return bytesRead < DB_HEADER_SIZE ? null : parseDbHeader(buf);
}

/**
 * Size in pages of the database file alone (no WAL), as SQLite sees it: the
 * in-header size when valid, else the file length.
 */
export async function dbFilePages(fh: FileHandle, header: DbHeader): Promise<number> {
  if (header.headerPages !== null) return header.headerPages;
  const { size } = await fh.stat();
  return Math.floor(size / header.pageSize);
}
