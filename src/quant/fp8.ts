import { EmberError } from '../errors.ts';

/**
 * The two OCP 8-bit float formats (OCP "OFP8" spec), in plain TypeScript with no GPU imports:
 *
 *   E4M3 ("E4M3FN"): S.EEEE.MMM, bias 7, subnormals, no infinities, NaN = S.1111.111, max ±448.
 *   E5M2:            S.EEEEE.MM, bias 15, subnormals, IEEE-style ±Inf (S.11111.00) and NaN, max ±57344.
 *
 * Encoding rounds to nearest, ties to even, and saturates: a finite value beyond ±max becomes ±max
 * (OCP "saturating" mode). NaN stays NaN. ±Inf becomes ±Inf in E5M2 and ±max in E4M3, which has no
 * infinity. Quantized matrices are FP8 codes packed four per u32 (element 4i in the low byte), the
 * same packing as the int8 kernels, with f32 scales in their own buffer.
 */

export type Fp8Format = 'e4m3' | 'e5m2';

/** Largest finite magnitude of each format. */
export const FP8_MAX: Readonly<Record<Fp8Format, number>> = Object.freeze({ e4m3: 448, e5m2: 57344 });

/** The NaN codes the encoder produces (E4M3 has only S.1111.111; E5M2's quiet NaN has the top mantissa bit set). */
export const FP8_NAN: Readonly<Record<Fp8Format, number>> = Object.freeze({ e4m3: 0x7f, e5m2: 0x7e });

interface Layout {
  readonly mBits: number;
  readonly bias: number;
  readonly maxCode: number; // code of +max
  readonly infCode: number | null; // code of +Inf, if the format has one
  readonly nanCode: number;
}

const LAYOUT: Readonly<Record<Fp8Format, Layout>> = {
  e4m3: { mBits: 3, bias: 7, maxCode: 0x7e, infCode: null, nanCode: FP8_NAN.e4m3 },
  e5m2: { mBits: 2, bias: 15, maxCode: 0x7b, infCode: 0x7c, nanCode: FP8_NAN.e5m2 },
};

// ---- decoding -------------------------------------------------------------------------------

function decode(code: number, fmt: Fp8Format): number {
  const { mBits, bias } = LAYOUT[fmt];
  const eBits = 7 - mBits;
  const sign = code & 0x80 ? -1 : 1;
  const e = (code >>> mBits) & ((1 << eBits) - 1);
  const m = code & ((1 << mBits) - 1);
  const eMax = (1 << eBits) - 1;
  if (fmt === 'e4m3' && e === eMax && m === 7) return NaN;
  if (fmt === 'e5m2' && e === eMax) return m === 0 ? sign * Infinity : NaN;
  if (e === 0) return sign * m * 2 ** (1 - bias - mBits);
  return sign * ((1 << mBits) + m) * 2 ** (e - bias - mBits);
}

function table(fmt: Fp8Format): Float32Array {
  const t = new Float32Array(256);
  for (let c = 0; c < 256; c++) t[c] = decode(c, fmt);
  return t;
}

/** All 256 codes of each format as f32 (every FP8 value is exact in f32). */
export const FP8_E4M3_VALUES: Float32Array = table('e4m3');
export const FP8_E5M2_VALUES: Float32Array = table('e5m2');

export function fp8Values(fmt: Fp8Format): Float32Array {
  return fmt === 'e4m3' ? FP8_E4M3_VALUES : FP8_E5M2_VALUES;
}

/** Whether FP8 E4M3 codes (4 per u32) hold a NaN: a byte whose low 7 bits are all set (FP8_NAN.e4m3,
 * with either sign). */
export function hasE4m3Nan(codes: Uint32Array): boolean {
  for (let i = 0; i < codes.length; i++) {
    const m = codes[i] & 0x7f7f7f7f;
    if (((m + 0x01010101) & 0x80808080) !== 0) return true; // a byte of 0x7F carries into its bit 7
  }
  return false;
}

export function fp8e4m3ToF32(code: number): number {
  return FP8_E4M3_VALUES[code & 0xff];
}

export function fp8e5m2ToF32(code: number): number {
  return FP8_E5M2_VALUES[code & 0xff];
}

// ---- encoding -------------------------------------------------------------------------------

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/**
 * Rounds `x` (first to f32, which cannot change the FP8 result: f32 carries 24 significant bits, more
 * than 2*4+2, and covers the whole FP8 range with normals) to the nearest code, ties to even.
 */
function encode(x: number, fmt: Fp8Format): number {
  const { mBits, bias, maxCode, infCode, nanCode } = LAYOUT[fmt];
  if (Number.isNaN(x)) return nanCode;
  const sign = x < 0 || Object.is(x, -0) ? 0x80 : 0;
  const a = Math.abs(x);
  if (a === Infinity) return sign | (infCode ?? maxCode);
  if (a > FP8_MAX[fmt]) return sign | maxCode; // also catches doubles that would round to f32 Inf
  f32buf[0] = a;
  const bits = u32buf[0];
  const exp = bits >>> 23; // biased f32 exponent (a >= 0)
  const full = (bits & 0x7fffff) | (exp ? 0x800000 : 0); // 24-bit significand, a = full * 2^(exp-150)
  const e = exp - 127; // unbiased exponent of a normal a
  let code: number;
  if (e >= 1 - bias) {
    // normal in FP8: keep mBits of the 23 fraction bits, rounding the rest
    const shift = 23 - mBits;
    code = ((e + bias) << mBits) | ((full & 0x7fffff) >>> shift);
    const rem = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && code & 1)) code++; // a carry into the exponent is right
  } else {
    // subnormal in FP8: a in units of the smallest subnormal 2^(1-bias-mBits) is full >> shift
    const shift = 150 - exp + (1 - bias - mBits); // > 23 - mBits
    if (shift > 24) return sign; // below half the smallest subnormal (or an f32 subnormal): 0
    code = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const half = 2 ** (shift - 1);
    if (rem > half || (rem === half && code & 1)) code++; // a carry to 1 << mBits is the smallest normal
  }
  return sign | Math.min(code, maxCode); // rounding up past max saturates (E4M3: never to the NaN code)
}

export function f32ToFp8e4m3(x: number): number {
  return encode(x, 'e4m3');
}

export function f32ToFp8e5m2(x: number): number {
  return encode(x, 'e5m2');
}

export function f32ToFp8(x: number, fmt: Fp8Format): number {
  return encode(x, fmt);
}

// ---- quantized matrices ---------------------------------------------------------------------

/** FP8 codes packed 4 per u32 with f32 scales. */
export interface Fp8Packed {
  /** (rows, K/4) u32: element k of a row is byte k%4 (bits 8*(k%4)..+7) of word k/4. */
  readonly q: Uint32Array;
  /** (rows, K/groupSize) f32: weight = scales[r*K/groupSize + k/groupSize] * decode(code). */
  readonly scales: Float32Array;
}

function checkShape(what: string, n: number, rows: number, K: number, groupSize: number): void {
  const bad = (msg: string) => new EmberError('BAD_ARGUMENT', `${what}: ${msg} (got rows=${rows}, K=${K}, groupSize=${groupSize})`);
  if (!Number.isInteger(rows) || !Number.isInteger(K) || rows < 0 || K < 0) throw bad('rows and K must be non-negative integers');
  if (K % 4 !== 0) throw bad('K must be a multiple of 4, so that each row of codes starts on a u32');
  if (!Number.isInteger(groupSize) || groupSize < 1 || K % groupSize !== 0) throw bad('groupSize must be a positive divisor of K');
  if (n !== rows * K) throw bad(`${rows}x${K} needs ${rows * K} weights, got ${n}`);
}

/**
 * Symmetric FP8 quantization in groups of `groupSize` along rows of K (groupSize = K: one scale per
 * row): scale = amax / FP8_MAX (f32), code = encode(x / scale). An all-zero group gets scale 0 and
 * codes 0.
 */
export function quantizeFp8(w: Float32Array, rows: number, K: number, format: Fp8Format, groupSize: number): Fp8Packed {
  checkShape('quantizeFp8', w.length, rows, K, groupSize);
  const fr = Math.fround;
  const max = FP8_MAX[format];
  const codes = new Uint8Array(rows * K);
  const scales = new Float32Array((rows * K) / groupSize);
  for (let g = 0; g < scales.length; g++) {
    const o = g * groupSize;
    let amax = 0;
    for (let j = 0; j < groupSize; j++) amax = Math.max(amax, Math.abs(w[o + j]));
    const scale = fr(amax / max);
    scales[g] = scale;
    if (scale === 0) continue;
    for (let j = 0; j < groupSize; j++) codes[o + j] = encode(fr(w[o + j] / scale), format);
  }
  return { q: new Uint32Array(codes.buffer), scales };
}

/** The f32 weights a `quantizeFp8` result stands for: (rows, K). */
export function dequantizeFp8(p: Fp8Packed, rows: number, K: number, format: Fp8Format, groupSize: number): Float32Array {
  checkShape('dequantizeFp8', p.q.length * 4, rows, K, groupSize);
  if (p.scales.length !== (rows * K) / groupSize) throw new EmberError('BAD_ARGUMENT', `dequantizeFp8: expected ${(rows * K) / groupSize} scales, got ${p.scales.length}`);
  const lut = fp8Values(format);
  const codes = new Uint8Array(p.q.buffer, p.q.byteOffset, rows * K);
  const out = new Float32Array(rows * K);
  for (let i = 0; i < out.length; i++) out[i] = lut[codes[i]] * p.scales[Math.floor(i / groupSize)];
  return out;
}

/**
 * f32 (rows, cols) -> FP8 codes with one scale per blockRows x blockCols block, the layout of native
 * FP8 checkpoints (see `dequantizeFp8Blocks`): scale = amax(block) / FP8_MAX, code = encode(x / scale).
 * Codes are one byte per weight, row-major, unpadded (cols need not be a multiple of 4).
 */
export function quantizeFp8Blocks(
  w: Float32Array, // (rows, cols)
  rows: number,
  cols: number,
  blockRows: number,
  blockCols: number,
  format: Fp8Format = 'e4m3',
): { codes: Uint8Array; scales: Float32Array } {
  if (w.length !== rows * cols || !(blockRows > 0 && blockCols > 0)) {
    throw new EmberError('BAD_ARGUMENT', `quantizeFp8Blocks: ${rows}x${cols} in ${blockRows}x${blockCols} blocks needs ${rows * cols} weights, got ${w.length}`);
  }
  const fr = Math.fround;
  const sRows = Math.ceil(rows / blockRows), sCols = Math.ceil(cols / blockCols);
  const codes = new Uint8Array(rows * cols);
  const scales = new Float32Array(sRows * sCols);
  for (let br = 0; br < sRows; br++) {
    for (let bc = 0; bc < sCols; bc++) {
      const r1 = Math.min(rows, (br + 1) * blockRows), c1 = Math.min(cols, (bc + 1) * blockCols);
      let amax = 0;
      for (let r = br * blockRows; r < r1; r++) for (let c = bc * blockCols; c < c1; c++) amax = Math.max(amax, Math.abs(w[r * cols + c]));
      const scale = fr(amax / FP8_MAX[format]);
      scales[br * sCols + bc] = scale;
      if (scale === 0) continue;
      for (let r = br * blockRows; r < r1; r++) for (let c = bc * blockCols; c < c1; c++) codes[r * cols + c] = encode(fr(w[r * cols + c] / scale), format);
    }
  }
  return { codes, scales };
}

/**
 * FP8 codes with 2-D block scales, as native FP8 checkpoints store them (DeepSeek-V3, Qwen3-FP8:
 * `weight_scale_inv` of shape (ceil(rows/blockRows), ceil(cols/blockCols)), w = fp8 * scale; blocks at
 * the right and bottom edges may be partial) -> f32 (rows, cols).
 */
export function dequantizeFp8Blocks(
  codes: Uint8Array, // (rows, cols)
  scales: Float32Array, // (ceil(rows/blockRows), ceil(cols/blockCols))
  rows: number,
  cols: number,
  blockRows: number,
  blockCols: number,
  format: Fp8Format = 'e4m3',
): Float32Array {
  const sCols = Math.ceil(cols / blockCols);
  if (codes.length !== rows * cols || scales.length !== Math.ceil(rows / blockRows) * sCols) {
    throw new EmberError('BAD_ARGUMENT', `dequantizeFp8Blocks: ${rows}x${cols} in ${blockRows}x${blockCols} blocks needs ${rows * cols} codes and ${Math.ceil(rows / blockRows) * sCols} scales, got ${codes.length} and ${scales.length}`);
  }
  const lut = fp8Values(format);
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const srow = Math.floor(r / blockRows) * sCols;
    for (let c = 0; c < cols; c++) out[r * cols + c] = lut[codes[r * cols + c]] * scales[srow + Math.floor(c / blockCols)];
  }
  return out;
}
