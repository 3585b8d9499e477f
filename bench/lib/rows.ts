/**
 * Realistic row data: JSON-ish application records (names, e-mail addresses,
 * statuses, amounts, free-text notes) from a seeded generator. Compresses
 * like application data does (about 2-3× with LZ4), unlike random bytes
 * (nothing) or repeated text (everything), which would flatter or punish
 * compression.
 */

const WORDS = (
  'order customer invoice payment shipped pending delivered refund account balance credit debit ' +
  'product category warehouse stock price discount coupon cart checkout session login logout user ' +
  'admin report daily weekly monthly quarterly annual review comment rating feedback support ticket ' +
  'open closed resolved escalated priority high medium low urgent note message email phone address ' +
  'street city country postal code region europe america asia africa oceania north south east west ' +
  'blue green red yellow black white small large medium extra premium basic standard express ' +
  'the a of and to in for with on at by from about into over after before under between through'
).split(' ');
const STATUSES = ['active', 'pending', 'shipped', 'cancelled', 'refunded', 'on-hold'];

/** A small fast seeded PRNG (mulberry32): the same seed gives the same data in every process. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One record of roughly 150-600 bytes. */
export function record(rand: () => number, id: number): string {
  const w = () => WORDS[Math.floor(rand() * WORDS.length)]!;
  const words = Array.from({ length: 8 + Math.floor(rand() * 50) }, w).join(' ');
  return (
    `{"id":${id},"user":"${w()}.${w()}${Math.floor(rand() * 10000)}@example.com","status":"${STATUSES[Math.floor(rand() * STATUSES.length)]}",` +
    `"amount":${(rand() * 5000).toFixed(2)},"items":${1 + Math.floor(rand() * 9)},"ts":"2026-${String(1 + Math.floor(rand() * 12)).padStart(2, '0')}-` +
    `${String(1 + Math.floor(rand() * 28)).padStart(2, '0')}T${String(Math.floor(rand() * 24)).padStart(2, '0')}:${String(Math.floor(rand() * 60)).padStart(2, '0')}:00Z",` +
    `"token":"${Math.floor(rand() * 2 ** 52).toString(36)}${Math.floor(rand() * 2 ** 52).toString(36)}","note":"${words}"}\n`
  );
}

/**
 * A pool of `bytes` of records. Writers cut rows out of it at random offsets,
 * which is far cheaper than generating every row and keeps repeats of one
 * region far apart (beyond LZ4's 64 KiB window) in a large pool.
 */
export function textPool(bytes: number, seed = 1): Buffer {
  const rand = prng(seed);
  const parts: string[] = [];
  let n = 0;
  for (let id = 1; n < bytes; id++) {
    const r = record(rand, id);
    parts.push(r);
    n += r.length;
  }
  return Buffer.from(parts.join(''), 'latin1').subarray(0, bytes);
}

/** A row of `size` bytes cut from `pool` at a random offset. */
export function slice(pool: Buffer, size: number, rand: () => number): Buffer {
  if (size >= pool.length) return pool;
  const off = Math.floor(rand() * (pool.length - size));
  return pool.subarray(off, off + size);
}
