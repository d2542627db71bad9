/**
 * Summary statistics of the benchmark, in plain TypeScript (no GPU, no Node imports).
 *
 * Percentiles use linear interpolation between closest ranks (Hyndman & Fan type 7, numpy's
 * default): for n sorted values x[0..n-1], the p-th percentile is at rank h = (n-1)·p/100 and is
 * x[⌊h⌋] + (h-⌊h⌋)·(x[⌊h⌋+1] - x[⌊h⌋]). So p0 is the minimum, p100 the maximum, p50 the median,
 * and with one value every percentile is that value.
 */
import { EmberError } from '../errors.ts';

/** The p-th percentile (0..100) of `values` by linear interpolation (type 7); NaN for no values. */
export function percentile(values: ArrayLike<number>, p: number): number {
  if (!(p >= 0 && p <= 100)) throw new EmberError('BAD_ARGUMENT', `percentile ${p} is not in [0, 100]`);
  const n = values.length;
  if (n === 0) return NaN;
  const x = Float64Array.from(values).sort();
  const h = ((n - 1) * p) / 100;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, n - 1);
  return x[lo] + (h - lo) * (x[hi] - x[lo]);
}

export const median = (values: ArrayLike<number>): number => percentile(values, 50);

export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** Median, minimum and maximum of the repeats of one measurement. */
export function spread(values: ArrayLike<number>): Spread {
  return { median: median(values), min: percentile(values, 0), max: percentile(values, 100) };
}

export interface Latency {
  p50: number;
  p90: number;
  p99: number;
}

export function latency(values: ArrayLike<number>): Latency {
  return { p50: percentile(values, 50), p90: percentile(values, 90), p99: percentile(values, 99) };
}

/** Rounds to `digits` significant digits (for printing and JSON; the measurements keep full precision). */
export function sig(x: number, digits = 4): number {
  if (!Number.isFinite(x) || x === 0) return x;
  return Number(x.toPrecision(digits));
}
