/** Small statistics helpers for bench figures. */

/** Nearest-rank percentile (p in 0..100) of `values`; null when empty. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Median (the 50th nearest-rank percentile); null when empty. */
export function median(values: readonly number[]): number | null {
  return percentile(values, 50);
}

/** Largest value; null when empty. */
export function max(values: readonly number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, b) => (b > a ? b : a), -Infinity);
}

/** Sum of values. */
export function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** a / b, or null when either is missing or b is 0. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined || b === 0 || !Number.isFinite(a) || !Number.isFinite(b)) return null;
  return a / b;
}

/** Rounds to `digits` significant digits (keeps JSON readable without losing meaning). */
export function round(x: number | null, digits = 4): number | null {
  if (x === null || !Number.isFinite(x)) return null;
  if (x === 0) return 0;
  return Number(x.toPrecision(digits));
}

/** Bytes in one mebibyte. */
export const MiB = 1 << 20;
/** Bytes in one gibibyte. */
export const GiB = 1 << 30;
