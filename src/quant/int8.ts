import { EmberError } from '../errors.ts';

/**
 * Symmetric int8 quantization of a (rows, K) f32 matrix in groups of `groupSize` along rows (groupSize
 * = K: one scale per row, the `int8` scheme), in plain TypeScript with no GPU imports. ggml's Q8_0 rule
 * with an f32 scale: per group d = amax / 127, id = d ? 1/d : 0, q = roundf(x * id) (halves away from
 * zero); w = d * q. (Q8_0 itself, with d stored as f16, is quantizeQ8G32 in src/gguf/convert.ts.)
 * Codes are packed four per u32, element 4i in the low byte, the layout of the q8 kernels.
 */
export function quantizeInt8(w: Float32Array, rows: number, K: number, groupSize: number): { q: Uint32Array; scales: Float32Array } {
  if (!Number.isInteger(rows) || !Number.isInteger(K) || rows < 0 || K < 0 || K % 4 || !(Number.isInteger(groupSize) && groupSize >= 1 && K % groupSize === 0)) {
    throw new EmberError('BAD_ARGUMENT', `quantizeInt8: K must be a multiple of 4 and of groupSize (got rows=${rows}, K=${K}, groupSize=${groupSize})`);
  }
  if (w.length !== rows * K) throw new EmberError('BAD_ARGUMENT', `quantizeInt8: ${rows}x${K} needs ${rows * K} weights, got ${w.length}`);
  const fr = Math.fround;
  const q = new Int8Array(rows * K);
  const scales = new Float32Array((rows * K) / groupSize);
  for (let g = 0; g < scales.length; g++) {
    const o = g * groupSize;
    let amax = 0;
    for (let j = 0; j < groupSize; j++) amax = Math.max(amax, Math.abs(w[o + j]));
    const d = fr(amax / 127);
    const id = d ? fr(1 / d) : 0;
    scales[g] = d;
    for (let j = 0; j < groupSize; j++) {
      const v = fr(w[o + j] * id);
      q[o + j] = v < 0 ? -Math.round(-v) : Math.round(v);
    }
  }
  return { q: new Uint32Array(q.buffer), scales };
}
