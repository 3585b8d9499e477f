import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rejects } from '../helpers/assert.js';
import { randomBytes } from 'node:crypto';
import { Keyring } from '../../core/keyring.js';
import { SegmentEncoder, SegmentReader, validateSegmentHeader } from '../../core/segment.js';
import { SnapshotEncoder, SnapshotReader } from '../../core/snapshot.js';
import { CorruptObjectError, KeyError, WrongKeyError } from '../../core/errors.js';
import { ZERO_SHA256, type CommitRecord } from '../../core/object-format.js';
import { ChunkSpares } from '../../core/object-codec.js';
import { createHash } from 'node:crypto';

const test = suite('objects');
const k1 = randomBytes(32);
const ring = new Keyring(new Map([['k1', k1]]), 'k1');
const PS = 4096;

function page(seed: number): Buffer {
  const b = Buffer.alloc(PS);
  for (let i = 0; i < PS; i += 64) b.write(`row ${seed} offset ${i} secret-marker-xyz`, i);
  return b;
}

async function encodeSegment(commits: { pages: number[]; dbPages: number; observedAtMs?: number }[]): Promise<Buffer> {
  const records: CommitRecord[] = commits.map((c, i) => ({ txid: 5 + i, dbPages: c.dbPages, observedAtMs: c.observedAtMs ?? 1000 + i, frameCount: c.pages.length, checksum: `0123456789abcd${i.toString(16).padStart(2, '0')}` }));
  const parts: Buffer[] = [];
  const enc = new SegmentEncoder({ db: 'app', generation: '0'.repeat(24), level: 0, pageSize: PS, commits: records, prevSha256: ZERO_SHA256 }, ring, (b) => void parts.push(...b));
  for (const c of commits) for (const p of c.pages) await enc.addPage(p, page(p));
  const done = await enc.finish();
  const obj = Buffer.concat(parts);
  assert.is(done.bytes, obj.length);
  assert.is(done.sha256, createHash('sha256').update(obj).digest('hex'));
  return obj;
}

async function readSegment(obj: Buffer, keyring = ring) {
  const r = await SegmentReader.open([obj], keyring, 'seg-under-test');
  const seen: { txid: number; pgno: number; ok: boolean }[] = [];
  for await (const run of r.runs()) {
    for (let i = 0; i < run.count; i++) {
      const o = (run.first + i) * (4 + PS);
      const pgno = run.chunk.readUInt32BE(o);
      seen.push({ txid: run.commit.txid, pgno, ok: run.chunk.subarray(o + 4, o + 4 + PS).equals(page(pgno)) });
    }
  }
  return { header: r.header, seen, sha: r.sha256() };
}

test('a segment round-trips its commits and pages, across many chunks', async () => {
  const big = Array.from({ length: 700 }, (_, i) => i + 1); // > 2 chunks at 4 KiB pages
  // The database grows, then shrinks; the clock steps back between the last two commits.
  const obj = await encodeSegment([{ pages: [1, 2], dbPages: 2 }, { pages: big, dbPages: 700, observedAtMs: 1_795_000_000_500 }, { pages: [3], dbPages: 650, observedAtMs: 1_795_000_000_480 }]);
  const { header, seen, sha } = await readSegment(obj);
  assert.is(header.minTxid, 5);
  assert.is(header.maxTxid, 7);
  assert.equal(
    header.commits.map((c) => [c.txid, c.dbPages, c.observedAtMs, c.frameCount, c.checksum]),
    [[5, 2, 1000, 2, '0123456789abcd00'], [6, 700, 1_795_000_000_500, 700, '0123456789abcd01'], [7, 650, 1_795_000_000_480, 1, '0123456789abcd02']],
  );
  assert.is(seen.length, 703);
  assert.ok(seen.every((s) => s.ok));
  assert.equal(seen.filter((s) => s.txid === 6).length, 700);
  assert.is(sha, createHash('sha256').update(obj).digest('hex'));
});

test('encoders that follow each other or run side by side (sharing spare chunk memory) each seal their own pages only', async () => {
  const spares = new ChunkSpares(2);
  const start = (first: number, n: number) => {
    const parts: Buffer[] = [];
    const records: CommitRecord[] = [{ txid: 1, dbPages: first + n, observedAtMs: 1000, frameCount: n, checksum: '0123456789abcdef' }];
    const enc = new SegmentEncoder({ db: 'app', generation: '0'.repeat(24), level: 0, pageSize: PS, commits: records, prevSha256: ZERO_SHA256 }, ring, (b) => void parts.push(...b), true, spares);
    return { enc, pages: Array.from({ length: n }, (_, i) => first + i), object: () => Buffer.concat(parts) };
  };
  const check = async (obj: Buffer, pages: number[], what: string) => {
    const { seen } = await readSegment(obj);
    assert.equal(seen.map((x) => x.pgno), pages, what);
    assert.ok(seen.every((x) => x.ok), `${what}: page bytes`);
  };
  // One segment fills and reuses its chunk; the next two interleave page by page; the last is smaller than what the reused chunk still holds.
  const a = start(1, 700);
  for (const p of a.pages) await a.enc.addPage(p, page(p));
  await a.enc.finish();
  const b = start(1000, 300);
  const c = start(2000, 300);
  for (let i = 0; i < 300; i++) {
    await b.enc.addPage(b.pages[i]!, page(b.pages[i]!));
    await c.enc.addPage(c.pages[i]!, page(c.pages[i]!));
  }
  await b.enc.finish();
  const d = start(3000, 3);
  await c.enc.finish();
  for (const p of d.pages) await d.enc.addPage(p, page(p));
  await d.enc.finish();
  for (const [x, what] of [[a, 'first'], [b, 'second'], [c, 'third, beside the second'], [d, 'last, small']] as const) await check(x.object(), x.pages, what);
});

test('segment headers with absolute commit columns (the earlier form) still read; malformed columns do not', () => {
  const base = {
    kind: 'segment', db: 'app', generation: '0'.repeat(24), level: 0, minTxid: 5, maxTxid: 6, pageSize: PS, prevSha256: ZERO_SHA256,
    bodyLength: 3 * (4 + PS), keyId: 'k1', salt: new Uint8Array(16), keyCheck: new Uint8Array(8), compression: 'lz4',
  };
  const checksums = Buffer.from('0123456789abcdeffedcba9876543210', 'hex');
  const old = validateSegmentHeader({ ...base, commits: { dbPages: [10, 12], baseMs: 5000, offsetMs: [0, 7], frameCount: [1, 2], checksums } }, 'old');
  assert.equal(old.commits.map((c) => [c.txid, c.dbPages, c.observedAtMs, c.frameCount, c.checksum]), [[5, 10, 5000, 1, '0123456789abcdef'], [6, 12, 5007, 2, 'fedcba9876543210']]);
  const now = validateSegmentHeader({ ...base, commits: { dbPagesDiff: [10, 2], baseMs: 5000, msDiff: [0, 7], frameCount: [1, 2], checksums } }, 'new');
  assert.equal(now.commits, old.commits);
  for (const [what, commits] of [
    ['a fractional diff', { dbPagesDiff: [10, 0.5], baseMs: 5000, msDiff: [0, 7], frameCount: [1, 2], checksums }],
    ['a size below zero', { dbPagesDiff: [10, -11], baseMs: 5000, msDiff: [0, 7], frameCount: [1, 2], checksums }],
    ['no size column', { baseMs: 5000, msDiff: [0, 7], frameCount: [1, 2], checksums }],
    ['columns of different lengths', { dbPagesDiff: [10], baseMs: 5000, msDiff: [0, 7], frameCount: [1, 2], checksums }],
  ] as const) {
    assert.throws(() => validateSegmentHeader({ ...base, commits }, 'bad'), (e: unknown) => e instanceof CorruptObjectError && /object bad/.test((e as Error).message), what);
  }
});

test('no plaintext of a page survives into the object', async () => {
  const obj = await encodeSegment([{ pages: [1, 2, 3], dbPages: 3 }]);
  assert.is(obj.indexOf('secret-marker-xyz'), -1);
});

for (const [name, mutate] of [
  ['a flipped byte in the body', (o: Buffer) => { o[o.length - 40]! ^= 1; return o; }],
  ['a flipped byte in the header', (o: Buffer) => { o[20]! ^= 1; return o; }],
  ['a truncated tail', (o: Buffer) => o.subarray(0, o.length - 10)],
  ['a missing final chunk', (o: Buffer) => o.subarray(0, o.length - 30)],
  ['trailing bytes', (o: Buffer) => Buffer.concat([o, Buffer.from('junk')])],
  ['a wrong magic', (o: Buffer) => { o.write('XXXX', 0); return o; }],
] as const) {
  test(`rejects a segment with ${name}, naming the object`, async () => {
    const obj = await encodeSegment([{ pages: Array.from({ length: 300 }, (_, i) => i + 1), dbPages: 300 }]);
    try {
      await readSegment(mutate(Buffer.from(obj)));
      assert.unreachable('should fail');
    } catch (err) {
      assert.instance(err, CorruptObjectError, String(err));
      assert.is((err as CorruptObjectError).code, 'WALCAST_ERR_CORRUPT');
      assert.match((err as Error).message, 'seg-under-test');
    }
  });
}

test('a wrong key is told apart from corruption', async () => {
  const obj = await encodeSegment([{ pages: [1], dbPages: 1 }]);
  const wrong = new Keyring(new Map([['k1', randomBytes(32)]]), 'k1');
  try {
    await readSegment(obj, wrong);
    assert.unreachable();
  } catch (err) {
    assert.instance(err, WrongKeyError);
    assert.is((err as WrongKeyError).code, 'WALCAST_ERR_WRONG_KEY');
  }
  const missing = new Keyring(new Map([['k2', randomBytes(32)]]), 'k2');
  try {
    await readSegment(obj, missing);
    assert.unreachable();
  } catch (err) {
    assert.instance(err, KeyError);
    assert.match((err as Error).message, '"k1"');
  }
});

test('a rotated keyring still opens objects sealed with the old key', async () => {
  const obj = await encodeSegment([{ pages: [1], dbPages: 1 }]);
  const rotated = new Keyring(new Map([['k1', k1], ['k2', randomBytes(32)]]), 'k2');
  const { seen } = await readSegment(obj, rotated);
  assert.is(seen.length, 1);
});

test('the encoder refuses misuse', async () => {
  const enc = new SegmentEncoder({ db: 'a', generation: '0'.repeat(24), level: 0, pageSize: PS, commits: [{ txid: 1, dbPages: 1, observedAtMs: 0, frameCount: 1, checksum: '0'.repeat(16) }], prevSha256: ZERO_SHA256 }, ring, () => {});
  await rejects(() => enc.finish(), /declare/);
  await enc.addPage(1, page(1));
  await rejects(() => enc.addPage(2, page(2)), /more pages/);
  await enc.finish();
});

test('a snapshot round-trips and detects a dropped chunk', async () => {
  const parts: Buffer[][] = [];
  const n = 600;
  const enc = new SnapshotEncoder({ db: 'app', generation: '1'.repeat(24), txid: 9, pageSize: PS, dbPages: n, checksum: '0'.repeat(16), takenAtMs: 5 }, ring, (b) => void parts.push(b));
  for (let p = 1; p <= n; p++) await enc.addPage(page(p));
  await enc.finish();
  const obj = Buffer.concat(parts.flat());
  const r = await SnapshotReader.open([obj], ring, 'snap');
  let p = 1;
  for await (const chunk of r.chunks()) for (let o = 0; o < chunk.length; o += PS, p++) assert.ok(chunk.subarray(o, o + PS).equals(page(p)));
  assert.is(p, n + 1);
  // Drop the second emitted chunk (parts[0] is the prefix).
  const dropped = Buffer.concat([...parts.slice(0, 2), ...parts.slice(3)].flat());
  const r2 = await SnapshotReader.open([dropped], ring, 'snap-dropped');
  await rejects(async () => {
    for await (const _ of r2.chunks());
  }, /snap-dropped/);
});

test.run();
