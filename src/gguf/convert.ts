import { EmberError } from '../errors.ts';
import { ownBuffer } from '../util/own_bytes.ts';
import type { TensorInfo } from './reader.ts';

/**
 * CPU conversion of GGUF tensor bytes into the layouts the kernels read. Everything produced here
 * is little-endian and 4-byte aligned: the GPU never sees GGUF's 34-byte Q8_0 or 18-byte Q4_0
 * blocks. Quantized weights become a `q` buffer of packed codes plus a separate `scales` buffer
 * (one f32 per 32 weights), which is what the int8/int4 GEMV kernels bind.
 *
 * Host byte order: WebGPU buffers are little-endian, and so is every host that runs it; typed-array
 * views below assume that.
 */

/** The tensor facts conversion needs; a `TensorInfo` from the reader satisfies it. */
export type TensorDesc = Pick<TensorInfo, 'name' | 'ne' | 'type'>;

/** Int8 codes packed 4 per u32 with one f32 scale per 32 weights. */
export interface Q8Packed {
  /** (rows, K/4) u32: element k of a row is byte k%4 (bits 8*(k%4)..+7, two's complement) of word k/4. */
  readonly q: Uint32Array;
  /** (rows, K/32) f32: weight = scales[r*K/32 + k/32] * int8(q code). */
  readonly scales: Float32Array;
}

/**
 * 4-bit codes, 8 per u32, with one f32 scale per 32 weights: weight = scale * (code - 8).
 *
 * Layout: (rows, K/8) u32, i.e. 4 words per 32-weight block, and those 4 words are exactly the
 * block's 16 GGUF Q4_0 bytes reinterpreted as little-endian u32. Within block word w (0..3):
 *   byte b (bits 8b..8b+7, b = 0..3): low nibble  (bits 8b..8b+3)   = element 4w+b
 *                                     high nibble (bits 8b+4..8b+7) = element 16+4w+b
 * so `word & 0x0F0F0F0Fu` is elements 4w..4w+3 as four u8 codes and `(word >> 4u) & 0x0F0F0F0Fu`
 * is elements 16+4w..16+4w+3: a shader decodes 8 weights with two masks and can feed each result
 * straight to unpack4xU8 / dot4U8Packed against x[4w..4w+3] and x[16+4w..16+4w+3].
 */
export interface Q4Packed {
  readonly q: Uint32Array;
  /** (rows, K/32) f32 */
  readonly scales: Float32Array;
}

// ---- scalar conversions ---------------------------------------------------------------------

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** IEEE binary16 bits -> number (exact; NaN payloads are not preserved). */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** bfloat16 bits -> number: the upper half of an f32. */
export function bf16ToF32(h: number): number {
  u32buf[0] = (h & 0xffff) << 16;
  return f32buf[0];
}

/**
 * number -> IEEE binary16 bits, round to nearest even, with subnormals, overflow to ±inf, -0 and NaN.
 * `x` is first rounded to f32 (as ggml's fp32->fp16 takes a float), then to f16.
 */
export function f32ToF16Bits(x: number): number {
  f32buf[0] = x;
  const b = u32buf[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15; // f16 biased exponent
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // f16 subnormal (or zero): value in units of 2^-24 is (1.mant) * 2^(e+9) = m >> (14 - e).
    if (e < -10) return sign; // below 2^-25, which itself rounds (to even) to 0
    const m = mant | 0x800000;
    const shift = 14 - e; // 14..24
    let r = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && r & 1)) r++; // a carry into bit 10 is the smallest normal, correctly
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && r & 1)) r++; // a carry into the exponent is right, up to inf
  return sign | r;
}

/** number -> bfloat16 bits, round to nearest even (NaN stays a quiet NaN). */
export function f32ToBF16Bits(x: number): number {
  f32buf[0] = x;
  const b = u32buf[0];
  if ((b & 0x7fffffff) > 0x7f800000) return ((b >>> 16) | 0x40) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

let f16Table: Float32Array | undefined;
/** All 65536 f16 values as f32, built once on first use. */
export function f16Lut(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16ToF32(h);
  }
  return f16Table;
}

// ---- validation -----------------------------------------------------------------------------

const BLOCK: Record<string, { size: number; bytes: number }> = {
  F32: { size: 1, bytes: 4 },
  F16: { size: 1, bytes: 2 },
  BF16: { size: 1, bytes: 2 },
  Q8_0: { size: 32, bytes: 34 },
  Q4_0: { size: 32, bytes: 18 },
};

function shapeOf(t: TensorDesc): { numel: number; K: number; rows: number } {
  if (t.ne.length < 1 || t.ne.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new EmberError('BAD_MODEL', `tensor ${t.name}: shape [${t.ne.join(', ')}] is not a list of non-negative integers`, { tensor: t.name });
  }
  const numel = t.ne.reduce((a, b) => a * b, 1);
  const K = t.ne[0];
  return { numel, K, rows: K === 0 ? 0 : numel / K };
}

/** Checks the type is one of `allowed` and the byte count matches the shape; returns the shape. */
function check(t: TensorDesc, bytes: Uint8Array, allowed: readonly string[], what: string) {
  const blk = BLOCK[t.type];
  if (!blk || !allowed.includes(t.type)) {
    throw new EmberError('UNSUPPORTED', `tensor ${t.name}: ${what} does not take type ${t.type} (supported: ${allowed.join(', ')})`, { tensor: t.name, type: t.type });
  }
  const s = shapeOf(t);
  if (s.K % blk.size !== 0) {
    throw new EmberError('BAD_MODEL', `tensor ${t.name} (${t.type}): rows of ${s.K} elements are not a multiple of the block size ${blk.size}`, { tensor: t.name });
  }
  const expected = (s.numel / blk.size) * blk.bytes;
  if (bytes.byteLength !== expected) {
    throw new EmberError('BAD_FILE', `tensor ${t.name} (${t.type}, ne=[${t.ne.join(', ')}]): expected ${expected} bytes, got ${bytes.byteLength}`, { tensor: t.name, expected, actual: bytes.byteLength });
  }
  return s;
}

/** A 4-byte aligned copy of `bytes` (GGUF data in a sub-array may start at any offset). */
const alignedBuffer = ownBuffer;

// ---- tensor conversions ---------------------------------------------------------------------

/**
 * Dequantizes/widens a tensor to f32, with ggml's exact numerics (x = d*q for Q8_0, d*(q-8) for Q4_0). F32, F16 and
 * BF16 go into `into` when given (at least the tensor's length: a reused scratch), else a new array.
 */
export function toF32(t: TensorDesc, bytes: Uint8Array, into?: Float32Array): Float32Array {
  const { numel } = check(t, bytes, ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0'], 'toF32');
  switch (t.type) {
    case 'F32':
      if (!into) return new Float32Array(alignedBuffer(bytes)); // a copy: the caller may change it
      into.set(bytes.byteOffset % 4 ? new Float32Array(alignedBuffer(bytes)) : new Float32Array(bytes.buffer, bytes.byteOffset, numel));
      return into.subarray(0, numel);
    case 'F16': {
      const lut = f16Lut();
      const h = halfWords(bytes);
      const out = into ?? new Float32Array(numel);
      for (let i = 0; i < numel; i++) out[i] = lut[h[i]];
      return out.subarray(0, numel);
    }
    case 'BF16': {
      const h = halfWords(bytes);
      const out = into ?? new Float32Array(numel);
      const bits = new Uint32Array(out.buffer, out.byteOffset, numel);
      for (let i = 0; i < numel; i++) bits[i] = h[i] << 16;
      return out.subarray(0, numel);
    }
    case 'Q8_0': {
      const lut = f16Lut();
      const out = new Float32Array(numel);
      for (let b = 0, o = 0; b < numel / 32; b++, o += 34) {
        const d = lut[bytes[o] | (bytes[o + 1] << 8)];
        for (let j = 0; j < 32; j++) out[b * 32 + j] = d * ((bytes[o + 2 + j] << 24) >> 24);
      }
      return out;
    }
    default: {
      // Q4_0
      const lut = f16Lut();
      const out = new Float32Array(numel);
      for (let b = 0, o = 0; b < numel / 32; b++, o += 18) {
        const d = lut[bytes[o] | (bytes[o + 1] << 8)];
        for (let j = 0; j < 16; j++) {
          const v = bytes[o + 2 + j];
          out[b * 32 + j] = d * ((v & 15) - 8);
          out[b * 32 + 16 + j] = d * ((v >> 4) - 8);
        }
      }
      return out;
    }
  }
}

/**
 * f16 weights packed two per u32: (rows, K/2), element 2i in the low 16 bits of word i. F16 input
 * is copied bit for bit; F32 and BF16 input is rounded to f16 (nearest even). K must be even so
 * that every row starts on a word.
 */
export function toF16Packed(t: TensorDesc, bytes: Uint8Array): Uint32Array {
  const { numel, K } = check(t, bytes, ['F16', 'F32', 'BF16'], 'toF16Packed');
  if (K % 2 !== 0) {
    throw new EmberError('BAD_MODEL', `tensor ${t.name}: rows of ${K} elements cannot be packed two f16 per u32 (ne[0] must be even)`, { tensor: t.name });
  }
  if (t.type === 'F16') return new Uint32Array(alignedBuffer(bytes));
  const src = toF32(t, bytes);
  const h = new Uint16Array(numel);
  for (let i = 0; i < numel; i++) h[i] = f32ToF16Bits(src[i]);
  return new Uint32Array(h.buffer);
}

/**
 * The tensor's bytes as 16-bit words: GGUF's Q8_0 and Q4_0 blocks are 34 and 18 bytes, an f16 scale then the codes,
 * so every field starts on an even byte. A view where the bytes start on one (a file's tensors are aligned), else a copy.
 */
function halfWords(bytes: Uint8Array): Uint16Array {
  const even = bytes.byteOffset % 2 === 0;
  return even ? new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 1) : new Uint16Array(alignedBuffer(bytes));
}

/**
 * Blocks of `blockHalves` 16-bit words (an f16 scale, then the codes) reordered into code words and f32 scales. The
 * codes are moved as words built from two halves, not copied a block at a time (`set` of a block's subarray): a 1B
 * model's Q8_0 took 3.0 s of its load that way (a view per block), half of it this way.
 */
function splitBlocks(bytes: Uint8Array, nb: number, blockHalves: number): { q: Uint32Array; scales: Float32Array } {
  const lut = f16Lut();
  const h = halfWords(bytes);
  const codeWords = (blockHalves - 1) >> 1;
  const q = new Uint32Array(nb * codeWords);
  const scales = new Float32Array(nb);
  for (let b = 0, o = 0, d = 0; b < nb; b++, o += blockHalves) {
    scales[b] = lut[h[o]];
    for (let j = o + 1; j < o + blockHalves; j += 2) q[d++] = h[j] | (h[j + 1] << 16);
  }
  return { q, scales };
}

/**
 * BF16 values two per u32 as they are (element 2i in the low half: the file's little-endian order), for the GPU's
 * bf16 weights: a view of the bytes where they start on a word, else a copy. K must be even, as for f16.
 */
export function bf16Packed(t: TensorDesc, bytes: Uint8Array): Uint32Array {
  const { K } = check(t, bytes, ['BF16'], 'bf16Packed');
  if (K % 2 !== 0) {
    throw new EmberError('BAD_MODEL', `tensor ${t.name}: rows of ${K} elements cannot be packed two bf16 per u32 (ne[0] must be even)`, { tensor: t.name });
  }
  return wordsOf(bytes);
}

/** `bytes` as u32 words: a view where they are 4-byte aligned, else an aligned copy (the values are only read). */
export function wordsOf(bytes: Uint8Array): Uint32Array {
  if (bytes.byteOffset % 4 === 0) return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 2);
  return new Uint32Array(alignedBuffer(bytes));
}

/** Byte-exact reorder of GGUF Q8_0 blocks into `Q8Packed` (scale = the block's f16 d widened to f32). */
export function q8_0ToPacked(t: TensorDesc, bytes: Uint8Array): Q8Packed {
  const { numel } = check(t, bytes, ['Q8_0'], 'q8_0ToPacked');
  return splitBlocks(bytes, numel / 32, 17);
}

/** Byte-exact reorder of GGUF Q4_0 blocks into `Q4Packed` (see its comment for the nibble order). */
export function q4_0ToPacked(t: TensorDesc, bytes: Uint8Array): Q4Packed {
  const { numel } = check(t, bytes, ['Q4_0'], 'q4_0ToPacked');
  return splitBlocks(bytes, numel / 32, 9);
}

/**
 * Symmetric int8 quantization in groups of 32 along rows of K, with the numerics of ggml's
 * quantize_row_q8_0_ref: d = amax/127 (f32), q = roundf(x * (1/d)), and the stored scale is d
 * rounded to f16, so the result equals what a GGUF Q8_0 file of `w` would hold.
 */
export function quantizeQ8G32(w: Float32Array, rows: number, K: number): Q8Packed {
  if (!Number.isInteger(rows) || !Number.isInteger(K) || rows < 0 || K < 0 || K % 32 !== 0) {
    throw new EmberError('BAD_ARGUMENT', `quantizeQ8G32: K must be a non-negative multiple of 32 and rows a non-negative integer (got rows=${rows}, K=${K})`);
  }
  if (w.length !== rows * K) throw new EmberError('BAD_ARGUMENT', `quantizeQ8G32: ${rows}x${K} needs ${rows * K} weights, got ${w.length}`);
  const q8 = new Int8Array(rows * K);
  const scales = new Float32Array((rows * K) / 32);
  quantizeQ8G32Into(w, q8, scales);
  return { q: new Uint32Array(q8.buffer), scales };
}

/** quantizeQ8G32's blocks of `w` into `q8` and `scales` (w.length / 32 of them). */
function quantizeQ8G32Into(w: Float32Array, q8: Int8Array, scales: Float32Array): void {
  const nb = w.length / 32;
  const fr = Math.fround;
  const lut = f16Lut(); // f16ToF32 takes a power of two per call: a table, ~1/6 of the time (1.6 of 9 ns a weight)
  for (let b = 0, o = 0; b < nb; b++, o += 32) {
    let amax = 0;
    for (let j = o; j < o + 32; j++) amax = Math.max(amax, Math.abs(w[j]));
    const d = fr(amax / 127);
    const id = d ? fr(1 / d) : 0;
    scales[b] = lut[f32ToF16Bits(d)];
    for (let j = o; j < o + 32; j++) {
      const x0 = fr(w[j] * id);
      // roundf, halves away from zero: x0 is an f32 of magnitude <= 127, so x0 +- 0.5 is exact in a double
      q8[j] = Math.trunc(x0 < 0 ? x0 - 0.5 : x0 + 0.5);
    }
  }
}

/** Values widened and quantized at a time by toQ8Packed: 1M (4 MB of f32, reused). */
const WIDEN_CHUNK = 1 << 20;

/**
 * Any supported weight type -> `Q8Packed`: Q8_0 is reordered exactly, the rest quantized with `quantizeQ8G32`. F32,
 * F16 and BF16 go a chunk of rows at a time through one f32 scratch, not a whole f32 copy of the tensor: a Llama-3.2-1B
 * BF16 made 4.9 GB of fresh f32 on the way to 1.3 GB of codes, and fresh memory costs a page fault per 4 KB.
 */
export function toQ8Packed(t: TensorDesc, bytes: Uint8Array): Q8Packed {
  if (t.type === 'Q8_0') return q8_0ToPacked(t, bytes);
  const { K, rows } = shapeOf(t);
  if (K % 32 !== 0) {
    throw new EmberError('BAD_MODEL', `tensor ${t.name}: rows of ${K} elements cannot be quantized in groups of 32`, { tensor: t.name });
  }
  if (t.type === 'Q4_0') return quantizeQ8G32(toF32(t, bytes), rows, K);
  check(t, bytes, ['F32', 'F16', 'BF16'], 'toQ8Packed');
  const width = BLOCK[t.type].bytes;
  const step = Math.max(1, Math.floor(WIDEN_CHUNK / K)); // rows a chunk
  const scratch = new Float32Array(Math.min(step, rows) * K);
  const q8 = new Int8Array(rows * K);
  const scales = new Float32Array((rows * K) / 32);
  for (let r = 0; r < rows; r += step) {
    const n = Math.min(step, rows - r);
    const part = { name: t.name, ne: [K, n], type: t.type };
    const w = toF32(part, bytes.subarray(r * K * width, (r + n) * K * width), scratch);
    quantizeQ8G32Into(w, q8.subarray(r * K, (r + n) * K), scales.subarray((r * K) / 32, ((r + n) * K) / 32));
  }
  return { q: new Uint32Array(q8.buffer), scales };
}
