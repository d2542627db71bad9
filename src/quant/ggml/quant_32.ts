import { f32ToF16Bits } from '../../gguf/convert.ts';

/**
 * ggml's reference quantizers for the 32-value blocks (quantize_row_{q4_0,q4_1,q5_0,q5_1,q8_0}_ref),
 * each C float operation one `fr`, so the bytes equal ggml-quants.c built without fused multiply-adds
 * (what llama-quantize writes without an imatrix; test/fixtures/ggml_quant.json checks it).
 */
const fr = Math.fround;

export function putF16(out: Uint8Array, o: number, x: number): void {
  const h = f32ToF16Bits(x);
  out[o] = h & 255;
  out[o + 1] = h >> 8;
}

/** The value of largest magnitude (the first one on a tie), as ggml's `if (amax < fabsf(v))` loop. */
function signedAbsMax(x: Float32Array, o: number): number {
  let amax = 0, max = 0;
  for (let j = 0; j < 32; j++) {
    if (amax < Math.abs(x[o + j])) {
      amax = Math.abs(x[o + j]);
      max = x[o + j];
    }
  }
  return max;
}

function minMax(x: Float32Array, o: number): [number, number] {
  let min = Infinity, max = -Infinity; // FLT_MAX, -FLT_MAX: the same for finite input
  for (let j = 0; j < 32; j++) {
    if (x[o + j] < min) min = x[o + j];
    if (x[o + j] > max) max = x[o + j];
  }
  return [min, max];
}

/** Symmetric 4/5-bit (Q4_0: d = max/-8, q = min(15, trunc(x/d + 8.5)); Q5_0: -16, 31, 16.5), qh for Q5_0. */
function quantSym(x: Float32Array, out: Uint8Array, nb: number, bits: 4 | 5): void {
  const bytes = bits === 4 ? 18 : 22, qs0 = bits === 4 ? 2 : 6, half = bits === 4 ? 8 : 16;
  for (let i = 0; i < nb; i++) {
    const o = i * bytes, xo = i * 32;
    const d = fr(signedAbsMax(x, xo) / -half);
    const id = d ? fr(1 / d) : 0;
    putF16(out, o, d);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const xi0 = Math.min(2 * half - 1, Math.trunc(fr(fr(x[xo + j] * id) + half + 0.5)));
      const xi1 = Math.min(2 * half - 1, Math.trunc(fr(fr(x[xo + j + 16] * id) + half + 0.5)));
      out[o + qs0 + j] = (xi0 & 15) | ((xi1 & 15) << 4);
      qh |= ((xi0 >> 4) << j) | ((xi1 >> 4) << (j + 16));
    }
    if (bits === 5) new DataView(out.buffer, out.byteOffset).setUint32(o + 2, qh >>> 0, true);
  }
}

/** Affine 4/5-bit (Q4_1, Q5_1): d = (max - min)/(2^bits - 1), m = min, q = trunc((x - min)/d + 0.5). */
function quantAffine(x: Float32Array, out: Uint8Array, nb: number, bits: 4 | 5): void {
  const bytes = bits === 4 ? 20 : 24, qs0 = bits === 4 ? 4 : 8;
  for (let i = 0; i < nb; i++) {
    const o = i * bytes, xo = i * 32;
    const [min, max] = minMax(x, xo);
    const d = fr(fr(max - min) / ((1 << bits) - 1));
    const id = d ? fr(1 / d) : 0;
    putF16(out, o, d);
    putF16(out, o + 2, min);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      let xi0 = Math.trunc(fr(fr(fr(x[xo + j] - min) * id) + 0.5));
      let xi1 = Math.trunc(fr(fr(fr(x[xo + j + 16] - min) * id) + 0.5));
      if (bits === 4) [xi0, xi1] = [Math.min(15, xi0), Math.min(15, xi1)]; // Q5_1's C has no clamp
      out[o + qs0 + j] = (xi0 & 15) | ((xi1 & 15) << 4);
      qh |= (((xi0 >> 4) & 1) << j) | (((xi1 >> 4) & 1) << (j + 16));
    }
    if (bits === 5) new DataView(out.buffer, out.byteOffset).setUint32(o + 4, qh >>> 0, true);
  }
}

export const quantQ4_0 = (x: Float32Array, out: Uint8Array, nb: number) => quantSym(x, out, nb, 4);
export const quantQ5_0 = (x: Float32Array, out: Uint8Array, nb: number) => quantSym(x, out, nb, 5);
export const quantQ4_1 = (x: Float32Array, out: Uint8Array, nb: number) => quantAffine(x, out, nb, 4);
export const quantQ5_1 = (x: Float32Array, out: Uint8Array, nb: number) => quantAffine(x, out, nb, 5);

/** Q8_0: d = amax/127, q = roundf(x/d) (halves away from zero). */
export function quantQ8_0(x: Float32Array, out: Uint8Array, nb: number): void {
  for (let i = 0; i < nb; i++) {
    const o = i * 34, xo = i * 32;
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[xo + j]));
    const d = fr(amax / 127);
    const id = d ? fr(1 / d) : 0;
    putF16(out, o, d);
    for (let j = 0; j < 32; j++) {
      const v = fr(x[xo + j] * id);
      out[o + 2 + j] = (v < 0 ? -Math.round(-v) : Math.round(v)) & 255;
    }
  }
}

