/**
 * CPU reference for the matmul kernels, with llama.cpp's CPU numerics:
 *  - f32 weights: a plain dot product.
 *  - f16 weights: x is rounded to f16 first; the products of two f16 values are exact in f32.
 *  - q8 / q4 weights: x is quantized to Q8_0 (per 32-block: d = amax/127, q = round-half-away(x/d),
 *    d stored as f16), then y = sum over blocks of sumi * (d_w * d_x), the integer sum exact, d_w the
 *    scale of the block's group (per-row int8 takes its row scale there).
 *  - FP8 weights (no llama.cpp type): x stays f32, y = sum over scale groups of s * sum(fp8(code) * x).
 *  - GGUF block formats (q4_1 ... iq4_xs, ggml's raw blocks): ggml's dequantized weights times f32 x.
 * Also the tiny packers the tests and the benchmark use to make weights in the GPU layouts.
 * No GPU imports.
 */
import type { WeightData } from '../matmul.ts';
import { fp8Values, quantizeFp8, type Fp8Format } from '../../quant/fp8.ts';
import { quantizeInt8 } from '../../quant/int8.ts';
import { bf16ToF32, f16Lut, f16ToF32, f32ToBF16Bits } from '../../gguf/convert.ts';
import { ggmlDequantize } from '../../quant/ggml/index.ts';
import { GGUF_LAYOUTS, type GgufFormat } from '../weight_layouts.ts';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** f32 -> IEEE binary16 bits, round to nearest even (subnormals, overflow to inf, NaN kept). */
export function f16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 112; // f16 biased exponent
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let r = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && r & 1)) r++;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && r & 1)) r++;
  return sign | r;
}

/** x rounded to the nearest f16 (ties to even), as a number. */
export const roundF16 = (x: number) => f16ToF32(f16Bits(x));

/** C's roundf: halves away from zero. */
const roundAway = (v: number) => (v < 0 ? -Math.round(-v) : Math.round(v));

/**
 * Q8_0 quantization of `rows` rows of K (ggml's quantize_row_q8_0_ref): per block of 32,
 * d = amax/127 (f32), id = d ? 1/d : 0, q = roundf(x*id), and the stored scale is d rounded to f16.
 */
export function quantizeQ8_0(x: Float32Array, rows: number, K: number): { q: Int8Array; d: Float32Array } {
  const fr = Math.fround;
  const nb = (rows * K) / 32;
  const q = new Int8Array(rows * K);
  const d = new Float32Array(nb);
  for (let b = 0; b < nb; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
    const db = fr(amax / 127);
    const id = db ? fr(1 / db) : 0;
    d[b] = roundF16(db);
    for (let j = 0; j < 32; j++) q[b * 32 + j] = roundAway(fr(x[b * 32 + j] * id));
  }
  return { q, d };
}

// ---- packers: whole matrices in the layouts `uploadWeights` takes ----------------------------

/** f16 weights, two per u32 (element 2i in the low half). K even. */
export function packF16(w: Float32Array, rows: number, cols: number): WeightData {
  const h = new Uint16Array(rows * cols);
  for (let i = 0; i < h.length; i++) h[i] = f16Bits(w[i]);
  return { format: 'f16', rows, cols, data: new Uint32Array(h.buffer) };
}

/** bf16 weights, two per u32 (element 2i in the low half), each `w` rounded to the nearest bf16. K even. */
export function packBf16(w: Float32Array, rows: number, cols: number): WeightData {
  const h = Uint16Array.from(w, f32ToBF16Bits);
  return { format: 'bf16', rows, cols, data: new Uint32Array(h.buffer) };
}

/** int8 weights with one f16-rounded scale per 32 (the numerics of a GGUF Q8_0 file of `w`). */
export function packQ8(w: Float32Array, rows: number, cols: number): WeightData {
  const { q, d } = quantizeQ8_0(w, rows, cols);
  return { format: 'q8', rows, cols, data: new Uint32Array(q.buffer), scales: d };
}

/** int8 weights with one f32 scale per row (the `int8` scheme). K a multiple of 32. */
export function packInt8Rows(w: Float32Array, rows: number, cols: number): WeightData {
  const { q, scales } = quantizeInt8(w, rows, cols, cols);
  return { format: 'q8', rows, cols, data: q, scales, scaleLayout: { blockRows: 1, blockCols: cols } };
}

/** FP8 weights with one f32 scale per `groupSize` weights of a row (groupSize = cols: per row). */
export function packFp8(w: Float32Array, rows: number, cols: number, fmt: Fp8Format, groupSize = cols): WeightData {
  const { q, scales } = quantizeFp8(w, rows, cols, fmt, groupSize);
  return { format: fmt === 'e4m3' ? 'fp8e4m3' : 'fp8e5m2', rows, cols, data: q, scales, scaleLayout: { blockRows: 1, blockCols: groupSize } };
}

/**
 * Q4_0 weights (ggml's quantize_row_q4_0_ref: d = max/-8 with max the value of largest magnitude,
 * q = min(15, trunc(x/d + 8.5))), each block's 16 bytes as 4 u32: byte j holds element j in its
 * low nibble and element j+16 in its high nibble.
 */
export function packQ4(w: Float32Array, rows: number, cols: number): WeightData {
  const fr = Math.fround;
  const nb = (rows * cols) / 32;
  const bytes = new Uint8Array(nb * 16);
  const scales = new Float32Array(nb);
  for (let b = 0; b < nb; b++) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = w[b * 32 + j];
      if (Math.abs(v) > amax) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = fr(max / -8);
    const id = d ? fr(1 / d) : 0;
    scales[b] = roundF16(d);
    const code = (v: number) => Math.min(15, Math.trunc(fr(fr(v * id) + 8.5)));
    for (let j = 0; j < 16; j++) bytes[b * 16 + j] = code(w[b * 32 + j]) | (code(w[b * 32 + 16 + j]) << 4);
  }
  return { format: 'q4', rows, cols, data: new Uint32Array(bytes.buffer), scales };
}

/** scale(r, c): the scale of weight (r, c) of a quantized matrix, for any scale layout. */
export function scaleOf(w: WeightData): (r: number, c: number) => number {
  const { blockRows, blockCols } = w.scaleLayout ?? { blockRows: 1, blockCols: 32 };
  const spr = Math.ceil(w.cols / blockCols);
  const s = w.scales!;
  return (r, c) => s[Math.floor(r / blockRows) * spr + Math.floor(c / blockCols)];
}

const isFp8 = (w: WeightData) => w.format === 'fp8e4m3' || w.format === 'fp8e5m2';

/** FP8 codes as their values (unscaled), row-major. */
function fp8Decoded(w: WeightData): Float32Array {
  const words = w.data as Uint32Array;
  const lut = fp8Values(w.format === 'fp8e4m3' ? 'e4m3' : 'e5m2');
  const codes = new Uint8Array(words.buffer, words.byteOffset, w.rows * w.cols);
  return Float32Array.from(codes, (c) => lut[c]);
}

/** The weights as f32 (rows, cols): f32(code * scale) for the quantized formats. */
export function dequantize(w: WeightData): Float32Array {
  const { rows, cols } = w;
  const out = new Float32Array(rows * cols);
  if (w.format === 'f32') return Float32Array.from(w.data as Float32Array);
  if (w.format in GGUF_LAYOUTS) return ggmlDequantize(GGUF_LAYOUTS[w.format as GgufFormat].ggml, w.data as Uint8Array, rows * cols);
  const words = w.data as Uint32Array;
  if (w.format === 'f16') {
    const h = new Uint16Array(words.buffer, words.byteOffset, rows * cols);
    const lut = f16Lut(); // (f16ToF32 per value took 57 ns a weight, a LoRA merge's most time on an F16 file)
    for (let i = 0; i < out.length; i++) out[i] = lut[h[i]];
    return out;
  }
  if (w.format === 'bf16') {
    const h = new Uint16Array(words.buffer, words.byteOffset, rows * cols);
    for (let i = 0; i < out.length; i++) out[i] = bf16ToF32(h[i]);
    return out;
  }
  const codes = isFp8(w) ? fp8Decoded(w) : weightCodes(w);
  const layout = w.scaleLayout ?? { blockRows: 1, blockCols: 32 };
  if (layout.blockRows === 1 && layout.blockCols === 32 && cols % 32 === 0) { // (Q8_0's blocks: a scale per 32 in order, no closure a weight)
    const s = w.scales!;
    for (let i = 0; i < out.length; i++) out[i] = codes[i] * s[i >> 5];
    return out;
  }
  const scale = scaleOf(w);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = codes[r * cols + c] * scale(r, c);
  return out;
}

/** Signed integer codes of q8/q4 weights, row-major (q4: q - 8). */
function weightCodes(w: WeightData): Int8Array {
  const words = w.data as Uint32Array;
  const n = w.rows * w.cols;
  if (w.format === 'q8') return new Int8Array(words.buffer, words.byteOffset, n).slice();
  const bytes = new Uint8Array(words.buffer, words.byteOffset, n / 2);
  const out = new Int8Array(n);
  for (let b = 0; b < n / 32; b++) {
    for (let j = 0; j < 16; j++) {
      const v = bytes[b * 16 + j];
      out[b * 32 + j] = (v & 15) - 8;
      out[b * 32 + 16 + j] = (v >> 4) - 8;
    }
  }
  return out;
}

export interface MatmulRefOptions {
  bias?: Float32Array; // (N)
  /** y before the call, for `accumulate`: the result is y0 + (W x + bias). */
  y0?: Float32Array; // (T, N)
  /** (W x + bias) times this, before y0 is added (Granite's residual multiplier). */
  outScale?: number;
}

/** y (T, N) = W x (+ bias) (+ y0) with llama.cpp's numerics for the weight format. x: (T, K). */
export function matmulRef(w: WeightData, x: Float32Array, T: number, opt: MatmulRefOptions = {}): Float32Array {
  const N = w.rows;
  const K = w.cols;
  const fr = Math.fround;
  const y = new Float32Array(T * N);
  if (w.format === 'q8' || w.format === 'q4') {
    const qw = weightCodes(w);
    const scale = scaleOf(w);
    const { q: qx, d: dx } = quantizeQ8_0(x, T, K);
    const nb = K / 32;
    for (let t = 0; t < T; t++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let b = 0; b < nb; b++) {
          let sumi = 0;
          const ow = (n * nb + b) * 32;
          const ox = (t * nb + b) * 32;
          for (let j = 0; j < 32; j++) sumi += qw[ow + j] * qx[ox + j];
          acc = fr(acc + fr(sumi * fr(scale(n, b * 32) * dx[t * nb + b])));
        }
        y[t * N + n] = acc;
      }
    }
  } else if (isFp8(w)) {
    // f64 sums: more accurate than the kernels' f32 ones in any order; each group's scale applied once.
    const v = fp8Decoded(w);
    const scale = scaleOf(w);
    const bc = Math.min(K, (w.scaleLayout ?? { blockCols: 32 }).blockCols);
    for (let t = 0; t < T; t++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k0 = 0; k0 < K; k0 += bc) {
          let part = 0;
          for (let k = k0; k < Math.min(k0 + bc, K); k++) part += v[n * K + k] * x[t * K + k];
          acc += part * scale(n, k0);
        }
        y[t * N + n] = acc;
      }
    }
  } else {
    const wf = dequantize(w);
    const xr = w.format === 'f16' ? x.map(roundF16) : x;
    for (let t = 0; t < T; t++) {
      for (let n = 0; n < N; n++) {
        let acc = 0; // f64: the reference is more accurate than any f32 order of summation
        for (let k = 0; k < K; k++) acc += wf[n * K + k] * xr[t * K + k];
        y[t * N + n] = acc;
      }
    }
  }
  for (let t = 0; t < T; t++) {
    for (let n = 0; n < N; n++) {
      let v = y[t * N + n];
      if (opt.bias) v = fr(v + opt.bias[n]);
      if (opt.outScale !== undefined) v = fr(v * opt.outScale);
      if (opt.y0) v = fr(opt.y0[t * N + n] + v);
      y[t * N + n] = v;
    }
  }
  return y;
}
