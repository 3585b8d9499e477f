/**
 * The storage contract every destination backend implements. Keep it this
 * small; shared logic is free functions taking a `Storage`.
 *
 * - `put` stores the whole body under `key` or nothing: a reader never sees a
 *   partial object. It overwrites, unless `ifNoneMatch` is set, in which case
 *   an existing key fails with `AlreadyExistsError` where the backend can
 *   check atomically (see `conditionalWrites`).
 * - `get` of a missing key throws `NotFoundError`; `range` is inclusive of both
 *   ends, like an HTTP Range header.
 * - `list` yields every key that starts with `prefix` (a plain string prefix,
 *   not a folder), sorted by key in byte order, strictly after `startAfter`.
 * - `delete` of missing keys is not an error.
 * - No key is ever a folder of another (`a/b` and `a/b/c` never both exist),
 *   so a backend may map keys onto a file tree.
 * - Failures are `StorageError`s marked transient (retry may help) or not;
 *   except that when a `put`'s body stream fails, the put rejects with that
 *   stream's own error (it is the caller's failure, not the store's).
 */
import type { Readable } from 'node:stream';

/** One listed object. */
export interface ObjectInfo {
  key: string;
  size: number;
}

/** Options of `Storage.put`. */
export interface PutOptions {
  /** Fail with AlreadyExistsError when the key exists. */
  ifNoneMatch?: boolean;
  /** Body length in bytes, when `body` is a stream (lets backends stream without buffering). */
  size?: number;
}

/** A destination's object store. */
export interface Storage {
  /** Short description for messages, e.g. `file:/var/backups` (never holds credentials). */
  readonly description: string;
  /** True when `put` with `ifNoneMatch` is atomic in this backend. */
  readonly conditionalWrites: boolean;
  put(key: string, body: Buffer | Readable, opts?: PutOptions): Promise<void>;
  get(key: string, range?: { start: number; end: number }): Promise<Readable>;
  /**
   * Optional: reads the whole object `key` into `into` and returns its
   * length, or null when it is longer than `into` (then nothing is known of
   * it); no stream, no buffer of its own. Errors as `get`.
   */
  readInto?(key: string, into: Buffer): Promise<number | null>;
  list(prefix: string, startAfter?: string): AsyncIterable<ObjectInfo>;
  delete(keys: string[]): Promise<void>;
  /** Releases connections; idempotent. */
  close(): Promise<void>;
}

/** Reads a whole object into memory (for small objects: meta, lock). */
export async function getBuffer(storage: Storage, key: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of await storage.get(key)) parts.push(b as Buffer);
  return Buffer.concat(parts);
}

/** Collects a listing. */
export async function listAll(storage: Storage, prefix: string, startAfter?: string): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const o of storage.list(prefix, startAfter)) out.push(o);
  return out;
}
