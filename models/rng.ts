import { mulberry32 } from '../src/util/rng.ts';
/**
 * A small seeded PRNG for generated models and tests: the mulberry32 stream (the same numbers as
 * the sampler's `mulberry32` in src/util/rng.ts) plus the draws tests need. Only integer and IEEE
 * arithmetic is used (no Math.log/cos, whose last bits may differ between JS engines), so a seed
 * gives the same numbers everywhere.
 */
export interface Rng {
  /** Uniform in [0, 1), 32 bits of resolution. */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** Approximately N(mean, std): the Irwin-Hall sum of 12 uniforms (tails end at ±6 std). */
  normal(mean?: number, std?: number): number;
  /** A Float32Array of n values from `normal(mean, std)`. */
  normals(n: number, std: number, mean?: number): Float32Array;
}

export function createRng(seed: number): Rng {
  const next = mulberry32(seed);
  const normal = (mean = 0, std = 1): number => {
    let s = 0;
    for (let i = 0; i < 12; i++) s += next();
    return mean + std * (s - 6);
  };
  return {
    next,
    int: (n) => Math.floor(next() * n),
    uniform: (lo, hi) => lo + (hi - lo) * next(),
    normal,
    normals(n, std, mean = 0) {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = normal(mean, std);
      return out;
    },
  };
}
