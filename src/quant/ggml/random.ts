import { putF16 } from './quant_32.ts';
import { GGML_TYPES } from './types.ts';

/**
 * Where each type keeps its f16 super-scale `d`, and how its offset is centred: `dmin` = d * ratio for
 * Q2_K/Q4_K/Q5_K (the mean sub-block scale times mean code over the mean min), `m` = -center * d for
 * Q4_1/Q5_1. Signed types get a random sign of d, as ggml's quantizers give d the sign of the block's
 * largest value.
 */
interface ScaleFields {
  d: number; // byte offset of the f16 d
  dmin?: [offset: number, ratio: number];
  m?: [offset: number, center: number];
  signed: boolean;
}
const LAYOUT: Record<string, ScaleFields> = {
  Q4_0: { d: 0, signed: true },
  Q4_1: { d: 0, m: [2, 7.5], signed: false },
  Q5_0: { d: 0, signed: true },
  Q5_1: { d: 0, m: [2, 15.5], signed: false },
  Q8_0: { d: 0, signed: true },
  IQ4_NL: { d: 0, signed: true },
  Q2_K: { d: 80, dmin: [82, 1.5], signed: false },
  Q3_K: { d: 108, signed: true },
  Q4_K: { d: 0, dmin: [2, 7.5], signed: false },
  Q5_K: { d: 0, dmin: [2, 15.5], signed: false },
  Q6_K: { d: 208, signed: true },
  IQ4_XS: { d: 0, signed: true },
};

export const RANDOM_BLOCK_TYPES: readonly string[] = ['F32', 'F16', 'BF16', ...Object.keys(LAYOUT)];

/** Fills `out` with blocks of random bytes whose scale fields are set from `d(block)`. */
function fill(type: string, out: Uint8Array, rand: () => number, d: (block: number) => number): void {
  const L = LAYOUT[type], bytes = GGML_TYPES[type].blockBytes;
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(rand() * 256);
  for (let b = 0, o = 0; o < out.length; b++, o += bytes) {
    const db = d(b);
    putF16(out, o + L.d, db);
    if (L.dmin) putF16(out, o + L.dmin[0], db * L.dmin[1]);
    if (L.m) putF16(out, o + L.m[0], -L.m[1] * db);
  }
}

const unitStd = new Map<string, number>();
/** The std of a type's values when every block has d = 1 (measured once on 64 blocks). */
function stdAtUnitScale(type: string, dequantize: (t: string, b: Uint8Array, n: number) => Float32Array): number {
  let s = unitStd.get(type);
  if (s === undefined) {
    const t = GGML_TYPES[type], blocks = 64;
    let seed = 12345;
    const lcg = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);
    const bytes = new Uint8Array(blocks * t.blockBytes);
    fill(type, bytes, lcg, () => 1);
    const v = dequantize(type, bytes, blocks * t.blockElems);
    let sum = 0, sum2 = 0;
    for (const x of v) [sum, sum2] = [sum + x, sum2 + x * x];
    s = Math.sqrt(sum2 / v.length - (sum / v.length) ** 2);
    unitStd.set(type, s);
  }
  return s;
}

/**
 * `count` values (a whole number of blocks) of valid random blocks: random codes and sub-block scales,
 * d per block = ±std / (std at d = 1) * exp(U(-0.2, 0.2)) so the values have a std of about `std`.
 */
export function randomBlocks(type: string, count: number, rand: () => number, std: number,
  dequantize: (t: string, b: Uint8Array, n: number) => Float32Array): Uint8Array {
  const t = GGML_TYPES[type];
  const out = new Uint8Array((count / t.blockElems) * t.blockBytes);
  const scale = std / stdAtUnitScale(type, dequantize);
  fill(type, out, rand, () => (LAYOUT[type].signed && rand() < 0.5 ? -1 : 1) * scale * Math.exp(0.4 * rand() - 0.2));
  return out;
}
