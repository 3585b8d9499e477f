/**
 * Restores a database into a file, atomically: replay into a temp file beside
 * the output; then, at once, fsync it, re-read the whole file and check its
 * database checksum against the recorded one, and run `PRAGMA
 * integrity_check`; then rename into place. On any failure the temp file is
 * removed and the output is untouched.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { fileChecksum } from './db-image.js';
import { hashFile, hashThreads } from './decode-pool.js';
import { ChecksumMismatchError, IntegrityError, OutputExistsError, UsageError } from './errors.js';
import type { Keyring } from './keyring.js';
import type { Layout } from './layout.js';
import { formatChecksum } from './page-hash.js';
import { fileSink } from './file-sink.js';
import { replay, type ReplayProgress, type RestoreTarget } from './replay.js';
import { planRestore } from './restore-plan.js';
import { fsyncDir } from './storage/file-storage.js';
import type { Storage } from './storage/storage.js';
import { RESTORE_WORKER_LIMITS } from './node-flags.js';

/** What to do when integrity_check fails or cannot run. */
const INTEGRITY_HINT = 'restore an earlier point, or from another destination, and report this';

/** Options of `restoreToFile`. */
export interface RestoreOptions {
  storage: Storage;
  layout: Layout;
  keyring: Keyring;
  target: RestoreTarget;
  generation?: string;
  output: string;
  /** Replace an existing output (and remove its stale -wal/-shm). */
  force?: boolean;
  /** Run PRAGMA integrity_check (default true). */
  integrityCheck?: boolean;
  onProgress?: (p: ReplayProgress & { totalBytes: number }) => void;
}

/** What was restored. */
export interface RestoreResult {
  generation: string;
  txid: number;
  observedAtMs: number;
  dbPages: number;
  pageSize: number;
  bytes: number;
  checksum: string;
  commits: number;
  bytesRead: number;
  ms: number;
}

/** Restores to `opts.output`; see the file comment. */
export async function restoreToFile(opts: RestoreOptions): Promise<RestoreResult> {
  const started = performance.now();
  const out = opts.output;
  const dir = dirname(out);
  if (!existsSync(dir)) throw new UsageError(`the folder of --output (${dir}) does not exist`, { hint: 'create it first' });
  if (!opts.force) {
    for (const p of [out, `${out}-wal`, `${out}-shm`]) {
      if (existsSync(p)) throw new OutputExistsError(`${p} already exists`, { hint: 'choose another --output, or pass --force to replace it (stop any application using it first)' });
    }
  }
  const plan = await planRestore(opts.storage, opts.layout, opts.target, opts.generation === undefined ? {} : { generation: opts.generation });
  const totalBytes = plan.snapshot.size + plan.segments.reduce((n, s) => n + s.size, 0);
  const tmp = join(dir, `.${basename(out)}.walcast-restore-${randomBytes(4).toString('hex')}`);
  const cleanup = async (): Promise<void> => {
    for (const p of [tmp, `${tmp}-wal`, `${tmp}-shm`, `${tmp}-journal`]) await unlink(p).catch(() => {});
  };
  try {
    const fh = await open(tmp, 'wx+', 0o600);
    let result;
    try {
      const progress = opts.onProgress;
      const sink = fileSink(fh);
      try {
        result = await replay(plan, opts.storage, opts.keyring, sink, progress ? { onProgress: (p) => progress({ ...p, totalBytes }) } : {});
      } catch (err) {
        // The page writer thread writes by descriptor: it must be done before the file is closed.
        await sink.settle().catch(() => {});
        throw err;
      }
      await sink.settle();
      // The proofs run at once: the fsync, a re-read of the whole file
      // checked against the recorded checksum (the proof that it is
      // bit-exact; see reread), and SQLite's integrity_check on a worker
      // thread. They all see the same pages, and the disk works while the
      // cores read.
      // All three are waited for, even when one fails, before the file is closed or removed.
      const [hashed, synced, checked] = await Promise.allSettled([
        reread(fh, result.pageSize, result.dbPages, opts.integrityCheck !== false).then(async (sum) => ({ sum, size: (await fh.stat()).size })),
        fh.sync(),
        opts.integrityCheck === false ? Promise.resolve([]) : integrityProblems(tmp),
      ]);
      if (hashed.status === 'rejected') throw hashed.reason;
      if (synced.status === 'rejected') throw synced.reason;
      const { sum, size } = hashed.value;
      if (sum !== result.checksum || size !== result.dbPages * result.pageSize) {
        throw new ChecksumMismatchError(`the restored file does not match the recorded checksum after txid ${result.txid}`, {
          hint: 'the disk under the output may be failing; restore elsewhere',
        });
      }
      if (checked.status === 'rejected') {
        const why = checked.reason instanceof Error ? checked.reason.message : String(checked.reason);
        throw new IntegrityError(`PRAGMA integrity_check could not run on the database restored for ${out}: ${why}`, {
          hint: INTEGRITY_HINT,
        });
      }
      if (checked.value.length) {
        throw new IntegrityError(`PRAGMA integrity_check failed for the database restored for ${out}: ${checked.value.slice(0, 3).join('; ')}`, {
          hint: INTEGRITY_HINT,
        });
      }
    } finally {
      // Closed only after integrity_check: closing any descriptor of a file drops the process's SQLite locks on it.
      await fh.close();
    }
    if (opts.force) for (const p of [`${out}-wal`, `${out}-shm`]) await unlink(p).catch(() => {});
    await rename(tmp, out);
    await fsyncDir(dir);
    return {
      generation: plan.generation.id, txid: result.txid, observedAtMs: result.observedAtMs, dbPages: result.dbPages,
      pageSize: result.pageSize, bytes: (await stat(out)).size, checksum: formatChecksum(result.checksum),
      commits: result.commits, bytesRead: result.bytesRead, ms: performance.now() - started,
    };
  } catch (err) {
    await cleanup();
    throw err;
  } finally {
    for (const p of [`${tmp}-wal`, `${tmp}-shm`]) await unlink(p).catch(() => {});
  }
}

/** Runs PRAGMA integrity_check on `path` in a worker thread; resolves with the problems it reported. */
function integrityProblems(path: string): Promise<string[]> {
  const worker = new Worker(new URL('./integrity-worker.js', import.meta.url), { workerData: { path }, resourceLimits: RESTORE_WORKER_LIMITS });
  return new Promise<string[]>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the integrity_check thread exited (code ${code}) without an answer`)));
  });
}

/**
 * The checksum of the restored file, re-read: on every core, or, when
 * integrity_check runs beside it, on this thread alone. The check takes far
 * longer than the re-read on one thread (4 GiB in the page cache: 6-8 s
 * against 0.9 s), so more re-read threads only add memory at the restore's
 * peak: on 2 cores, a second one took a 1 GiB restore 8.01 s against 7.97 s,
 * at 255 MiB against 240 MiB; and a thread of its own costs a JavaScript
 * heap: the 4 GiB restore peaked at 188-195 MiB with one, 174-178 without,
 * in the same time.
 */
function reread(fh: FileHandle, pageSize: number, pages: number, integrityCheck: boolean): Promise<bigint> {
  const threads = hashThreads() - (integrityCheck ? 1 : 0);
  return threads > 1 ? hashFile(fh.fd, pageSize, pages, threads) : fileChecksum(fh, pageSize, pages);
}
