/**
 * Local-folder backend. A put writes a temp file, datasyncs it, renames (or,
 * for a conditional put, hard-links) it into place and fsyncs the directory,
 * so an object is either absent or whole and durable once put returns.
 * copyFrom links an object of another folder in when both are on one file
 * system.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, link, mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { AlreadyExistsError, NotFoundError, StorageError } from '../errors.js';
import { Writeback, writeFully } from '../writeback.js';
import type { ObjectInfo, PutOptions, Storage } from './storage.js';

const TMP_SUFFIX = '.walcast-tmp';
/** A large object is datasynced in the background every this many bytes (writeback.ts). */
const WRITEBACK_BYTES = 8 << 20;

/** Errors of link(2) that mean "not here": another file system, or a file system without hard links. */
const NO_LINK = new Set(['EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK', 'ENOSYS']);

/** A failure of a put's body stream, told apart from the file system's own. */
class BodyFailure {
  constructor(readonly cause: unknown) {}
}

/** Stores objects as files under `root`. */
export class FileStorage implements Storage {
  readonly description: string;
  readonly conditionalWrites = true;
  /** False once a hard link into this folder failed for want of support (copyFrom copies instead). */
  private links = true;

  constructor(private readonly root: string) {
    this.description = `file:${root}`;
  }

  async put(key: string, body: Buffer | Readable, opts: PutOptions = {}): Promise<void> {
    await this.store(key, `put ${key}`, opts, async (fh) => {
      if (Buffer.isBuffer(body)) {
        await writeFully(fh, body, 0);
        return;
      }
      const writeback = new Writeback(fh, WRITEBACK_BYTES);
      const chunks = (body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
      let offset = 0;
      try {
        for (;;) {
          const next = await chunks.next().catch((err: unknown) => Promise.reject(new BodyFailure(err)));
          if (next.done) break;
          await writeFully(fh, next.value, offset);
          offset += next.value.length;
          writeback.wrote(next.value.length);
        }
      } catch (err) {
        await chunks.return?.().catch(() => {});
        await writeback.settle().catch(() => {}); // the first failure is the one to report
        throw err;
      }
      await writeback.settle();
    });
  }

  /**
   * Stores object `from` of another folder as `key`, as durably as `put`.
   * On the same file system it is hard-linked: the source was fsynced when it
   * was written and objects never change, so only the new name is made
   * durable (its folder fsynced), and no byte is written twice. Across file
   * systems, or where links are refused, the kernel copies the bytes
   * (copy_file_range): none pass through this process, where a streamed copy
   * leaves a fresh buffer per read behind as garbage. The source must not
   * change meanwhile (objects never do).
   */
  async copyFrom(source: FileStorage, from: string, key: string): Promise<void> {
    const src = source.pathOf(from);
    if (this.links) {
      try {
        return await this.linkFrom(source, from, src, key);
      } catch (err) {
        if (!NO_LINK.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
        this.links = false; // another file system, or no hard links there: copy from now on
      }
    }
    await this.store(key, `copy ${from} into ${key}`, {}, async (_fh, tmp) => {
      try {
        await copyFile(src, tmp);
      } catch (err) {
        throw new BodyFailure(source.wrap(err, `read ${from}`, from));
      }
    });
  }

  /** Links `src` (object `from` of `source`) in as `key`; a name already there is replaced through a temp link and a rename. */
  private async linkFrom(source: FileStorage, from: string, src: string, key: string): Promise<void> {
    const path = this.pathOf(key);
    const what = `link ${from} into ${key}`;
    const tryLink = async (to: string): Promise<void> => {
      try {
        await link(src, to);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        // The source is gone, or the key's folder does not exist yet.
        await stat(src).catch((e: unknown) => Promise.reject(source.wrap(e, `read ${from}`, from)));
        await mkdirDurable(dirname(path), this.root);
        await link(src, to);
      }
    };
    let tmp: string | null = null;
    try {
      try {
        await tryLink(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        tmp = `${path}.${randomBytes(6).toString('hex')}${TMP_SUFFIX}`;
        await tryLink(tmp);
        await rename(tmp, path);
        tmp = null;
      }
      await fsyncDir(dirname(path));
    } catch (err) {
      if (tmp) await unlink(tmp).catch(() => {});
      if (NO_LINK.has((err as NodeJS.ErrnoException).code ?? '')) throw err; // the caller copies instead
      throw this.wrap(err, what);
    }
  }

  /**
   * Writes an object: `fill` writes a new temp file, which is then
   * datasynced, renamed (or, for a conditional put, hard-linked) into place
   * and its folder fsynced.
   */
  private async store(key: string, what: string, opts: PutOptions, fill: (fh: FileHandle, tmp: string) => Promise<void>): Promise<void> {
    const path = this.pathOf(key);
    const tmp = `${path}.${randomBytes(6).toString('hex')}${TMP_SUFFIX}`;
    try {
      const fh = await openNew(tmp, dirname(path), this.root);
      try {
        await fill(fh, tmp);
        await fh.datasync(); // a new file's data and size: all a read after a crash needs
      } catch (err) {
        await fh.close().catch(() => {});
        throw err;
      }
      // The handle closes while the name goes into place: one round trip to the thread pool fewer.
      const closed = fh.close();
      closed.catch(() => {}); // awaited below
      try {
        await this.publish(tmp, path, key, opts);
      } finally {
        await closed;
      }
      await fsyncDir(dirname(path));
    } catch (err) {
      await unlink(tmp).catch(() => {});
      if (err instanceof BodyFailure) throw err.cause; // the caller's stream (or source) failed, not the folder
      throw this.wrap(err, what);
    }
  }

  /** Moves a finished temp file to its name: a rename, or for a conditional put a hard link that fails when the name exists. */
  private async publish(tmp: string, path: string, key: string, opts: PutOptions): Promise<void> {
    if (!opts.ifNoneMatch) return rename(tmp, path);
    try {
      await link(tmp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new AlreadyExistsError(key);
      throw err;
    } finally {
      await unlink(tmp).catch(() => {});
    }
  }

  async readInto(key: string, into: Buffer): Promise<number | null> {
    let fh;
    try {
      fh = await open(this.pathOf(key), 'r');
    } catch (err) {
      throw this.wrap(err, `get ${key}`, key);
    }
    try {
      let got = 0;
      // One byte more than fits tells a longer object from one that fills `into` exactly.
      for (;;) {
        const want = Math.min(into.length - got, 1 << 20);
        if (want === 0) return (await fh.read(Buffer.alloc(1), 0, 1, got)).bytesRead === 0 ? got : null;
        const { bytesRead } = await fh.read(into, got, want, got);
        if (bytesRead === 0) return got;
        got += bytesRead;
      }
    } catch (err) {
      throw this.wrap(err, `get ${key}`, key);
    } finally {
      await fh.close();
    }
  }

  async get(key: string, range?: { start: number; end: number }): Promise<Readable> {
    const path = this.pathOf(key);
    let fh;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      throw this.wrap(err, `get ${key}`, key);
    }
    return fh.createReadStream({ start: range?.start, end: range?.end, highWaterMark: 1 << 20 });
  }

  async *list(prefix: string, startAfter?: string): AsyncIterable<ObjectInfo> {
    // Walk only the folders that can hold keys with this prefix.
    const cut = prefix.lastIndexOf('/');
    const base = cut < 0 ? '' : prefix.slice(0, cut + 1);
    yield* this.walk(base, prefix, startAfter ?? '');
  }

  async delete(keys: string[]): Promise<void> {
    for (const key of keys) {
      try {
        await unlink(this.pathOf(key));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw this.wrap(err, `delete ${key}`);
      }
    }
  }

  async close(): Promise<void> {}

  private async *walk(dirKey: string, prefix: string, startAfter: string): AsyncGenerator<ObjectInfo> {
    let entries;
    try {
      entries = await readdir(join(this.root, ...dirKey.split('/').filter(Boolean)), { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw this.wrap(err, `list ${prefix}`);
    }
    // A folder's keys all start with "name/", so sorting folders by that
    // string yields keys in global byte order.
    const named = entries
      .filter((e) => !e.name.endsWith(TMP_SUFFIX))
      .map((e) => ({ e, sortKey: dirKey + e.name + (e.isDirectory() ? '/' : '') }))
      .sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
    for (const { e, sortKey } of named) {
      if (e.isDirectory()) {
        if (!(sortKey.startsWith(prefix) || prefix.startsWith(sortKey))) continue;
        if (startAfter >= sortKey && !startAfter.startsWith(sortKey)) continue;
        yield* this.walk(sortKey, prefix, startAfter);
      } else if (e.isFile() && sortKey.startsWith(prefix) && sortKey > startAfter) {
        let size = 0;
        try {
          size = (await stat(join(this.root, ...sortKey.split('/')))).size;
        } catch {
          continue; // deleted while listing
        }
        yield { key: sortKey, size };
      }
    }
  }

  private pathOf(key: string): string {
    const parts = key.split('/');
    if (key === '' || parts.some((p) => p === '' || p === '.' || p === '..' || p.includes(sep) || p.includes('\0')) || key.endsWith(TMP_SUFFIX)) {
      throw new StorageError(`invalid object key ${JSON.stringify(key)}`, false);
    }
    return join(this.root, ...parts);
  }

  private wrap(err: unknown, what: string, key?: string): Error {
    if (err instanceof AlreadyExistsError || err instanceof StorageError || err instanceof NotFoundError) return err;
    const code = (err as NodeJS.ErrnoException).code;
    if (key !== undefined && (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR')) return new NotFoundError(key);
    const permanent = code === 'EACCES' || code === 'EPERM' || code === 'EROFS';
    return new StorageError(`${this.description}: ${what} failed: ${code ?? (err as Error).message}`, !permanent, {
      hint: permanent ? 'check that the agent may write to the destination folder' : undefined,
      cause: err,
    });
  }
}

/**
 * Creates the temp file of a put. Its folder usually exists, so it is made
 * (durably) only when the first open says it is missing: one round trip to
 * the thread pool per put instead of two.
 */
async function openNew(tmp: string, dir: string, root: string): Promise<FileHandle> {
  try {
    return await open(tmp, 'wx', 0o640);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdirDurable(dir, root);
  return await open(tmp, 'wx', 0o640);
}

/** Creates `dir` (and parents) and fsyncs each parent whose entries changed. */
async function mkdirDurable(dir: string, root: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return;
  let d = dir;
  for (;;) {
    await fsyncDir(dirname(d));
    if (d === first || d === root || dirname(d) === d) break;
    d = dirname(d);
  }
}

/** Fsyncs a directory so renames and new entries in it survive a crash. The handle closes after the fsync returns, unawaited: nothing of a read-only handle is lost with it. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    fh.close().catch(() => {});
  }
}
