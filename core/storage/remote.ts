/**
 * What the S3 and Azure backends share: transport error codes, key order,
 * and the handling of request and response bodies.
 */
import { PassThrough, type Readable } from 'node:stream';

/** Why a request to a remote store failed, as recorded in `StorageError.context.reason`. */
export type RemoteFailureReason = 'auth' | 'no-bucket' | 'network' | 'timeout' | 'throttled' | 'server' | 'request';

/** What an SDK error means for the caller. */
export type RemoteErrorClass =
  | { kind: 'not-found' }
  | { kind: 'exists' }
  | { kind: 'failure'; reason: RemoteFailureReason; transient: boolean; status?: number; code?: string };

/** Transport error codes (of Node and of the SDKs' HTTP layers) that mean "could not reach the store". */
export const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EPROTO',
  'ERR_STREAM_PREMATURE_CLOSE',
  'REQUEST_SEND_ERROR',
  'UND_ERR_SOCKET',
]);

/** Orders strings by their UTF-8 bytes, as the stores list keys. */
export function byteCompare(a: string, b: string): number {
  if (a === b) return 0;
  // Plain comparison agrees with byte order unless a surrogate pair is involved.
  if (!/[\ud800-\udfff]/.test(a + b)) return a < b ? -1 : 1;
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * After an upload of a stream failed: the body's own failure (say, its
 * encoder broke) is the caller's error, not the store's, and is thrown; an
 * abort is only the upload letting go of it. Otherwise the body is released.
 */
export function rethrowBodyError(body: Readable): void {
  const own = body.errored as (Error & { code?: string }) | null;
  if (own && own.name !== 'AbortError' && own.code !== 'ERR_STREAM_PREMATURE_CLOSE') throw own;
  body.destroy();
}

/**
 * Passes a response body through, turning its errors into typed ones.
 * Destroying the result (a reader that stops early) releases the connection
 * at once; after a complete read it stays pooled.
 */
export function typedBody(body: Readable, wrap: (err: unknown) => Error): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  // The error stays on `out` for its reader (iteration and pipeline rethrow
  // it); one that has not started reading yet must not crash the process.
  out.on('error', () => {});
  body.once('error', (err) => out.destroy(wrap(err)));
  out.once('close', () => body.destroy());
  body.pipe(out);
  return out;
}
