/**
 * Azure backend against a real Azurite started here: the shared conformance
 * suite (a fresh container per storage), then Azure-specific behaviour: error
 * classification, secret hygiene for every credential style, streamed and
 * conditional uploads.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ContainerClient, generateAccountSASQueryParameters, AccountSASPermissions, AccountSASResourceTypes, AccountSASServices, StorageSharedKeyCredential } from '@azure/storage-blob';
import { destinationSchema, type AzureDestinationConfig } from '../../core/destination-config.js';
import { AlreadyExistsError, NotFoundError } from '../../core/errors.js';
import { AzureStorage, classifyAzureError } from '../../core/storage/azure-storage.js';
import { getBuffer, listAll } from '../../core/storage/storage.js';
import { rejects } from '../helpers/assert.js';
import { assertFailure, blackHole, closedPort, everythingShown } from '../helpers/storage-failures.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, azureDestinationConfig, startAzurite, type AzuriteHandle } from '../helpers/servers.js';
import { storageConformance } from './conformance.js';

let started: Promise<AzuriteHandle> | undefined;
/** One Azurite for the whole file, started on first use. */
const server = (): Promise<AzuriteHandle> => (started ??= startAzurite());
let containers = 0;

/** Creates an empty container on Azurite. */
async function freshContainer(): Promise<string> {
  const name = `c${++containers}-${randomBytes(4).toString('hex')}`;
  await new ContainerClient((await server()).connectionString, name).create();
  return name;
}

/** A validated config for Azurite, with overrides (credential fields replace the connection string). */
async function config(container: string, overrides: Record<string, unknown> = {}): Promise<AzureDestinationConfig> {
  const base = azureDestinationConfig(await server(), container);
  if (['accountName', 'url'].some((k) => k in overrides)) delete base.connectionString;
  return destinationSchema.parse({ ...base, ...overrides }) as AzureDestinationConfig;
}

storageConformance('azure (Azurite)', {
  setup: async () => {
    await server();
  },
  make: async () => new AzureStorage(await config(await freshContainer())),
});

const test = suite('azure storage (Azurite)');
test.after(async () => {
  if (started) await (await started).stop();
});

test('config: exactly one credential style', () => {
  const ok = (o: Record<string, unknown>) => destinationSchema.safeParse({ name: 'x', type: 'azure', container: 'ctr', ...o }).success;
  assert.ok(ok({ connectionString: 'DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k;' }));
  assert.ok(ok({ accountName: 'a', accountKey: 'k' }));
  assert.ok(ok({ accountName: 'a', accountKey: 'k', endpoint: 'http://127.0.0.1:1/a' }));
  assert.ok(ok({ url: 'https://a.blob.core.windows.net', sasToken: 'sv=1&sig=x' }));
  assert.not.ok(ok({}));
  assert.not.ok(ok({ accountName: 'a' }));
  assert.not.ok(ok({ connectionString: 'x', accountName: 'a', accountKey: 'k' }));
  assert.not.ok(ok({ url: 'https://a.blob.core.windows.net' }));
  assert.not.ok(ok({ url: 'https://a.blob.core.windows.net', sasToken: 's', endpoint: 'http://e' }));
  assert.not.ok(ok({ accountName: 'a', accountKey: 'k', container: 'Bad_Name' }));
  const r = destinationSchema.safeParse({ name: 'x', type: 'azure', container: 'ctr' });
  assert.match(JSON.stringify(r.error!.issues), /exactly one credential style/);
  const c = destinationSchema.parse({ name: 'x', type: 'azure', container: 'ctr', accountName: 'a', accountKey: 'k' }) as AzureDestinationConfig;
  assert.is(c.requestTimeoutMs, 30_000);
});

test('description is azure://account/container/prefix for every credential style', async () => {
  const srv = await server();
  const a = new AzureStorage(await config('ctr', { prefix: 'team/app' }));
  assert.is(a.description, `azure://${AZURITE_ACCOUNT}/ctr/team/app`);
  const b = new AzureStorage(await config('ctr', { accountName: AZURITE_ACCOUNT, accountKey: AZURITE_KEY, endpoint: srv.endpoint }));
  assert.is(b.description, `azure://${AZURITE_ACCOUNT}/ctr`);
  const c = new AzureStorage(await config('ctr', { url: srv.endpoint, sasToken: '?sv=2020-08-04&sig=abc' }));
  assert.is(c.description, `azure://${AZURITE_ACCOUNT}/ctr`);
  assert.is(a.conditionalWrites, true);
  for (const s of [a, b, c]) {
    assert.not.match(s.description, /sig=|AccountKey|Eby8/);
    await s.close();
    await s.close(); // idempotent
  }
});

test('account key and SAS credentials work against the service', async () => {
  const srv = await server();
  const container = await freshContainer();
  const byKey = new AzureStorage(await config(container, { accountName: AZURITE_ACCOUNT, accountKey: AZURITE_KEY, endpoint: srv.endpoint }));
  await byKey.put('k/1', Buffer.from('by key'));
  const sas = generateAccountSASQueryParameters(
    {
      expiresOn: new Date(Date.now() + 3600_000),
      permissions: AccountSASPermissions.parse('rwdlc'),
      resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
      services: AccountSASServices.parse('b').toString(),
    },
    new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
  ).toString();
  const bySas = new AzureStorage(await config(container, { url: srv.endpoint, sasToken: sas }));
  assert.is((await getBuffer(bySas, 'k/1')).toString(), 'by key');
  await bySas.put('k/2', Buffer.from('by sas'));
  assert.equal((await listAll(byKey, 'k/')).map((o) => o.key), ['k/1', 'k/2']);
});

test('a wrong account key is a permanent auth error that never shows the key', async () => {
  const srv = await server();
  const container = await freshContainer();
  const wrongKey = randomBytes(64).toString('base64');
  const wrongSas = `sv=2025-05-05&ss=b&srt=sco&sp=rwdlc&se=2099-01-01T00%3A00%3A00Z&sig=${encodeURIComponent(randomBytes(32).toString('base64'))}`;
  const stores = [
    new AzureStorage(await config(container, { accountName: AZURITE_ACCOUNT, accountKey: wrongKey, endpoint: srv.endpoint })),
    new AzureStorage(await config(container, { connectionString: srv.connectionString.replace(AZURITE_KEY, wrongKey) })),
    new AzureStorage(await config(container, { url: srv.endpoint, sasToken: wrongSas })),
  ];
  const secrets = [wrongKey, encodeURIComponent(wrongKey), wrongSas, wrongSas.split('sig=')[1]!, decodeURIComponent(wrongSas.split('sig=')[1]!), AZURITE_KEY];
  for (const s of stores) {
    for (const op of [() => s.put('k/a.bin', Buffer.from('x')), () => s.get('k/a.bin'), () => listAll(s, 'k/')]) {
      const e = assertFailure(await rejects(op), 'auth', false);
      assert.ok(e.hint && /credentials/.test(e.hint), e.hint);
      const shown = everythingShown(e);
      for (const secret of secrets) assert.not.ok(shown.includes(secret), `${secret} shown in:\n${shown}`);
    }
  }
});

test('a missing container is a permanent no-bucket error, also for get and delete', async () => {
  const s = new AzureStorage(await config('no-such-container'));
  const put = assertFailure(await rejects(() => s.put('a/b', Buffer.from('x'))), 'no-bucket', false);
  assert.match(put.message, /put a\/b/);
  assert.match(put.hint ?? '', /no-such-container/);
  const get = await rejects(() => s.get('a/b'));
  assert.not.instance(get, NotFoundError);
  assertFailure(get, 'no-bucket', false);
  assertFailure(await rejects(() => listAll(s, 'a/')), 'no-bucket', false);
  assertFailure(await rejects(() => s.delete(['a/b'])), 'no-bucket', false);
  assertFailure(await rejects(() => s.put('a/s', Readable.from([Buffer.from('x')]))), 'no-bucket', false);
});

test('an unreachable endpoint is a transient network error within seconds', async () => {
  const port = await closedPort();
  const s = new AzureStorage(await config('ctr', { accountName: AZURITE_ACCOUNT, accountKey: AZURITE_KEY, endpoint: `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}` }));
  const t0 = Date.now();
  const e = assertFailure(await rejects(() => s.put('n/x', Buffer.from('x'))), 'network', true);
  assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
  assert.match(e.message, /put n\/x/);
  assert.match(e.hint ?? '', new RegExp(`127\\.0\\.0\\.1:${port}`));
  assertFailure(await rejects(() => s.get('n/x')), 'network', true);
  assertFailure(await rejects(() => listAll(s, 'n/')), 'network', true);
});

test('a server that never answers is a transient timeout', async () => {
  const hole = await blackHole();
  const s = new AzureStorage(
    await config('ctr', { accountName: AZURITE_ACCOUNT, accountKey: AZURITE_KEY, endpoint: `http://127.0.0.1:${hole.port}/${AZURITE_ACCOUNT}`, requestTimeoutMs: 300 }),
  );
  const t0 = Date.now();
  assertFailure(await rejects(() => s.put('t/x', Buffer.from('x'))), 'timeout', true);
  assertFailure(await rejects(() => s.get('t/x')), 'timeout', true);
  assertFailure(await rejects(() => listAll(s, 't/')), 'timeout', true);
  assert.ok(Date.now() - t0 < 8000, `took ${Date.now() - t0} ms`);
  await hole.close();
});

test('a 20 MiB stream goes up in blocks and round-trips; a range from its middle reads back', async () => {
  const s = new AzureStorage(await config(await freshContainer()));
  const body = randomBytes(20 << 20);
  const chunks: Buffer[] = [];
  for (let i = 0; i < body.length; i += 777_777) chunks.push(body.subarray(i, i + 777_777));
  await s.put('big/stream.bin', Readable.from(chunks));
  assert.ok((await getBuffer(s, 'big/stream.bin')).equals(body));
  const start = (10 << 20) - 1234;
  const end = start + (3 << 20);
  const parts: Buffer[] = [];
  for await (const b of await s.get('big/stream.bin', { start, end })) parts.push(b as Buffer);
  assert.ok(Buffer.concat(parts).equals(body.subarray(start, end + 1)));
  assert.equal((await listAll(s, 'big/')).map((o) => [o.key, o.size]), [['big/stream.bin', body.length]]);
});

test('conditional puts refuse an existing blob and leave it unchanged: streamed, and buffers sent in blocks', async () => {
  const s = new AzureStorage(await config(await freshContainer()));
  await s.put('lock.json', Readable.from([Buffer.from('first')]), { ifNoneMatch: true });
  const err = await rejects(() => s.put('lock.json', Readable.from([Buffer.from('second')]), { ifNoneMatch: true }));
  assert.instance(err, AlreadyExistsError);
  assert.is((await getBuffer(s, 'lock.json')).toString(), 'first');
  const big = randomBytes((10 << 20) + 3);
  await s.put('big.bin', big, { ifNoneMatch: true });
  assert.instance(await rejects(() => s.put('big.bin', randomBytes(9 << 20), { ifNoneMatch: true })), AlreadyExistsError);
  assert.instance(await rejects(() => s.put('big.bin', Buffer.from('small'), { ifNoneMatch: true })), AlreadyExistsError);
  assert.ok((await getBuffer(s, 'big.bin')).equals(big));
});

test('error classification covers what the service answers', () => {
  const rest = (status: number | undefined, code?: string, errorCode?: string) =>
    Object.assign(new Error(code ?? 'x'), { name: 'RestError', statusCode: status, code, details: errorCode ? { errorCode } : undefined });
  const reason = (err: unknown) => {
    const c = classifyAzureError(err);
    return c.kind === 'failure' ? `${c.reason}:${c.transient}` : c.kind;
  };
  assert.is(reason(rest(404, 'BlobNotFound')), 'not-found');
  assert.is(reason(rest(404, undefined, 'BlobNotFound')), 'not-found'); // HEAD: only details.errorCode
  assert.is(reason(rest(404, undefined, 'ContainerNotFound')), 'no-bucket:false');
  assert.is(reason(rest(409, 'BlobAlreadyExists')), 'exists');
  assert.is(reason(rest(412, 'ConditionNotMet')), 'exists');
  assert.is(reason(rest(403, 'AuthorizationFailure')), 'auth:false');
  assert.is(reason(rest(403, 'AuthenticationFailed')), 'auth:false');
  assert.is(reason(rest(503, 'ServerBusy')), 'throttled:true');
  assert.is(reason(rest(429)), 'throttled:true');
  assert.is(reason(rest(500, 'InternalError')), 'server:true');
  assert.is(reason(rest(500, 'OperationTimedOut')), 'timeout:true');
  assert.is(reason(rest(400, 'InvalidHeaderValue')), 'request:false');
  assert.is(reason(rest(undefined, 'ECONNREFUSED')), 'network:true');
  assert.is(reason(rest(undefined, 'ENOTFOUND')), 'network:true');
  assert.is(reason(rest(undefined, 'REQUEST_SEND_ERROR')), 'network:true');
  assert.is(reason(Object.assign(new Error('aborted'), { name: 'AbortError' })), 'timeout:true');
  assert.is(reason(new TypeError('bug')), 'request:false');
});

test.run();
