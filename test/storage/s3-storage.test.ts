/**
 * S3 backend against a real s3rver started here: the shared conformance
 * suite (a fresh bucket per storage), then S3-specific behaviour: error
 * classification, secret hygiene, multipart uploads, batched deletes.
 */
import { createServer as createHttpServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { destinationSchema, type S3DestinationConfig } from '../../core/destination-config.js';
import { NotFoundError } from '../../core/errors.js';
import { classifyS3Error, S3Storage } from '../../core/storage/s3-storage.js';
import { getBuffer, listAll } from '../../core/storage/storage.js';
import { rejects } from '../helpers/assert.js';
import { assertFailure, blackHole, closedPort, everythingShown } from '../helpers/storage-failures.js';
import { s3DestinationConfig, startS3rver, type S3rverHandle } from '../helpers/servers.js';
import { storageConformance } from './conformance.js';

let started: Promise<S3rverHandle> | undefined;
/** One s3rver for the whole file, started on first use. */
const server = (): Promise<S3rverHandle> => (started ??= startS3rver());
let buckets = 0;

/** A validated config for s3rver, with overrides. */
async function config(overrides: Record<string, unknown> = {}): Promise<S3DestinationConfig> {
  return destinationSchema.parse({ ...s3DestinationConfig(await server()), ...overrides }) as S3DestinationConfig;
}

/** Creates an empty bucket on s3rver. */
async function freshBucket(): Promise<string> {
  const s = await server();
  const bucket = `b${++buckets}-${randomBytes(4).toString('hex')}`;
  const client = new S3Client({
    endpoint: s.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
  return bucket;
}

storageConformance('s3 (s3rver)', {
  setup: async () => {
    await server();
  },
  make: async () => new S3Storage(await config({ bucket: await freshBucket() })),
});

const SECRET = 'TOPSECRET/s3+key=0123456789abcdef';
const SESSION = 'SESSIONSECRET-9f8e7d6c5b4a';

const test = suite('s3 storage (s3rver)');
test.after(async () => {
  if (started) await (await started).stop();
});

test('config: defaults apply and half-given credentials are refused', async () => {
  const c = destinationSchema.parse({ name: 'x', type: 's3', bucket: 'bkt' }) as S3DestinationConfig;
  assert.is(c.region, 'us-east-1');
  assert.is(c.forcePathStyle, false);
  assert.is(c.conditionalWrites, true);
  assert.is(c.requestTimeoutMs, 30_000);
  assert.is(c.partSizeBytes, 8 << 20);
  const half = destinationSchema.safeParse({ name: 'x', type: 's3', bucket: 'bkt', accessKeyId: 'AK' });
  assert.not.ok(half.success);
  assert.match(JSON.stringify(half.error!.issues), /accessKeyId.*secretAccessKey.*together/);
  assert.not.ok(destinationSchema.safeParse({ name: 'x', type: 's3', bucket: 'bkt', partSizeBytes: 1 << 20 }).success);
  assert.not.ok(destinationSchema.safeParse({ name: 'x', type: 's3', bucket: 'bkt', sseKmsKeyId: 'k' }).success);
  assert.ok(destinationSchema.safeParse({ name: 'x', type: 's3', bucket: 'bkt', serverSideEncryption: 'aws:kms', sseKmsKeyId: 'k' }).success);
});

test('description names bucket, prefix and endpoint host, never a credential', async () => {
  const s = new S3Storage(await config({ prefix: 'team/app', secretAccessKey: SECRET, sessionToken: SESSION }));
  const srv = await server();
  assert.is(s.description, `s3://${srv.bucket}/team/app (127.0.0.1:${srv.port})`);
  assert.not.match(s.description, /SECRET/);
  assert.is(s.conditionalWrites, false);
  assert.is(new S3Storage(await config({ conditionalWrites: true })).conditionalWrites, true);
  await s.close();
  await s.close(); // idempotent
});

test('an unknown access key is a permanent auth error that never shows the secret', async () => {
  const s = new S3Storage(await config({ accessKeyId: 'NOT-A-KNOWN-KEY', secretAccessKey: SECRET, sessionToken: SESSION }));
  for (const op of [() => s.put('k/a.bin', Buffer.from('x')), () => s.get('k/a.bin'), () => listAll(s, 'k/')]) {
    const e = assertFailure(await rejects(op), 'auth', false);
    assert.match(e.message, /k\/a?/);
    assert.ok(e.hint && /credentials|accessKeyId/.test(e.hint), e.hint);
    const shown = everythingShown(e);
    assert.not.ok(shown.includes(SECRET), shown);
    assert.not.ok(shown.includes(encodeURIComponent(SECRET)), shown);
    assert.not.ok(shown.includes(SESSION), shown);
  }
  await s.close();
});

test('a missing bucket is a permanent no-bucket error, also for get', async () => {
  const s = new S3Storage(await config({ bucket: 'no-such-bucket-here' }));
  const put = assertFailure(await rejects(() => s.put('a/b', Buffer.from('x'))), 'no-bucket', false);
  assert.match(put.message, /put a\/b/);
  assert.match(put.hint ?? '', /no-such-bucket-here/);
  const get = await rejects(() => s.get('a/b'));
  assert.not.instance(get, NotFoundError);
  assertFailure(get, 'no-bucket', false);
  assertFailure(await rejects(() => listAll(s, 'a/')), 'no-bucket', false);
  assertFailure(await rejects(() => s.delete(['a/b'])), 'no-bucket', false);
  await s.close();
});

test('an unreachable endpoint is a transient network error within seconds', async () => {
  const port = await closedPort();
  const s = new S3Storage(await config({ endpoint: `http://127.0.0.1:${port}` }));
  const t0 = Date.now();
  const e = assertFailure(await rejects(() => s.put('n/x', Buffer.from('x'))), 'network', true);
  assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
  assert.match(e.message, /put n\/x/);
  assert.match(e.hint ?? '', new RegExp(`127\\.0\\.0\\.1:${port}`));
  assertFailure(await rejects(() => s.get('n/x')), 'network', true);
  assertFailure(await rejects(() => listAll(s, 'n/')), 'network', true);
  await s.close();
});

test('a server that never answers is a transient timeout', async () => {
  const hole = await blackHole();
  const s = new S3Storage(await config({ endpoint: `http://127.0.0.1:${hole.port}`, requestTimeoutMs: 300 }));
  const t0 = Date.now();
  assertFailure(await rejects(() => s.put('t/x', Buffer.from('x'))), 'timeout', true);
  assertFailure(await rejects(() => s.get('t/x')), 'timeout', true);
  assert.ok(Date.now() - t0 < 8000, `took ${Date.now() - t0} ms`);
  await s.close();
  await hole.close();
});

test('a 20 MiB stream of unknown size goes up in parts and round-trips; a range from its middle reads back', async () => {
  const s = new S3Storage(await config({ bucket: await freshBucket(), partSizeBytes: 5 << 20 }));
  const body = randomBytes(20 << 20);
  // Odd-sized chunks, so part boundaries never line up with them.
  const chunks: Buffer[] = [];
  for (let i = 0; i < body.length; i += 777_777) chunks.push(body.subarray(i, i + 777_777));
  await s.put('big/unknown.bin', Readable.from(chunks));
  assert.ok((await getBuffer(s, 'big/unknown.bin')).equals(body));
  const start = (10 << 20) - 1234;
  const end = start + (3 << 20);
  const parts: Buffer[] = [];
  for await (const b of await s.get('big/unknown.bin', { start, end })) parts.push(b as Buffer);
  assert.ok(Buffer.concat(parts).equals(body.subarray(start, end + 1)));
  // Same again with the size given up front.
  await s.put('big/known.bin', Readable.from(chunks), { size: body.length });
  assert.ok((await getBuffer(s, 'big/known.bin')).equals(body));
  assert.equal(
    (await listAll(s, 'big/')).map((o) => [o.key, o.size]),
    [
      ['big/known.bin', body.length],
      ['big/unknown.bin', body.length],
    ],
  );
  await s.close();
});

test('a body cut off mid-way is a typed transient error; a reader may stop early', async () => {
  // A fake store that promises 1 MiB and hangs up after 64 KiB.
  const fake = createHttpServer((_req, res) => {
    res.writeHead(200, { 'content-length': String(1 << 20), 'content-type': 'application/octet-stream' });
    res.write(randomBytes(64 << 10), () => setTimeout(() => res.socket?.destroy(), 50));
  });
  await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
  const s = new S3Storage(await config({ endpoint: `http://127.0.0.1:${(fake.address() as { port: number }).port}` }));
  const err = await rejects(async () => {
    for await (const _ of await s.get('cut/x.bin'));
  });
  const e = assertFailure(err, 'network', true);
  assert.match(e.message, /get cut\/x\.bin/);
  await s.close();
  await new Promise<void>((r) => fake.close(() => r()));

  const real = new S3Storage(await config({ bucket: await freshBucket() }));
  await real.put('early/x.bin', randomBytes(4 << 20));
  const body = await real.get('early/x.bin');
  for await (const _ of body) break; // destroys the stream
  assert.ok(body.destroyed);
  assert.is((await getBuffer(real, 'early/x.bin')).length, 4 << 20);
  await real.close();
});

test('a stream shorter or longer than its announced size is refused', async () => {
  const s = new S3Storage(await config({ bucket: await freshBucket() }));
  assertFailure(await rejects(() => s.put('m/short', Readable.from([Buffer.alloc(10)]), { size: 11 })), 'request', false);
  assertFailure(await rejects(() => s.put('m/long', Readable.from([Buffer.alloc(12)]), { size: 11 })), 'request', false);
  assert.equal(await listAll(s, 'm/'), []);
  await s.close();
});

test('delete removes more than a thousand keys (batched)', async () => {
  const s = new S3Storage(await config({ bucket: await freshBucket() }));
  const keys = Array.from({ length: 1203 }, (_, i) => `del/${i.toString(16).padStart(8, '0')}`);
  for (let i = 0; i < keys.length; i += 100) await Promise.all(keys.slice(i, i + 100).map((k) => s.put(k, Buffer.from('x'))));
  await s.put('keep/1', Buffer.from('1'));
  await s.delete([...keys, 'del/missing']);
  assert.equal(await listAll(s, 'del/'), []);
  assert.equal((await listAll(s, '')).map((o) => o.key), ['keep/1']);
  await s.close();
});

test('error classification covers what real S3 stores answer', () => {
  const svc = (name: string, status: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
  const sys = (code: string, name = 'Error') => Object.assign(new Error(code), { code, name });
  const reason = (err: unknown) => {
    const c = classifyS3Error(err);
    return c.kind === 'failure' ? `${c.reason}:${c.transient}` : c.kind;
  };
  assert.is(reason(svc('NoSuchKey', 404)), 'not-found');
  assert.is(reason(svc('NotFound', 404)), 'not-found');
  assert.is(reason(svc('NoSuchBucket', 404)), 'no-bucket:false');
  assert.is(reason(svc('PreconditionFailed', 412)), 'exists');
  assert.is(reason(svc('ConditionalRequestConflict', 409)), 'exists');
  assert.is(reason(svc('AccessDenied', 403)), 'auth:false');
  assert.is(reason(svc('InvalidAccessKeyId', 403)), 'auth:false');
  assert.is(reason(svc('SignatureDoesNotMatch', 403)), 'auth:false');
  assert.is(reason(Object.assign(new Error('no creds'), { name: 'CredentialsProviderError' })), 'auth:false');
  assert.is(reason(svc('SlowDown', 503)), 'throttled:true');
  assert.is(reason(svc('TooManyRequests', 429)), 'throttled:true');
  assert.is(reason(svc('InternalError', 500)), 'server:true');
  assert.is(reason(svc('BadGateway', 502)), 'server:true');
  assert.is(reason(svc('InvalidRange', 416)), 'request:false');
  assert.is(reason(svc('RequestTimeout', 400)), 'timeout:true');
  assert.is(reason(sys('ECONNREFUSED')), 'network:true');
  assert.is(reason(sys('ENOTFOUND')), 'network:true');
  assert.is(reason(sys('EAI_AGAIN')), 'network:true');
  // The SDK names a reset connection TimeoutError; it is still the network.
  assert.is(reason(sys('ECONNRESET', 'TimeoutError')), 'network:true');
  assert.is(reason(Object.assign(new Error('socket idle'), { name: 'TimeoutError' })), 'timeout:true');
  assert.is(reason(new TypeError('bug')), 'request:false');
});

test.run();
