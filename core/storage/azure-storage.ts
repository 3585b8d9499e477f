/**
 * Azure Blob Storage backend on @azure/storage-blob. Keys arrive already
 * carrying the destination prefix (Layout adds it), so they name blobs
 * verbatim; the prefix only shows in `description`.
 *
 * Block blobs commit atomically (a put is whole or absent), `If-None-Match: *`
 * is honoured, and flat listings come back in key order, so the contract maps
 * directly. Two gaps of the SDK are filled here: it has no usable client-side
 * timeout (its `tryTimeoutInMs` only asks the server to give up), so a policy
 * adds one; and its default retries wait for minutes, while the agent
 * runs its own backoff.
 *
 * The SDK is loaded on first use: it takes most of a second to import, which
 * every agent and restore start would pay even with no Azure destination.
 */
import { Readable } from 'node:stream';
import type { ContainerClient, RequestPolicy, RequestPolicyFactory, WebResource } from '@azure/storage-blob';
import type { AzureDestinationConfig } from '../destination-config.js';
import { AlreadyExistsError, NotFoundError, StorageError } from '../errors.js';
import { byteCompare, NETWORK_CODES, rethrowBodyError, typedBody, type RemoteErrorClass, type RemoteFailureReason } from './remote.js';
import type { ObjectInfo, PutOptions, Storage } from './storage.js';

type AzureSdk = typeof import('@azure/storage-blob');
let sdkLoad: Promise<AzureSdk> | undefined;
const loadSdk = (): Promise<AzureSdk> => (sdkLoad ??= import('@azure/storage-blob'));

/** Block size of uploads, and the largest object sent in a single request. */
const BLOCK_SIZE = 4 << 20;
/** Blocks staged at once; memory stays near (this + 1) × BLOCK_SIZE per upload. */
const UPLOAD_CONCURRENCY = 2;
/** Deletes in flight at once (Azure has no multi-object delete outside batch requests). */
const DELETE_CONCURRENCY = 8;
/** Blobs per listing page (the service maximum). */
const LIST_PAGE = 5000;

const AUTH_CODES = new Set([
  'AuthenticationFailed',
  'AuthorizationFailure',
  'AuthorizationPermissionMismatch',
  'AuthorizationResourceTypeMismatch',
  'AuthorizationServiceMismatch',
  'AuthorizationSourceIPMismatch',
  'AuthorizationProtocolMismatch',
  'InsufficientAccountPermissions',
  'InvalidAuthenticationInfo',
  'NoAuthenticationInformation',
  'AccountIsDisabled',
]);

/** Sorts out an error thrown by the Azure SDK (or by the transport under it). */
export function classifyAzureError(err: unknown): RemoteErrorClass {
  const e = (err ?? {}) as { name?: string; code?: string; statusCode?: number; details?: { errorCode?: string } };
  const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
  // HEAD responses have no body, so the service's error code may only be in
  // details.errorCode (taken from a header); Azurite then leaves `code` unset.
  const code = e.details?.errorCode ?? (typeof e.code === 'string' ? e.code : undefined) ?? (e.name !== 'Error' && e.name !== 'RestError' ? e.name : undefined);
  const failure = (reason: RemoteFailureReason, transient: boolean): RemoteErrorClass => ({ kind: 'failure', reason, transient, status, code });

  if (code === 'ContainerNotFound' || code === 'ContainerBeingDeleted') return failure('no-bucket', false);
  if (code === 'BlobNotFound' || status === 404) return { kind: 'not-found' };
  if (code === 'BlobAlreadyExists' || code === 'ConditionNotMet' || status === 412) return { kind: 'exists' };
  if (code !== undefined && NETWORK_CODES.has(code)) return failure('network', true);
  // Only the timeout policy aborts requests, so an abort is a timeout.
  if (e.name === 'AbortError' || e.name === 'TimeoutError' || code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT' || code === 'OperationTimedOut') return failure('timeout', true);
  if (status === 429 || status === 503 || code === 'ServerBusy' || code === 'TooManyRequests') return failure('throttled', true);
  if (status === 403 || AUTH_CODES.has(code ?? '')) return failure('auth', false);
  if (status !== undefined && status >= 500) return failure('server', true);
  if (status !== undefined && status >= 400) return failure('request', false);
  if (code !== undefined && /^(E[A-Z]+$|ERR_SOCKET_|ERR_HTTP)/.test(code)) return failure('network', true);
  return failure('request', false);
}

/** An Azure Blob Storage container as a walcast destination. */
export class AzureStorage implements Storage {
  readonly description: string;
  readonly conditionalWrites = true;
  private client: Promise<ContainerClient> | undefined;
  /** The container's URL once the client exists (for hints; it may hold a SAS, so never printed whole). */
  private url: string | undefined;
  private readonly secrets: string[];

  constructor(private readonly config: AzureDestinationConfig) {
    this.secrets = secretsOf(config);
    this.description = `azure://${accountOf(config)}/${config.container}${config.prefix ? `/${config.prefix}` : ''}`;
  }

  /** The SDK and a container client on a pipeline of our own, made on first use. */
  private container(): Promise<ContainerClient> {
    return (this.client ??= loadSdk().then((sdk) => {
      const c = this.config;
      let url: string;
      let credential: InstanceType<AzureSdk['StorageSharedKeyCredential']> | InstanceType<AzureSdk['AnonymousCredential']>;
      if (c.connectionString !== undefined) {
        // The SDK parses the connection string (no request is made); the
        // client is then rebuilt on our pipeline.
        let parsed: ContainerClient;
        try {
          parsed = new sdk.ContainerClient(c.connectionString, c.container);
        } catch (err) {
          throw new StorageError(`${this.description}: connectionString is not a usable Azure Storage connection string`, false, {
            hint: `copy it from the storage account's "Access keys" page, or give destination "${c.name}" accountName + accountKey`,
            context: { reason: 'request' },
            cause: new Error(this.redact((err as Error).message)),
          });
        }
        url = parsed.url;
        credential = parsed.credential instanceof sdk.StorageSharedKeyCredential ? parsed.credential : new sdk.AnonymousCredential();
      } else if (c.accountName !== undefined && c.accountKey !== undefined) {
        credential = new sdk.StorageSharedKeyCredential(c.accountName, c.accountKey);
        const base = c.endpoint ?? `https://${c.accountName}.blob.core.windows.net`;
        url = `${base.replace(/\/+$/, '')}/${c.container}`;
      } else {
        credential = new sdk.AnonymousCredential();
        const u = new URL(c.url!);
        u.pathname = `${u.pathname.replace(/\/+$/, '')}/${c.container}`;
        u.search = `?${c.sasToken!.replace(/^\?/, '')}`;
        url = u.toString();
      }
      const pipeline = sdk.newPipeline(credential, { retryOptions: { maxTries: 2, retryDelayInMs: 500, maxRetryDelayInMs: 2000 } });
      pipeline.factories.push(timeoutPolicy(c.requestTimeoutMs));
      this.url = url;
      return new sdk.ContainerClient(url, pipeline);
    }));
  }

  async put(key: string, body: Buffer | Readable, opts: PutOptions = {}): Promise<void> {
    const options = opts.ifNoneMatch ? { conditions: { ifNoneMatch: '*' } } : {};
    // A source failing before the upload listens (say, while the SDK loads)
    // must not crash the process; its error is read from `body.errored` below.
    if (!Buffer.isBuffer(body)) body.on('error', () => {});
    try {
      const blob = (await this.container()).getBlockBlobClient(key);
      if (Buffer.isBuffer(body)) {
        // Large buffers go up in blocks too: the request deadline then bounds
        // one block, not a whole object on a slow link.
        await blob.uploadData(body, { ...options, blockSize: BLOCK_SIZE, maxSingleShotSize: BLOCK_SIZE, concurrency: UPLOAD_CONCURRENCY });
      } else {
        await blob.uploadStream(body, BLOCK_SIZE, UPLOAD_CONCURRENCY, options);
      }
    } catch (err) {
      if (!Buffer.isBuffer(body)) rethrowBodyError(body);
      throw this.wrap(err, 'put', key);
    }
  }

  async get(key: string, range?: { start: number; end: number }): Promise<Readable> {
    let body: Readable;
    try {
      const res = await (await this.container()).getBlobClient(key).download(range?.start ?? 0, range ? range.end - range.start + 1 : undefined);
      body = (res.readableStreamBody as Readable | undefined) ?? Readable.from([]);
    } catch (err) {
      throw this.wrap(err, 'get', key);
    }
    // The SDK resumes a broken download itself; what still fails gets typed.
    return typedBody(body, (err) => this.wrap(err, 'get', key));
  }

  async *list(prefix: string, startAfter?: string): AsyncIterable<ObjectInfo> {
    const after = startAfter ?? '';
    let pages;
    try {
      pages = (await this.container()).listBlobsFlat(prefix ? { prefix } : {}).byPage({ maxPageSize: LIST_PAGE });
    } catch (err) {
      throw this.wrap(err, 'list', prefix);
    }
    for (;;) {
      let page;
      try {
        const r = await pages.next();
        if (r.done) return;
        page = r.value;
      } catch (err) {
        throw this.wrap(err, 'list', prefix);
      }
      // The service returns names in order, so nothing here re-sorts.
      for (const b of page.segment.blobItems) {
        if (b.name.startsWith(prefix) && byteCompare(b.name, after) > 0) yield { key: b.name, size: Number(b.properties.contentLength ?? 0) };
      }
    }
  }

  async delete(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    let container: ContainerClient;
    try {
      container = await this.container();
    } catch (err) {
      throw this.wrap(err, 'delete', keys[0]!);
    }
    let next = 0;
    let failure: Error | undefined;
    const worker = async (): Promise<void> => {
      while (failure === undefined && next < keys.length) {
        const key = keys[next++]!;
        try {
          await container.deleteBlob(key, { deleteSnapshots: 'include' });
        } catch (err) {
          if (classifyAzureError(err).kind === 'not-found') continue;
          failure ??= this.wrap(err, 'delete', key);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(DELETE_CONCURRENCY, keys.length) }, worker));
    if (failure) throw failure;
  }

  /** Nothing to release: the SDK shares one keep-alive agent whose idle sockets do not hold the process open. */
  async close(): Promise<void> {}

  /** Turns an SDK error into the contract's typed errors; never lets a credential through. */
  private wrap(err: unknown, op: string, key: string): Error {
    if (err instanceof StorageError || err instanceof NotFoundError || err instanceof AlreadyExistsError) return err;
    const cls = classifyAzureError(err);
    if (cls.kind === 'not-found' && op === 'get') return new NotFoundError(key);
    if (cls.kind === 'exists' && op === 'put') return new AlreadyExistsError(key);
    const f = cls.kind === 'failure' ? cls : { reason: 'request' as const, transient: false, status: (err as { statusCode?: number }).statusCode, code: undefined };
    const e = err as { message?: string; name?: string };
    // Service messages run on with request ids and timestamps: the first line says it.
    const first = (e.message ?? String(err)).split('\n')[0]!.trim();
    const detail = [f.code, f.status !== undefined ? `HTTP ${f.status}` : undefined].filter(Boolean).join(', ');
    const message = this.redact(`${this.description}: ${op} ${key} failed${detail ? ` (${detail})` : ''}`);
    // The service's own words travel as the cause (describeError appends them).
    // The SDK error holds the request (URL with any SAS, headers), so only a scrubbed copy is kept.
    const cause = Object.assign(new Error(this.redact(first)), { name: e.name ?? 'Error', code: f.code });
    return new StorageError(message, f.transient, {
      hint: hintFor(f.reason, this.config, this.url),
      context: { reason: f.reason, operation: op, object: key, status: f.status, code: f.code },
      cause,
    });
  }

  private redact(text: string): string {
    let out = text;
    for (const s of this.secrets) out = out.split(s).join('[redacted]');
    return out;
  }
}

/** The storage account's name, for messages, read from the config without the SDK. */
function accountOf(c: AzureDestinationConfig): string {
  if (c.accountName !== undefined) return c.accountName;
  if (c.url !== undefined) return accountFromUrl(c.url);
  const cs = c.connectionString ?? '';
  const name = /(?:^|;)\s*AccountName=([^;]+)/i.exec(cs)?.[1];
  if (name) return name.trim();
  const endpoint = /(?:^|;)\s*BlobEndpoint=([^;]+)/i.exec(cs)?.[1];
  if (endpoint) return accountFromUrl(endpoint.trim());
  return /UseDevelopmentStorage=true/i.test(cs) ? 'devstoreaccount1' : 'unknown-account';
}

/** Account of a blob service URL: the first label of the host, or the first path segment for IP-style URLs (emulators). */
function accountFromUrl(raw: string): string {
  try {
    const u = new URL(raw);
    const ipStyle = /^\d+\.\d+\.\d+\.\d+$/.test(u.hostname) || u.hostname.startsWith('[') || u.hostname === 'localhost';
    const name = ipStyle ? u.pathname.split('/').filter(Boolean)[0] : u.hostname.split('.')[0];
    return name || 'unknown-account';
  } catch {
    return 'unknown-account';
  }
}

/** Every string that would give access to the account, in the forms it may appear in. */
function secretsOf(c: AzureDestinationConfig): string[] {
  const raw: string[] = [];
  if (c.accountKey) raw.push(c.accountKey);
  if (c.sasToken) raw.push(c.sasToken.replace(/^\?/, ''));
  if (c.connectionString) {
    raw.push(c.connectionString);
    for (const m of c.connectionString.matchAll(/(?:AccountKey|SharedAccessSignature)=([^;]+)/gi)) raw.push(m[1]!);
  }
  for (const s of [...raw]) for (const m of s.matchAll(/(?:^|[?&])sig=([^&;]+)/g)) raw.push(m[1]!, safeDecode(m[1]!));
  const all = raw.flatMap((s) => [s, encodeURIComponent(s)]).filter((s) => s.length >= 4);
  // Longest first, so a whole string goes before a part of it.
  return [...new Set(all)].sort((a, b) => b.length - a.length);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * Gives every request a client-side deadline up to its response headers (the
 * body then streams freely). The SDK's own `request.timeout` would do, but it
 * leaves its timer running when a request fails, which holds a finishing
 * process open for the whole timeout.
 */
function timeoutPolicy(ms: number): RequestPolicyFactory {
  return {
    create: (next: RequestPolicy): RequestPolicy => ({
      sendRequest: async (req: WebResource) => {
        const ctrl = new AbortController();
        const outer = req.abortSignal;
        if (outer?.aborted) ctrl.abort();
        else outer?.addEventListener('abort', () => ctrl.abort());
        let timedOut = false;
        const timer = setTimeout(() => {
          timedOut = true;
          ctrl.abort();
        }, ms);
        req.abortSignal = ctrl.signal;
        try {
          return await next.sendRequest(req);
        } catch (err) {
          if (timedOut) throw Object.assign(new Error(`no response within ${ms} ms`), { name: 'TimeoutError', code: 'ETIMEDOUT' });
          throw err;
        } finally {
          clearTimeout(timer);
        }
      },
    }),
  };
}

/** What an operator should check for each kind of failure. */
function hintFor(reason: RemoteFailureReason, c: AzureDestinationConfig, url: string | undefined): string | undefined {
  const where = url ? new URL(url).host : 'the service';
  switch (reason) {
    case 'auth':
      return `check the credentials of destination "${c.name}" (account key, SAS token or connection string) and that they may read, write, list and delete in container "${c.container}"`;
    case 'no-bucket':
      return `container "${c.container}" does not exist at ${where}; create it or fix "container" of destination "${c.name}"`;
    case 'network':
      return `cannot reach ${where}; check the endpoint of destination "${c.name}", DNS and the network`;
    case 'timeout':
      return `${where} did not answer within ${c.requestTimeoutMs} ms; it will be retried (raise requestTimeoutMs on slow links)`;
    case 'throttled':
      return `${where} is throttling requests; they will be retried`;
    case 'server':
      return undefined;
    case 'request':
      return `the service refused the request; check the endpoint and container of destination "${c.name}"`;
  }
}
