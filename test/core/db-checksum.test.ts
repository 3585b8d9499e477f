import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { DbChecksum } from '../../core/db-checksum.js';
import { lockPage, pageHash, zeroPageHash } from '../../core/page-hash.js';
import { Layout, hex16, newGenerationId, generationStartMs, parseRelativeKey } from '../../core/layout.js';

const test = suite('db checksum and layout');
const PS = 512;

/** Checksum computed from scratch over an image (map of page → bytes; missing pages are zero). */
function full(pages: Map<number, Buffer>, dbPages: number): bigint {
  let s = 0n;
  for (let p = 1; p <= dbPages; p++) if (p !== lockPage(PS)) s ^= pages.has(p) ? pageHash(p, pages.get(p)!) : zeroPageHash(p, PS);
  return s;
}

test('incremental commits equal a checksum computed from scratch, through growth and truncation', () => {
  const image = new Map<number, Buffer>();
  const sum = new DbChecksum(PS, 4);
  let size = 0;
  for (let step = 0; step < 300; step++) {
    const newSize = Math.max(1, size + Math.floor(Math.random() * 9) - 3);
    const written = new Map<number, Buffer>();
    for (let k = 0; k < 1 + (step % 5); k++) {
      const p = 1 + Math.floor(Math.random() * (newSize + 2));
      written.set(p, randomBytes(PS));
    }
    for (const p of [...image.keys()]) if (p > newSize) image.delete(p);
    for (const [p, b] of written) if (p <= newSize) image.set(p, b);
    const pgnos = [...written.keys()];
    sum.applyCommit(pgnos, pgnos.map((p) => pageHash(p, written.get(p)!)), pgnos.length, newSize);
    size = newSize;
    assert.is(sum.value, full(image, size), `step ${step}`);
    assert.is(sum.dbPages, size);
  }
});

test('a table that grows many times, shrinks and grows again equals a checksum from scratch', () => {
  const image = new Map<number, Buffer>();
  const sum = new DbChecksum(PS, 100);
  // Each growth past the table's capacity copies it; shrinking clears the pages past the end, which must read as zeros when the database grows over them again.
  const sizes = [8191, 8192, 8193, 20_000, 16_383, 16_385, 8_000, 30_000];
  for (const [step, size] of sizes.entries()) {
    const written = new Map<number, Buffer>();
    for (const p of [1, size, size - 1, 8192, 8193, 16_384, 16_385].filter((p) => p >= 1 && p <= size)) written.set(p, randomBytes(PS));
    for (const p of [...image.keys()]) if (p > size) image.delete(p);
    for (const [p, b] of written) image.set(p, b);
    const pgnos = [...written.keys()];
    sum.applyCommit(pgnos, pgnos.map((p) => pageHash(p, written.get(p)!)), pgnos.length, size);
    assert.is(sum.value, full(image, size), `step ${step}, ${size} pages`);
    for (const p of pgnos) assert.is(sum.hashOf(p), pageHash(p, written.get(p)!), `hash of page ${p}`);
  }
  assert.is(sum.hashOf(1 << 30), 0n);
});

test('the same bytes on another page, or swapped pages, change the checksum', () => {
  const a = randomBytes(PS);
  const b = randomBytes(PS);
  assert.is.not(pageHash(1, a) ^ pageHash(2, b), pageHash(1, b) ^ pageHash(2, a));
  assert.is.not(pageHash(3, a), pageHash(4, a));
});

test('the lock-byte page never counts', () => {
  const lock = lockPage(PS);
  assert.is(lock, 0x40000000 / PS + 1);
  const s = new DbChecksum(PS);
  s.applyCommit([lock], [123n], 1, lock);
  const t = new DbChecksum(PS);
  t.applyCommit([], [], 0, lock);
  assert.is(s.value, t.value);
});

test('object names sort numerically and parse back', () => {
  const l = new Layout('prod/eu', 'app');
  const gen = newGenerationId(1_700_000_000_000);
  assert.is(generationStartMs(gen), 1_700_000_000_000);
  const k = l.segment(gen, 0, 255, 4096);
  assert.is(k, `prod/eu/app/${gen}/segments/0/${hex16(255)}-${hex16(4096)}.seg`);
  assert.equal(l.parse(k), { kind: 'segment', generation: gen, level: 0, minTxid: 255, maxTxid: 4096 });
  assert.equal(l.parse(l.snapshot(gen, 9)), { kind: 'snapshot', generation: gen, txid: 9 });
  assert.equal(l.parse(l.meta(gen)), { kind: 'meta', generation: gen });
  assert.is(l.parse(l.lock()), null);
  assert.is(parseRelativeKey('nothex/meta.json'), null);
  assert.ok(l.segment(gen, 0, 9, 9) < l.segment(gen, 0, 10, 10), 'lexical order is numeric order');
  assert.is(new Layout('', 'app').root, 'app/');
});

test.run();
