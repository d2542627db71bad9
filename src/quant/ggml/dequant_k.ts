import { IQ4NL_VALUES, f16At, f16Table } from './f16.ts';

/**
 * ggml's dequantize_row_* for the 256-value super-block types (Q2_K..Q6_K, IQ4_XS), f32 arithmetic in
 * ggml's order: a sub-block's scale d*sc (and min dmin*m) is one rounded product, then each value is
 * (d*sc)*q - dmin*m. Block layouts are in types.ts; the bit positions follow ggml-quants.c.
 */
const fr = Math.fround;

/** Q4_K/Q5_K: 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes at `o` (get_scale_min_k4). */
export function scaleMinK4(b: Uint8Array, o: number, j: number): [sc: number, m: number] {
  if (j < 4) return [b[o + j] & 63, b[o + j + 4] & 63];
  return [(b[o + j + 4] & 15) | ((b[o + j - 4] >> 6) << 4), (b[o + j + 4] >> 4) | ((b[o + j] >> 6) << 4)];
}

export function dequantQ2_K(b: Uint8Array, y: Float32Array, nb: number): void {
  const lut = f16Table();
  for (let i = 0, o = 0; i < nb; i++, o += 84) {
    const d = f16At(lut, b, o + 80), dmin = f16At(lut, b, o + 82);
    let e = i * 256, is = 0;
    for (let h = 0; h < 2; h++) {
      const q = o + 16 + 32 * h; // 32 bytes of codes, 4 shifts x 32 values
      for (let shift = 0; shift < 8; shift += 2) {
        for (let g = 0; g < 2; g++) {
          const sc = b[o + is++];
          const dl = fr(d * (sc & 15)), ml = fr(dmin * (sc >> 4));
          for (let l = 0; l < 16; l++) y[e++] = fr(dl * ((b[q + 16 * g + l] >> shift) & 3)) - ml;
        }
      }
    }
  }
}

/** Q3_K's 16 signed 6-bit scales (low 4 bits in bytes 0..7, two high bits in bytes 8..11), minus 32. */
function q3kScales(b: Uint8Array, o: number, out: Int32Array): void {
  for (let i = 0; i < 16; i++) {
    const low = i < 8 ? b[o + i] & 15 : b[o + i - 8] >> 4;
    const high = (b[o + 8 + (i % 4)] >> (2 * (i >> 2))) & 3;
    out[i] = (low | (high << 4)) - 32;
  }
}

export function dequantQ3_K(b: Uint8Array, y: Float32Array, nb: number): void {
  const lut = f16Table();
  const sc = new Int32Array(16);
  for (let i = 0, o = 0; i < nb; i++, o += 110) {
    const d = f16At(lut, b, o + 108);
    q3kScales(b, o + 96, sc);
    let e = i * 256, is = 0, m = 1;
    for (let h = 0; h < 2; h++) {
      const q = o + 32 + 32 * h; // low 2 bits; the third bit is hmask[l] & m (hmask at o, 32 bytes)
      for (let shift = 0; shift < 8; shift += 2, m <<= 1) {
        for (let g = 0; g < 2; g++) {
          const dl = fr(d * sc[is++]);
          for (let l = 16 * g; l < 16 * g + 16; l++) y[e++] = dl * (((b[q + l] >> shift) & 3) - (b[o + l] & m ? 0 : 4));
        }
      }
    }
  }
}

/** Q4_K (fifth = false) and Q5_K: 4 chunks of 64 values: 32 low nibbles (+16 if a qh bit), 32 high nibbles. */
function dequantQ45K(b: Uint8Array, y: Float32Array, nb: number, fifth: boolean): void {
  const lut = f16Table();
  const bytes = fifth ? 176 : 144, qs0 = fifth ? 48 : 16;
  for (let i = 0, o = 0; i < nb; i++, o += bytes) {
    const d = f16At(lut, b, o), dmin = f16At(lut, b, o + 2);
    let e = i * 256;
    for (let c = 0; c < 4; c++) {
      const q = o + qs0 + 32 * c;
      for (let half = 0; half < 2; half++) {
        const [sc, mn] = scaleMinK4(b, o + 4, 2 * c + half);
        const d1 = fr(d * sc), m1 = fr(dmin * mn);
        const bit = 2 * c + half, shift = 4 * half;
        for (let l = 0; l < 32; l++) {
          const hi = fifth && (b[o + 16 + l] >> bit) & 1 ? 16 : 0;
          y[e++] = fr(d1 * (((b[q + l] >> shift) & 15) + hi)) - m1;
        }
      }
    }
  }
}
export const dequantQ4_K = (b: Uint8Array, y: Float32Array, nb: number) => dequantQ45K(b, y, nb, false);
export const dequantQ5_K = (b: Uint8Array, y: Float32Array, nb: number) => dequantQ45K(b, y, nb, true);

export function dequantQ6_K(b: Uint8Array, y: Float32Array, nb: number): void {
  const lut = f16Table();
  for (let i = 0, o = 0; i < nb; i++, o += 210) {
    const d = f16At(lut, b, o + 208);
    for (let h = 0; h < 2; h++) {
      const ql = o + 64 * h, qh = o + 128 + 32 * h, sc = o + 192 + 8 * h, e = i * 256 + 128 * h;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4, hb = b[qh + l];
        const q1 = ((b[ql + l] & 15) | ((hb & 3) << 4)) - 32;
        const q2 = ((b[ql + l + 32] & 15) | (((hb >> 2) & 3) << 4)) - 32;
        const q3 = ((b[ql + l] >> 4) | (((hb >> 4) & 3) << 4)) - 32;
        const q4 = ((b[ql + l + 32] >> 4) | (((hb >> 6) & 3) << 4)) - 32;
        const s = (k: number) => fr(d * ((b[sc + is + k] << 24) >> 24)); // int8 scale
        y[e + l] = s(0) * q1;
        y[e + l + 32] = s(2) * q2;
        y[e + l + 64] = s(4) * q3;
        y[e + l + 96] = s(6) * q4;
      }
    }
  }
}

export function dequantIQ4_XS(b: Uint8Array, y: Float32Array, nb: number): void {
  const lut = f16Table();
  for (let i = 0, o = 0; i < nb; i++, o += 136) {
    const d = f16At(lut, b, o), scalesH = b[o + 2] | (b[o + 3] << 8);
    for (let ib = 0; ib < 8; ib++) {
      const ls = ((b[o + 4 + (ib >> 1)] >> (4 * (ib & 1))) & 15) | (((scalesH >> (2 * ib)) & 3) << 4);
      const dl = fr(d * (ls - 32)), q = o + 8 + 16 * ib, e = i * 256 + 32 * ib;
      for (let j = 0; j < 16; j++) {
        y[e + j] = dl * IQ4NL_VALUES[b[q + j] & 15];
        y[e + j + 16] = dl * IQ4NL_VALUES[b[q + j] >> 4];
      }
    }
  }
}
