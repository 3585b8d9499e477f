/**
 * The storage contract, as one suite every backend must pass (see
 * core/storage/storage.ts). Each backend's test file starts its real server
 * and calls `storageConformance` with a factory.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rejects } from '../helpers/assert.js';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { AlreadyExistsError, NotFoundError } from '../../core/errors.js';
import { getBuffer, listAll, type Storage } from '../../core/storage/storage.js';

/** Hooks a backend's test file provides. */
export interface ConformanceTarget {
  /** Starts whatever server the backend needs. */
  setup?: () => Promise<void>;
  teardown?: () => Promise<void>;
  /** A storage over a fresh, empty namespace. */
  make: () => Promise<Storage>;
}

async function readAll(s: Storage, key: string, range?: { start: number; end: number }): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of await s.get(key, range)) parts.push(b as Buffer);
  return Buffer.concat(parts);
}

/** Runs the contract against one backend. */
export function storageConformance(name: string, target: ConformanceTarget): void {
  const test = suite(`storage conformance: ${name}`);
  test.before(async () => {
    await target.setup?.();
  });
  test.after(async () => {
    await target.teardown?.();
  });

  test('put then get returns the same bytes', async () => {
    const s = await target.make();
    const body = randomBytes(100_000);
    await s.put('a/b/obj.bin', body);
    assert.ok((await getBuffer(s, 'a/b/obj.bin')).equals(body));
    await s.close();
  });

  test('put streams a body of known size', async () => {
    const s = await target.make();
    const parts = [randomBytes(3 << 20), randomBytes(3 << 20), randomBytes(12345)];
    const body = Buffer.concat(parts);
    await s.put('big/stream.bin', Readable.from(parts), { size: body.length });
    assert.ok((await getBuffer(s, 'big/stream.bin')).equals(body));
    await s.close();
  });

  test('a failing body stream rejects with its own error, stores nothing and crashes nothing', async () => {
    const s = await target.make();
    // Unknown size, a known size within one upload part, a known size over several (where a backend uploads in parts).
    for (const size of [undefined, 4 << 20, 20 << 20]) {
      const boom = new Error('encoder broke');
      let sent = 0;
      const body = new Readable({
        read() {
          if (sent++ < 2) this.push(randomBytes(1 << 20));
          else setTimeout(() => this.destroy(boom), 20);
        },
      });
      const err = await rejects(() => s.put(`f/broken-${size}.bin`, body, size === undefined ? {} : { size }));
      assert.is(err, boom, String(err));
    }
    assert.equal(await listAll(s, 'f/'), []);
    await s.close();
  });

  test('get with a range returns those bytes, both ends inclusive', async () => {
    const s = await target.make();
    const body = Buffer.from('0123456789abcdefghij');
    await s.put('r.txt', body);
    assert.is((await readAll(s, 'r.txt', { start: 2, end: 5 })).toString(), '2345');
    assert.is((await readAll(s, 'r.txt', { start: 15, end: 19 })).toString(), 'fghij');
    await s.close();
  });

  test('a missing key throws NotFoundError on get', async () => {
    const s = await target.make();
    try {
      await readAll(s, 'nope/missing.bin');
      assert.unreachable('get of a missing key must throw');
    } catch (err) {
      assert.instance(err, NotFoundError, String(err));
      assert.is((err as NotFoundError).code, 'WALCAST_ERR_NOT_FOUND');
    }
    await s.close();
  });

  test('put overwrites by default', async () => {
    const s = await target.make();
    await s.put('o.txt', Buffer.from('one'));
    await s.put('o.txt', Buffer.from('two'));
    assert.is((await getBuffer(s, 'o.txt')).toString(), 'two');
    await s.close();
  });

  test('a conditional put refuses an existing key when the backend can check', async () => {
    const s = await target.make();
    await s.put('c.txt', Buffer.from('first'), { ifNoneMatch: true });
    if (s.conditionalWrites) {
      await rejects(() => s.put('c.txt', Buffer.from('second'), { ifNoneMatch: true }), (e: unknown) => e instanceof AlreadyExistsError);
      assert.is((await getBuffer(s, 'c.txt')).toString(), 'first');
    }
    await s.close();
  });

  test('list yields keys under a prefix in byte order, after startAfter', async () => {
    const s = await target.make();
    const keys = ['p/a-b', 'p/a.b', 'p/a/x', 'p/a0', 'p/b/nested/deep', 'p/b0', 'p/c0000000000000001', 'p/c0000000000000010', 'q/other'];
    for (const k of keys) await s.put(k, Buffer.from(k));
    const sorted = keys.filter((k) => k.startsWith('p/')).sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : 1));
    const listed = await listAll(s, 'p/');
    assert.equal(listed.map((o) => o.key), [...sorted].sort());
    assert.equal(listed.map((o) => o.key), sorted);
    assert.is(listed.find((o) => o.key === 'p/a-b')!.size, 5);
    assert.equal((await listAll(s, 'p/', 'p/a/x')).map((o) => o.key), sorted.slice(sorted.indexOf('p/a/x') + 1));
    assert.equal((await listAll(s, 'p/a')).map((o) => o.key), sorted.filter((k) => k.startsWith('p/a')));
    assert.equal(await listAll(s, 'zzz/'), []);
    await s.close();
  });

  test('list pages through more than a thousand keys', async () => {
    const s = await target.make();
    const keys = Array.from({ length: 1100 }, (_, i) => `many/${i.toString(16).padStart(16, '0')}.seg`);
    for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => s.put(k, Buffer.from('x'))));
    const listed = await listAll(s, 'many/');
    assert.equal(listed.map((o) => o.key), keys);
    assert.equal((await listAll(s, 'many/', keys[1049])).map((o) => o.key), keys.slice(1050));
    await s.close();
  });

  test('delete removes keys and ignores missing ones', async () => {
    const s = await target.make();
    await s.put('d/1', Buffer.from('1'));
    await s.put('d/2', Buffer.from('2'));
    await s.delete(['d/1', 'd/missing']);
    assert.equal((await listAll(s, 'd/')).map((o) => o.key), ['d/2']);
    await rejects(() => readAll(s, 'd/1'), (e: unknown) => e instanceof NotFoundError);
    await s.delete([]);
    await s.close();
  });

  test.run();
}
