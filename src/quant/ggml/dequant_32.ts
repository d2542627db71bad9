import { IQ4NL_VALUES, f16At, f16Table } from './f16.ts';

/**
 * ggml's dequantize_row_* for the 32-value block types, in f32 with ggml's operation order (each
 * `fr` is one C float operation; JS doubles rounded once to f32 give exactly the f32 result).
 * Element j < 16 of a block is the low nibble of byte j, element j + 16 its high nibble.
 */
const fr = Math.fround;

export function dequantQ4_0(b: Uint8Array, y: Float32Array, nb: number): void {
  const lut = f16Table();
  for (let i = 0, o = 0; i < nb; i++, o += 18) {
    const d = f16At(lut, b, o);
    for (let j = 0; j < 16; j++) {
      const v = b[o + 2 + j];
      y[i * 32 + j] = ((v & 15) - 8) * d;
      y[i * 32 + j + 16] = ((v >> 4) - 8) * d;
    }
  }
}

export function dequantQ4_1(b: Uint8Array, y: Float32Array, nb: number): void {
  const lut = f16Table();
  for (let i = 0, o = 0; i < nb; i++, o += 20) {
    const d = f16At(lut, b, o), m = f16At(lut, b, o + 2);
    for (let j = 0; j < 16; j++) {
      const v = b[o + 4 + j];
      y[i * 32 + j] = fr((v & 15) * d) + m;
      y[i * 32 + j + 16] = fr((v >> 4) * d) + m;
    }
  }
}

/** Q5_0 (`min` = null: x = d*(q - 16)) and Q5_1 (x = d*q + m); qh bit j is element j's fifth bit. */
function dequantQ5(b: Uint8Array, y: Float32Array, nb: number, affine: boolean): void {
  const lut = f16Table();
  const bytes = affine ? 24 : 22, qh0 = affine ? 4 : 2;
  for (let i = 0, o = 0; i < nb; i++, o += bytes) {
    const d = f16At(lut, b, o), m = affine ? f16At(lut, b, o + 2) : 0;
    const qh = (b[o + qh0] | (b[o + qh0 + 1] << 8) | (b[o + qh0 + 2] << 16) | (b[o + qh0 + 3] << 24)) >>> 0;
    for (let j = 0; j < 16; j++) {
      const v = b[o + qh0 + 4 + j];
      const x0 = (v & 15) | (((qh >>> j) & 1) << 4);
      const x1 = (v >> 4) | (((qh >>> (j + 16)) & 1) << 4);
      y[i * 32 + j] = affine ? fr(x0 * d) + m : (x0 - 16) * d;
      y[i * 32 + j + 16] = affine ? fr(x1 * d) + m : (x1 - 16) * d;
    }
  }
}
export const dequantQ5_0 = (b: Uint8Array, y: Float32Array, nb: number) => dequantQ5(b, y, nb, false);
export const dequantQ5_1 = (b: Uint8Array, y: Float32Array, nb: number) => dequantQ5(b, y, nb, true);

export function dequantQ8_0(b: Uint8Array, y: Float32Array, nb: number): void {
  const lut = f16Table();
  for (let i = 0, o = 0; i < nb; i++, o += 34) {
    const d = f16At(lut, b, o);
    for (let j = 0; j < 32; j++) y[i * 32 + j] = ((b[o + 2 + j] << 24) >> 24) * d;
  }
}

export function dequantIQ4_NL(b: Uint8Array, y: Float32Array, nb: number): void {
  const lut = f16Table();
  for (let i = 0, o = 0; i < nb; i++, o += 18) {
    const d = f16At(lut, b, o);
    for (let j = 0; j < 16; j++) {
      const v = b[o + 2 + j];
      y[i * 32 + j] = d * IQ4NL_VALUES[v & 15];
      y[i * 32 + j + 16] = d * IQ4NL_VALUES[v >> 4];
    }
  }
}
