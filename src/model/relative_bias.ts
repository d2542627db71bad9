/**
 * Attention biases by relative position, as one table the prefill's attention reads (AttentionArgs.relBias), made once at
 * load: MPNet's and T5's (ModelConfig.relativeBias: T5's buckets, looked up in the learned attn_rel_b, buckets x heads)
 * and ALiBi's (ModelConfig.alibiMaxBias: jina-bert-v2's -slope |r|).
 */
import type { ModelConfig } from './config.ts';

/**
 * The bucket of key - query = r, as transformers' MPNet computes it: n = -r; keys after the query (n < 0) take the upper
 * half; |n| below buckets / 4 is its own bucket, then log(|n| / exact) / log(maxDistance / exact) of the half's other
 * buckets, the last from maxDistance on. (f32 there, doubles here: the same buckets, as no integer |n| below 2^24 lands
 * within an f32 rounding of a boundary but the powers of two, which both compute exactly.)
 */
export function relativeBucket(r: number, buckets: number, maxDistance: number): number {
  const half = buckets / 2;
  const exact = half / 2;
  const n = -r;
  const upper = n < 0 ? half : 0;
  const a = Math.abs(n);
  if (a < exact) return upper + a;
  const large = exact + Math.trunc((Math.log(a / exact) / Math.log(maxDistance / exact)) * (half - exact));
  return upper + Math.min(large, half - 1);
}

/**
 * The prefill's table (n_head, 2R + 1) for passes of at most `passTokens` tokens (R = passTokens - 1, so no distance is
 * clamped): head h's bias for key - query = r at h * (2R + 1) + R + r, as `biasOf(h, r)` gives it.
 */
function passTable(nHead: number, passTokens: number, biasOf: (h: number, r: number) => number): Float32Array {
  const reach = Math.max(passTokens - 1, 0);
  const span = 2 * reach + 1;
  const table = new Float32Array(nHead * span);
  for (let h = 0; h < nHead; h++) for (let r = -reach; r <= reach; r++) table[h * span + reach + r] = biasOf(h, r);
  return table;
}

/** T5's buckets' table (passTable's layout). `weights`: attn_rel_b, row b holds bucket b's bias for each head. */
export function relativeBiasTable(weights: Float32Array, nHead: number, bias: { buckets: number; maxDistance: number }, passTokens: number): Float32Array {
  return passTable(nHead, passTokens, (h, r) => weights[relativeBucket(r, bias.buckets, bias.maxDistance) * nHead + h]);
}

/**
 * ALiBi's slope for each head as ggml's soft_max takes max_bias: for the largest power of two n <= nHead, m0 =
 * 2^(-maxBias / n) to the powers 1..n, then m1 = 2^(-maxBias / 2n) to the odd powers 1, 3, ... for the heads past n.
 */
export function alibiSlopes(nHead: number, maxBias: number): Float64Array {
  const n = 2 ** Math.floor(Math.log2(nHead));
  const m0 = 2 ** (-maxBias / n), m1 = 2 ** (-maxBias / 2 / n);
  return Float64Array.from({ length: nHead }, (_, h) => (h < n ? m0 ** (h + 1) : m1 ** (2 * (h - n) + 1)));
}

/** ALiBi's table (passTable's layout): head h's bias for key - query = r is -slope_h |r|, both ways. */
export function alibiTable(nHead: number, maxBias: number, passTokens: number): Float32Array {
  const slopes = alibiSlopes(nHead, maxBias);
  return passTable(nHead, passTokens, (h, r) => -slopes[h] * Math.abs(r));
}

/** Whether the model's scores get a bias by relative position (T5's buckets, ALiBi, DeBERTa's terms): its prefill then reads each token's input. */
export const scoresBiased = (c: Pick<ModelConfig, 'relativeBias' | 'alibiMaxBias' | 'disentangled'>) => c.relativeBias !== null || c.alibiMaxBias > 0 || c.disentangled !== null;

/**
 * DeBERTa's bucket of query - key = r (transformers' make_log_bucket_position, in f32 as torch computes it): r itself
 * within half the buckets (mid), else sign(r) (mid + ceil(log(|r| / mid) / log((maxPosition - 1) / mid) (mid - 1))).
 */
export function debertaBucket(r: number, buckets: number, maxPosition: number): number {
  const mid = Math.floor(buckets / 2);
  const a = Math.abs(r);
  if (a <= mid) return r;
  const f = Math.fround;
  const scaled = f(f(f(Math.log(f(a / mid))) / f(Math.log(f((maxPosition - 1) / mid)))) * (mid - 1));
  return Math.sign(r) * (Math.ceil(scaled) + mid);
}

/**
 * The relative row each key - query = r of a pass of at most `passTokens` tokens reads (DeBERTa's c2p and p2c index,
 * clamp(bucket(query - key) + buckets, 0, 2 buckets - 1)): R = passTokens - 1 first (a buffer's length is padded, so
 * the shaders cannot take R from it), then r's row at 1 + R + r. The table prefill attention and
 * shaders/disentangled.wgsl read (AttentionArgs.disentangled.relAt).
 */
export function debertaRows(d: { buckets: number; maxPosition: number }, passTokens: number): Uint32Array {
  const reach = Math.max(passTokens - 1, 0);
  const row = (r: number) => Math.min(Math.max(debertaBucket(-r, d.buckets, d.maxPosition) + d.buckets, 0), 2 * d.buckets - 1);
  return Uint32Array.from({ length: 2 * reach + 2 }, (_, i) => (i === 0 ? reach : row(i - 1 - reach)));
}
