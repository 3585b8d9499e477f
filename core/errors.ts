/**
 * Typed errors. Every failure walcast reports is a `WalcastError` with a fixed
 * `code`, structured `context` (which object, which txid, which field) and an
 * optional operator `hint`. Only the CLI entry points print them.
 */

/** Structured details attached to an error; never holds secrets. */
export type ErrorContext = Record<string, string | number | boolean | undefined>;

/** Options accepted by every walcast error. */
export interface WalcastErrorOptions {
  hint?: string;
  context?: ErrorContext;
  cause?: unknown;
}

/** Base class of all walcast errors. */
export class WalcastError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly context: ErrorContext;

  constructor(code: string, message: string, opts: WalcastErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = opts.hint;
    this.context = opts.context ?? {};
  }
}

/** A configuration file or value is invalid. */
export class ConfigError extends WalcastError {
  constructor(message: string, opts?: WalcastErrorOptions) {
    super('WALCAST_ERR_CONFIG', message, opts);
  }
}

/** Command-line arguments are invalid. */
export class UsageError extends WalcastError {
  constructor(message: string, opts?: WalcastErrorOptions) {
    super('WALCAST_ERR_USAGE', message, opts);
  }
}

/** The database is missing, unreadable, or not a SQLite database in WAL mode. */
export class DatabaseError extends WalcastError {
  constructor(message: string, opts?: WalcastErrorOptions) {
    super('WALCAST_ERR_DATABASE', message, opts);
  }
}

/** The database is not in WAL mode. */
export class NotWalModeError extends WalcastError {
  constructor(message: string, opts?: WalcastErrorOptions) {
    super('WALCAST_ERR_NOT_WAL', message, opts);
  }
}

/** A storage key does not exist. Every backend throws this for a missing key. */
export class NotFoundError extends WalcastError {
  constructor(key: string, opts?: WalcastErrorOptions) {
    super('WALCAST_ERR_NOT_FOUND', `object not found: ${key}`, {
      ...opts,
      context: { object: key, ...opts?.context },
    });
  }
}

/** A conditional write found the key already present. */
export class AlreadyExistsError extends WalcastError {
  constructor(key: string, opts?: WalcastErrorOptions) {
    super('WALCAST_ERR_EXISTS', `object already exists: ${key}`, {
      ...opts,
      context: { object: key, ...opts?.context },
    });
  }
}

/** A storage backend failed (network, permissions, quota, ...). */
export class StorageError extends WalcastError {
  /** True when retrying the same request may succeed. */
  readonly transient: boolean;
  constructor(message: string, transient: boolean, opts?: WalcastErrorOptions) {
    super(transient ? 'WALCAST_ERR_STORAGE' : 'WALCAST_ERR_STORAGE_PERMANENT', message, opts);
    this.transient = transient;
  }
}

/** A key is missing from the keyring, unreadable, or malformed. */
export class KeyError extends WalcastError {
  constructor(message: string, opts?: WalcastErrorOptions) {
    super('WALCAST_ERR_KEY', message, opts);
  }
}

/** An object was sealed with a different key than the one the keyring holds under its id. */
export class WrongKeyError extends WalcastError {
  constructor(message: string, opts?: WalcastErrorOptions) {
    super('WALCAST_ERR_WRONG_KEY', message, opts);
  }
}

/** An object is malformed, truncated, or fails authentication. */
export class CorruptObjectError extends WalcastError {
  constructor(message: string, opts?: WalcastErrorOptions) {
    super('WALCAST_ERR_CORRUPT', message, opts);
  }
}

/** A database checksum does not match the one recorded. */
export class ChecksumMismatchError extends WalcastError {
  constructor(message: string, opts?: WalcastErrorOptions) {
    super('WALCAST_ERR_CHECKSUM', message, opts);
  }
}

/** The history is broken: a gap in txids or a broken hash chain. */
export class ChainError extends WalcastError {
  constructor(message: string, opts?: WalcastErrorOptions) {
    super('WALCAST_ERR_CHAIN', message, opts);
  }
}

/** A restore target cannot be reached (nothing at or before it, unknown generation, ...). */
export class TargetError extends WalcastError {
  constructor(message: string, opts?: WalcastErrorOptions) {
    super('WALCAST_ERR_TARGET', message, opts);
  }
}

/** The restore output already exists and `--force` was not given. */
export class OutputExistsError extends WalcastError {
  constructor(message: string, opts?: WalcastErrorOptions) {
    super('WALCAST_ERR_OUTPUT_EXISTS', message, opts);
  }
}

/** `PRAGMA integrity_check` failed on a restored database. */
export class IntegrityError extends WalcastError {
  constructor(message: string, opts?: WalcastErrorOptions) {
    super('WALCAST_ERR_INTEGRITY', message, opts);
  }
}

/** Another agent holds the database in this destination. */
export class FencedError extends WalcastError {
  constructor(message: string, opts?: WalcastErrorOptions) {
    super('WALCAST_ERR_FENCED', message, opts);
  }
}

/** Staging is full; the agent keeps the WAL pinned instead of dropping data. */
export class StagingFullError extends WalcastError {
  constructor(message: string, opts?: WalcastErrorOptions) {
    super('WALCAST_ERR_STAGING_FULL', message, opts);
  }
}

/** Renders an error for a human: message, then the hint, then the cause chain. */
export function describeError(err: unknown): { message: string; hint?: string } {
  if (err instanceof WalcastError) {
    const causes: string[] = [];
    let c: unknown = err.cause;
    while (c instanceof Error && causes.length < 3) {
      causes.push(c.message);
      c = c.cause;
    }
    const message = causes.length ? `${err.message} (${causes.join('; ')})` : err.message;
    return err.hint ? { message, hint: err.hint } : { message };
  }
  if (err instanceof Error) return { message: err.message };
  return { message: String(err) };
}
