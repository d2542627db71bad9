/**
 * How a layer's K/V cache is stored on the GPU (no GPU imports: the engine, the CPU references and the
 * benchmarks read it). One buffer per layer of u32 words:
 *
 *   codes:  (2, n_kv, rows, head_dim) elements, K then V, packed 1 (f32), 2 (f16) or 4 (int8, fp8) per word;
 *   scales: (2, n_kv, rows) f32 after the codes, K then V: one absmax scale per head and position
 *           (int8, fp8-e4m3 only): stored value = code * scale.
 *
 * By kv head, then position: a decode workgroup (one kv head) reads its keys as one contiguous run rather
 * than a head_dim slice of every row (on lavapipe, SmolLM2-135M at 2,048 keys: attention 0.73x the time
 * a token end to end, the cache streamed from memory).
 *
 * f16 is packed with pack2x16float (core WGSL: no shader-f16 needed); int8 is ggml's symmetric rule
 * (d = amax / 127, q = roundf(x / d)); fp8-e4m3 is OCP E4M3 with scale = amax / 448 (src/quant/fp8.ts).
 */
export type KvCacheType = 'f16' | 'int8' | 'fp8-e4m3' | 'f32';
export const KV_CACHE_TYPES: readonly KvCacheType[] = ['f16', 'int8', 'fp8-e4m3', 'f32'];
export const DEFAULT_KV_CACHE: KvCacheType = 'f16';

/** Elements per u32 word of codes. */
export const KV_PER_WORD: Readonly<Record<KvCacheType, number>> = { f32: 1, f16: 2, int8: 4, 'fp8-e4m3': 4 };

export const kvScaled = (t: KvCacheType) => t === 'int8' || t === 'fp8-e4m3';

/** Bytes of K and V for one position of one layer. */
export function kvBytesPerPosition(t: KvCacheType, nKv: number, headDim: number): number {
  const kvDim = nKv * headDim;
  return 2 * ((kvDim / KV_PER_WORD[t]) * 4 + (kvScaled(t) ? nKv * 4 : 0));
}

/** Bytes of one layer's cache of `rows` positions. */
export function kvCacheBytes(t: KvCacheType, rows: number, nKv: number, headDim: number): number {
  return rows * kvBytesPerPosition(t, nKv, headDim);
}
