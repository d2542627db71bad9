/**
 * CPU reference of the K/V cache storage (src/kernels/kv_layout.ts): what a value becomes once
 * written and read back, and the buffer image the kernels read and write, so kernel tests compare the
 * GPU's cache with exactly modelled rounding. Plain TypeScript, no GPU imports.
 */
import { dequantizeFp8, quantizeFp8 } from '../../quant/fp8.ts';
import { quantizeInt8 } from '../../quant/int8.ts';
import { KV_PER_WORD, kvScaled, type KvCacheType } from '../kv_layout.ts';
import { f16ToF32, f32ToF16Bits } from '../../gguf/convert.ts';

interface Encoded {
  words: Uint32Array; // (n / per word) codes
  scales: Float32Array | null; // (n / headDim) per-head scales
}

/** Rows of heads (n = heads * headDim values) -> codes and per-head scales. */
function encode(t: KvCacheType, x: Float32Array, headDim: number): Encoded {
  const heads = x.length / headDim;
  if (t === 'f32') return { words: new Uint32Array(Float32Array.from(x).buffer), scales: null };
  if (t === 'f16') {
    const w = new Uint32Array(x.length / 2);
    for (let i = 0; i < w.length; i++) w[i] = f32ToF16Bits(x[2 * i]) | (f32ToF16Bits(x[2 * i + 1]) << 16);
    return { words: w, scales: null };
  }
  if (t === 'int8') {
    const q = quantizeInt8(x, heads, headDim, headDim);
    return { words: q.q, scales: q.scales };
  }
  const q = quantizeFp8(x, heads, headDim, 'e4m3', headDim);
  return { words: q.q, scales: q.scales };
}

function decode(t: KvCacheType, e: Encoded, n: number, headDim: number): Float32Array {
  if (t === 'f32') return new Float32Array(e.words.buffer.slice(0, n * 4));
  if (t === 'f16') {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = f16ToF32((e.words[i >> 1] >>> (16 * (i & 1))) & 0xffff);
    return out;
  }
  if (t === 'int8') {
    const codes = new Int8Array(e.words.buffer, e.words.byteOffset, n);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = codes[i] * e.scales![Math.floor(i / headDim)];
    return out;
  }
  return dequantizeFp8({ q: e.words, scales: e.scales! }, n / headDim, headDim, 'e4m3', headDim);
}

/** What heads of `headDim` values read back as after a trip through the cache. */
export function kvRoundTrip(t: KvCacheType, x: Float32Array, headDim: number): Float32Array {
  return decode(t, encode(t, x, headDim), x.length, headDim);
}

/** (a, b, headDim) heads -> (b, a, headDim): rows by kv head into kv heads by row, and back. */
function swapHeads(x: Float32Array, a: number, b: number, headDim: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < a; i++) {
    for (let j = 0; j < b; j++) out.set(x.subarray((i * b + j) * headDim, (i * b + j + 1) * headDim), (j * a + i) * headDim);
  }
  return out;
}

/** The GPU buffer image of a layer's cache holding k and v, each (rows, nKv * headDim). */
export function kvPack(t: KvCacheType, k: Float32Array, v: Float32Array, nKv: number, headDim: number): Uint32Array {
  const n = k.length, codeWords = n / KV_PER_WORD[t], heads = n / headDim;
  const out = new Uint32Array(2 * codeWords + (kvScaled(t) ? 2 * heads : 0));
  [k, v].forEach((x, which) => {
    const e = encode(t, swapHeads(x, heads / nKv, nKv, headDim), headDim);
    out.set(e.words, which * codeWords);
    if (e.scales) out.set(new Uint32Array(e.scales.buffer), 2 * codeWords + which * heads);
  });
  return out;
}

/** k and v, each (rows, nKv * headDim), of a cache's buffer image. */
export function kvUnpack(
  t: KvCacheType, words: Uint32Array, rows: number, nKv: number, headDim: number,
): { k: Float32Array; v: Float32Array } {
  const n = rows * nKv * headDim, codeWords = n / KV_PER_WORD[t], heads = n / headDim;
  const part = (which: number) => {
    const w = words.slice(which * codeWords, (which + 1) * codeWords);
    const s0 = 2 * codeWords + which * heads;
    const s = kvScaled(t) ? new Float32Array(words.slice(s0, s0 + heads).buffer) : null;
    return swapHeads(decode(t, { words: w, scales: s }, n, headDim), nKv, rows, headDim);
  };
  return { k: part(0), v: part(1) };
}
