import { f16ToF32 } from '../../gguf/convert.ts';

let table: Float32Array | undefined;
/** All 65536 f16 values as f32 (subnormals kept, as ggml's GGML_FP16_TO_FP32), built on first use. */
export function f16Table(): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = f16ToF32(h);
  }
  return table;
}

/** The little-endian f16 at byte `o` of `b`, as f32. */
export const f16At = (lut: Float32Array, b: Uint8Array, o: number): number => lut[b[o] | (b[o + 1] << 8)];

/** The 16 values of IQ4_NL / IQ4_XS codes (ggml's kvalues_iq4nl). */
export const IQ4NL_VALUES: readonly number[] = [
  -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];
