/**
 * Amazon S3 and S3-compatible backend (MinIO, R2, B2, s3rver, ...) on
 * @aws-sdk/client-s3. Keys arrive already carrying the destination prefix
 * (Layout adds it), so they are used verbatim; the prefix only shows in
 * `description`.
 *
 * Compatibility choices, each needed by some store:
 * - checksums only where an operation requires them: the default streaming
 *   checksums frame bodies as aws-chunked, which R2, B2 and s3rver store
 *   verbatim or reject;
 * - DeleteObjects also carries Content-MD5, which MinIO and others still
 *   demand although the SDK now sends only a CRC32;
 * - listings page with StartAfter (the last key seen) instead of continuation
 *   tokens, and each page is sorted here, because some stores (s3rver) break
 *   both;
 * - the SDK retries once at most: the agent runs its own backoff, and a quick
 *   typed error serves it better than minutes of hidden retries.
 *
 * The SDK is loaded on first use: it takes most of a second to import, which
 * every agent and restore start would pay even with no S3 destination.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { PutObjectCommandInput, S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import type { S3DestinationConfig } from '../destination-config.js';
import { AlreadyExistsError, NotFoundError, StorageError } from '../errors.js';
import { byteCompare, NETWORK_CODES, rethrowBodyError, typedBody, type RemoteErrorClass, type RemoteFailureReason } from './remote.js';
import type { ObjectInfo, PutOptions, Storage } from './storage.js';

type S3Sdk = typeof import('@aws-sdk/client-s3');
let sdkLoad: Promise<S3Sdk> | undefined;
const loadSdk = (): Promise<S3Sdk> => (sdkLoad ??= import('@aws-sdk/client-s3'));

/** Most keys one DeleteObjects request may name. */
const DELETE_BATCH = 1000;
/** Most keys one ListObjectsV2 page holds (the S3 maximum). */
const LIST_PAGE = 1000;

const AUTH_CODES = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'AllAccessDisabled',
  'AccountProblem',
  'InvalidSecurity',
  'CredentialsProviderError',
]);
const THROTTLE_CODES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'ThrottledException', 'RequestLimitExceeded', 'TooManyRequests', 'TooManyRequestsException', 'RequestThrottled', 'ServiceUnavailable']);
const TIMEOUT_CODES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'ETIMEDOUT', 'ESOCKETTIMEDOUT']);

/** Sorts out an error thrown by the S3 SDK (or by the transport under it). */
export function classifyS3Error(err: unknown): RemoteErrorClass {
  const e = (err ?? {}) as { name?: string; code?: string; Code?: string; $metadata?: { httpStatusCode?: number }; cause?: { code?: string } };
  const status = e.$metadata?.httpStatusCode;
  // Node transport errors carry `code`; the SDK names service errors by their S3 code.
  const sysCode = typeof e.code === 'string' ? e.code : typeof e.cause?.code === 'string' ? e.cause.code : undefined;
  const code =
    (typeof e.Code === 'string' ? e.Code : undefined) ?? (status !== undefined ? e.name : undefined) ?? sysCode ?? (e.name !== 'Error' ? e.name : undefined);
  const failure = (reason: RemoteFailureReason, transient: boolean): RemoteErrorClass => ({ kind: 'failure', reason, transient, status, code });

  if (code === 'NoSuchBucket') return failure('no-bucket', false);
  if (code === 'NoSuchKey' || (status === 404 && (code === 'NotFound' || code === 'UnknownError'))) return { kind: 'not-found' };
  if (code === 'PreconditionFailed' || code === 'ConditionalRequestConflict' || status === 412) return { kind: 'exists' };
  // The SDK reports a dropped connection as a TimeoutError carrying ECONNRESET: the code says more.
  if (sysCode !== undefined && NETWORK_CODES.has(sysCode)) return failure('network', true);
  if (sysCode === 'ETIMEDOUT' || TIMEOUT_CODES.has(code ?? '') || e.name === 'TimeoutError') return failure('timeout', true);
  if (status === 429 || status === 503 || THROTTLE_CODES.has(code ?? '')) return failure('throttled', true);
  if (status === 403 || AUTH_CODES.has(code ?? '')) return failure('auth', false);
  if ((status !== undefined && status >= 500) || code === 'InternalError') return failure('server', true);
  if (status !== undefined && status >= 400) return failure('request', false);
  // No HTTP answer at all: a transport error we have no name for is worth a retry.
  if (sysCode !== undefined && /^(E[A-Z]+$|ERR_SOCKET_|ERR_HTTP|UND_ERR_)/.test(sysCode)) return failure('network', true);
  return failure('request', false);
}

/** An S3 bucket (or a prefix of one) as a walcast destination. */
export class S3Storage implements Storage {
  readonly description: string;
  readonly conditionalWrites: boolean;
  private readonly clientConfig: S3ClientConfig;
  private client: Promise<{ sdk: S3Sdk; client: S3Client }> | undefined;
  private readonly bucket: string;
  private readonly partSize: number;
  private readonly sse: Pick<PutObjectCommandInput, 'ServerSideEncryption' | 'SSEKMSKeyId'>;
  private readonly secrets: string[];

  constructor(private readonly config: S3DestinationConfig) {
    this.bucket = config.bucket;
    this.partSize = config.partSizeBytes;
    this.conditionalWrites = config.conditionalWrites;
    const host = config.endpoint ? ` (${new URL(config.endpoint).host})` : '';
    this.description = `s3://${config.bucket}${config.prefix ? `/${config.prefix}` : ''}${host}`;
    this.secrets = [config.secretAccessKey, config.sessionToken].filter((s): s is string => !!s);
    this.sse = {
      ...(config.serverSideEncryption ? { ServerSideEncryption: config.serverSideEncryption } : {}),
      ...(config.sseKmsKeyId ? { SSEKMSKeyId: config.sseKmsKeyId } : {}),
    };
    this.clientConfig = {
      region: config.region,
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      forcePathStyle: config.forcePathStyle,
      ...(config.accessKeyId && config.secretAccessKey
        ? {
            credentials: {
              accessKeyId: config.accessKeyId,
              secretAccessKey: config.secretAccessKey,
              ...(config.sessionToken ? { sessionToken: config.sessionToken } : {}),
            },
          }
        : {}),
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 2,
      // Idle timeouts, not a cap on the whole request: a large part on a slow
      // link may take long, but a connection that stops moving is dead.
      requestHandler: { connectionTimeout: config.requestTimeoutMs, socketTimeout: config.requestTimeoutMs },
      // The SDK otherwise writes warnings to the console; failures reach the
      // agent's structured log as typed errors instead.
      logger: { debug() {}, info() {}, warn() {}, error() {} },
    };
  }

  /** The SDK and a client, made on first use. */
  private s3(): Promise<{ sdk: S3Sdk; client: S3Client }> {
    return (this.client ??= loadSdk().then((sdk) => ({ sdk, client: new sdk.S3Client(this.clientConfig) })));
  }

  async put(key: string, body: Buffer | Readable, opts: PutOptions = {}): Promise<void> {
    const params: PutObjectCommandInput = {
      Bucket: this.bucket,
      Key: key,
      ...this.sse,
      ...(opts.ifNoneMatch && this.conditionalWrites ? { IfNoneMatch: '*' } : {}),
    };
    // A failing source stops a multipart upload at once (and never goes unheard).
    const abort = new AbortController();
    if (!Buffer.isBuffer(body)) body.on('error', () => abort.abort());
    try {
      const { sdk, client } = await this.s3();
      if (Buffer.isBuffer(body)) {
        await client.send(new sdk.PutObjectCommand({ ...params, Body: body, ContentLength: body.length }));
      } else if (opts.size !== undefined && opts.size <= this.partSize) {
        // One part's worth is held in memory anyway by a multipart upload.
        // Reading it first lets the SDK retry the request, and a source that
        // fails midway never reaches the store (some stores, s3rver among
        // them, keep the truncated body of an aborted PUT).
        const whole = await readWhole(body, opts.size);
        await client.send(new sdk.PutObjectCommand({ ...params, Body: whole, ContentLength: whole.length }));
      } else {
        // Multipart: at most queueSize parts in flight plus one being filled,
        // so memory stays near 3 × partSize whatever the object's size.
        const { Upload } = await import('@aws-sdk/lib-storage');
        const upload = new Upload({
          client,
          params: { ...params, Body: body, ...(opts.size !== undefined ? { ContentLength: opts.size } : {}) },
          partSize: this.partSize,
          queueSize: 2,
          leavePartsOnError: false,
          abortController: abort,
        });
        await upload.done();
      }
    } catch (err) {
      if (!Buffer.isBuffer(body)) rethrowBodyError(body);
      throw this.wrap(err, 'put', key);
    }
  }

  async get(key: string, range?: { start: number; end: number }): Promise<Readable> {
    let body: Readable;
    try {
      const { sdk, client } = await this.s3();
      const res = await client.send(
        new sdk.GetObjectCommand({ Bucket: this.bucket, Key: key, ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }),
      );
      body = (res.Body as Readable | undefined) ?? Readable.from([]);
    } catch (err) {
      throw this.wrap(err, 'get', key);
    }
    // A connection lost mid-body surfaces as a typed, classified error too.
    return typedBody(body, (err) => this.wrap(err, 'get', key));
  }

  async *list(prefix: string, startAfter?: string): AsyncIterable<ObjectInfo> {
    let after = startAfter ?? '';
    for (;;) {
      let res;
      try {
        const { sdk, client } = await this.s3();
        res = await client.send(
          new sdk.ListObjectsV2Command({ Bucket: this.bucket, MaxKeys: LIST_PAGE, ...(prefix ? { Prefix: prefix } : {}), ...(after ? { StartAfter: after } : {}) }),
        );
      } catch (err) {
        throw this.wrap(err, 'list', prefix);
      }
      const page = (res.Contents ?? [])
        .filter((o): o is typeof o & { Key: string } => typeof o.Key === 'string' && o.Key.startsWith(prefix) && byteCompare(o.Key, after) > 0)
        .map((o) => ({ key: o.Key, size: Number(o.Size ?? 0) }))
        .sort((a, b) => byteCompare(a.key, b.key));
      for (const o of page) yield o;
      const last = page[page.length - 1];
      // A store that claims more but returns nothing new would loop forever.
      if (!res.IsTruncated || !last) return;
      after = last.key;
    }
  }

  async delete(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      let res;
      try {
        const { sdk, client } = await this.s3();
        const cmd = new sdk.DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } });
        cmd.middlewareStack.add(
          (next) => async (args) => {
            const req = args.request as { headers?: Record<string, string>; body?: unknown };
            if (req.headers && (typeof req.body === 'string' || req.body instanceof Uint8Array)) {
              req.headers['content-md5'] = createHash('md5').update(req.body).digest('base64');
            }
            return next(args);
          },
          { step: 'build', name: 'walcastDeleteContentMd5' },
        );
        res = await client.send(cmd);
      } catch (err) {
        throw this.wrap(err, 'delete', batch.length > 1 ? `${batch[0]!} (and ${batch.length - 1} more)` : batch[0]!);
      }
      const failed = (res.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length) {
        const first = failed[0]!;
        const cls = classifyS3Error({ Code: first.Code });
        const reason = cls.kind === 'failure' ? cls.reason : 'server';
        const transient = cls.kind === 'failure' ? cls.transient : true;
        throw new StorageError(
          this.redact(`${this.description}: delete ${first.Key ?? '?'} failed: ${first.Code ?? 'error'}${first.Message ? `: ${first.Message}` : ''} (${failed.length} of ${batch.length} keys not deleted)`),
          transient,
          { hint: hintFor(reason, this.config), context: { reason, operation: 'delete', object: first.Key, code: first.Code, failed: failed.length } },
        );
      }
    }
  }

  async close(): Promise<void> {
    const made = this.client;
    this.client = undefined;
    if (made) (await made.catch(() => undefined))?.client.destroy();
  }

  /** Turns an SDK error into the contract's typed errors; never lets a credential through. */
  private wrap(err: unknown, op: string, key: string): Error {
    if (err instanceof StorageError || err instanceof NotFoundError || err instanceof AlreadyExistsError) return err;
    const c = classifyS3Error(err);
    if (c.kind === 'not-found' && op === 'get') return new NotFoundError(key);
    if (c.kind === 'exists' && op === 'put') return new AlreadyExistsError(key);
    const cls = c.kind === 'failure' ? c : { reason: 'request' as const, transient: false, status: (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, code: (err as Error).name };
    const e = err as { message?: string; name?: string };
    const detail = [cls.code, cls.status !== undefined ? `HTTP ${cls.status}` : undefined].filter(Boolean).join(', ');
    const message = this.redact(`${this.description}: ${op} ${key} failed${detail ? ` (${detail})` : ''}`);
    // The store's own words travel as the cause (describeError appends them).
    // The SDK error holds the raw response, so only a scrubbed copy is kept.
    const cause = Object.assign(new Error(this.redact(e.message || String(err))), { name: e.name ?? 'Error', code: cls.code });
    return new StorageError(message, cls.transient, {
      hint: hintFor(cls.reason, this.config),
      context: { reason: cls.reason, operation: op, object: key, status: cls.status, code: cls.code },
      cause,
    });
  }

  private redact(text: string): string {
    let out = text;
    for (const s of this.secrets) out = out.split(s).join('[redacted]').split(encodeURIComponent(s)).join('[redacted]');
    return out;
  }
}

/** What an operator should check for each kind of failure. */
function hintFor(reason: RemoteFailureReason, c: S3DestinationConfig): string | undefined {
  const where = c.endpoint ? new URL(c.endpoint).host : `S3 in ${c.region}`;
  switch (reason) {
    case 'auth':
      return c.accessKeyId
        ? `check accessKeyId/secretAccessKey of destination "${c.name}" and that they may read, write, list and delete in bucket "${c.bucket}"`
        : `no valid credentials for destination "${c.name}": set accessKeyId/secretAccessKey, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile or an instance role, with read, write, list and delete rights on bucket "${c.bucket}"`;
    case 'no-bucket':
      return `bucket "${c.bucket}" does not exist at ${where}; create it or fix "bucket" (and "region"/"endpoint") of destination "${c.name}"`;
    case 'network':
      return `cannot reach ${where}; check "endpoint" of destination "${c.name}", DNS and the network`;
    case 'timeout':
      return `${where} did not answer within ${c.requestTimeoutMs} ms; it will be retried (raise requestTimeoutMs on slow links)`;
    case 'throttled':
      return `${where} is throttling requests; they will be retried`;
    case 'server':
      return undefined;
    case 'request':
      return `the store refused the request; check "region", "endpoint" and "forcePathStyle" of destination "${c.name}"`;
  }
}

/** Reads a stream of known length into one buffer; a different length is the caller's mistake. */
async function readWhole(body: Readable, size: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  for await (const chunk of body) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    got += b.length;
    if (got > size) break;
    parts.push(b);
  }
  if (got !== size) {
    throw new Error(`the body is ${got > size ? 'longer' : 'shorter'} than the ${size} bytes announced`);
  }
  return Buffer.concat(parts, size);
}
