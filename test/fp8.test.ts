/**
 * The FP8 codec against the OCP OFP8 definitions, written out here independently of src/quant/fp8.ts:
 * all 256 codes of both formats, encode(decode(c)) == c, every rounding tie, saturation, and the
 * quantizers' error bounds and packing.
 */
import { describe, expect, it } from 'vitest';
import {
  FP8_MAX,
  dequantizeFp8,
  dequantizeFp8Blocks,
  f32ToFp8,
  f32ToFp8e4m3,
  f32ToFp8e5m2,
  fp8e4m3ToF32,
  fp8e5m2ToF32,
  quantizeFp8,
  quantizeFp8Blocks,
  hasE4m3Nan,
  type Fp8Format,
} from '../src/quant/fp8.ts';
import { expectEmberError } from './helpers/errors.ts';
import { createRng } from './helpers/rng.ts';

interface Spec { eBits: number; mBits: number; bias: number; ieeeSpecials: boolean }
const SPEC: Record<Fp8Format, Spec> = {
  e4m3: { eBits: 4, mBits: 3, bias: 7, ieeeSpecials: false },
  e5m2: { eBits: 5, mBits: 2, bias: 15, ieeeSpecials: true },
};

/** OCP OFP8 §4: value = (-1)^S * 2^(E-bias) * (1 + M/2^m) for E > 0, (-1)^S * 2^(1-bias) * (M/2^m) for E = 0. */
function specDecode(code: number, f: Fp8Format): number {
  const { eBits, mBits, bias, ieeeSpecials } = SPEC[f];
  const S = (code >> 7) & 1;
  const E = (code >> mBits) & ((1 << eBits) - 1);
  const M = code & ((1 << mBits) - 1);
  const sign = S ? -1 : 1;
  const eMax = (1 << eBits) - 1;
  if (ieeeSpecials && E === eMax) return M === 0 ? sign * Infinity : NaN; // E5M2: S.11111.00 = Inf, else NaN
  if (!ieeeSpecials && E === eMax && M === (1 << mBits) - 1) return NaN; // E4M3: only S.1111.111 is NaN
  if (E === 0) return sign * 2 ** (1 - bias) * (M / 2 ** mBits);
  return sign * 2 ** (E - bias) * (1 + M / 2 ** mBits);
}

const decode = (c: number, f: Fp8Format) => (f === 'e4m3' ? fp8e4m3ToF32(c) : fp8e5m2ToF32(c));
const encode = (x: number, f: Fp8Format) => (f === 'e4m3' ? f32ToFp8e4m3(x) : f32ToFp8e5m2(x));
const isNanCode = (c: number, f: Fp8Format) => Number.isNaN(specDecode(c, f));

/** Positive finite codes in increasing order of value (code order is value order for positive codes). */
function positiveFinite(f: Fp8Format): number[] {
  const out: number[] = [];
  for (let c = 0; c < 0x80; c++) if (Number.isFinite(specDecode(c, f))) out.push(c);
  return out;
}

/** Reference rounding by search: the nearest finite value, ties to the even code; beyond max saturates. */
function nearestCode(x: number, f: Fp8Format): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x80 : 0;
  const a = Math.abs(x);
  let best = 0;
  for (const c of positiveFinite(f)) {
    const d = Math.abs(specDecode(c, f) - a), bd = Math.abs(specDecode(best, f) - a);
    if (d < bd || (d === bd && (c & 1) === 0)) best = c;
  }
  return sign | best;
}

describe.each(['e4m3', 'e5m2'] as const)('FP8 %s codec', (f) => {
  const max = FP8_MAX[f];
  const { mBits, bias } = SPEC[f];
  const minSub = 2 ** (1 - bias - mBits);

  it('decodes all 256 codes to the values the OCP spec defines', () => {
    for (let c = 0; c < 256; c++) {
      const want = specDecode(c, f);
      const got = decode(c, f);
      if (Number.isNaN(want)) expect(got, `code 0x${c.toString(16)}`).toBeNaN();
      else expect(Object.is(got, want), `code 0x${c.toString(16)}: ${got} vs ${want}`).toBe(true);
    }
    const nans = Array.from({ length: 256 }, (_, c) => c).filter((c) => isNanCode(c, f));
    expect(nans.length).toBe(f === 'e4m3' ? 2 : 6);
  });

  it('has the documented constants', () => {
    if (f === 'e4m3') {
      expect([decode(0x7e, f), decode(0x01, f), decode(0x08, f), decode(0x38, f), decode(0x07, f)]).toEqual([448, 2 ** -9, 2 ** -6, 1, 7 * 2 ** -9]);
      expect(decode(0x7f, f)).toBeNaN();
      expect(decode(0xff, f)).toBeNaN();
      expect(decode(0x78, f)).toBe(256); // S.1111.000 is a normal number in E4M3FN
    } else {
      expect([decode(0x7b, f), decode(0x01, f), decode(0x04, f), decode(0x3c, f), decode(0x7c, f), decode(0xfc, f)]).toEqual([57344, 2 ** -16, 2 ** -14, 1, Infinity, -Infinity]);
      for (const c of [0x7d, 0x7e, 0x7f, 0xfd, 0xfe, 0xff]) expect(decode(c, f)).toBeNaN();
    }
  });

  it('encodes every non-NaN code back to itself (±0 included)', () => {
    for (let c = 0; c < 256; c++) {
      if (isNanCode(c, f)) continue;
      expect(encode(decode(c, f), f), `code 0x${c.toString(16)}`).toBe(c);
    }
    expect(encode(0, f)).toBe(0x00);
    expect(encode(-0, f)).toBe(0x80);
  });

  it('keeps NaN a NaN', () => {
    expect(decode(encode(NaN, f), f)).toBeNaN();
    expect(decode(encode(-NaN, f), f)).toBeNaN();
  });

  it('saturates past ±max, and maps ±Inf as the format allows', () => {
    expect(decode(encode(max, f), f)).toBe(max);
    expect(decode(encode(-max, f), f)).toBe(-max);
    const ulpAtMax = 2 ** (Math.floor(Math.log2(max)) - mBits);
    for (const x of [max + 1, max + ulpAtMax / 2, max + ulpAtMax, 1e30, 3.5e38, 1e300]) {
      expect(decode(encode(x, f), f), `${x}`).toBe(max);
      expect(decode(encode(-x, f), f), `${-x}`).toBe(-max);
    }
    if (f === 'e4m3') {
      expect(decode(encode(Infinity, f), f)).toBe(448);
      expect(decode(encode(-Infinity, f), f)).toBe(-448);
    } else {
      expect(encode(Infinity, f)).toBe(0x7c);
      expect(encode(-Infinity, f)).toBe(0xfc);
    }
  });

  it('rounds the subnormal edge: half the smallest subnormal is a tie that goes to 0', () => {
    expect(encode(minSub, f)).toBe(0x01);
    expect(encode(-minSub, f)).toBe(0x81);
    expect(encode(minSub / 2, f)).toBe(0x00); // tie between 0 (even) and 1
    expect(encode(-minSub / 2, f)).toBe(0x80);
    expect(encode(minSub / 2 + minSub / 64, f)).toBe(0x01);
    expect(encode(minSub / 4, f)).toBe(0x00);
    expect(encode(1e-30, f)).toBe(0x00);
    expect(encode(1e-45, f)).toBe(0x00); // an f32 subnormal
    expect(encode(1.5 * minSub, f)).toBe(0x02); // tie between 1 and 2 -> even
    expect(encode(2.5 * minSub, f)).toBe(0x02); // tie between 2 and 3 -> even
  });

  it('sends every tie between adjacent codes to the even code, and every non-tie to the nearer one', () => {
    const codes = positiveFinite(f);
    for (let i = 0; i + 1 < codes.length; i++) {
      const lo = codes[i], hi = codes[i + 1];
      const a = specDecode(lo, f), b = specDecode(hi, f);
      const mid = (a + b) / 2;
      const even = lo % 2 === 0 ? lo : hi;
      expect(encode(mid, f), `tie ${a}|${b}`).toBe(even);
      expect(encode(-mid, f), `tie -${a}|-${b}`).toBe(0x80 | even);
      const eps = (b - a) / 1024;
      expect(encode(mid - eps, f)).toBe(lo);
      expect(encode(mid + eps, f)).toBe(hi);
    }
  });

  it('matches rounding by search on random values over the whole range', () => {
    const rng = createRng(7);
    for (let i = 0; i < 4000; i++) {
      const x = (rng.next() < 0.5 ? -1 : 1) * 2 ** rng.uniform(Math.log2(minSub) - 2, Math.log2(max) + 1);
      const xf = Math.fround(x);
      expect(encode(xf, f), `${xf}`).toBe(nearestCode(xf, f));
      expect(f32ToFp8(xf, f)).toBe(encode(xf, f));
    }
  });
});

describe('quantizeFp8 (packed 4 per u32, per-row or per-group scales)', () => {
  it('packs element 4i in the low byte and computes scale = amax / FP8_MAX', () => {
    const w = Float32Array.from([448, -1, 0.5, 2, 0, 0, 0, -448]);
    const p = quantizeFp8(w, 1, 8, 'e4m3', 8);
    expect(p.scales).toEqual(Float32Array.of(1));
    expect(p.q.length).toBe(2);
    expect(p.q[0] & 0xff).toBe(f32ToFp8e4m3(448));
    expect((p.q[0] >>> 8) & 0xff).toBe(f32ToFp8e4m3(-1));
    expect((p.q[0] >>> 16) & 0xff).toBe(f32ToFp8e4m3(0.5));
    expect(p.q[0] >>> 24).toBe(f32ToFp8e4m3(2));
    expect(p.q[1] >>> 24).toBe(f32ToFp8e4m3(-448));
  });

  it.each([
    ['e4m3', 0], ['e4m3', 32], ['e4m3', 128], ['e5m2', 0], ['e5m2', 32], ['e5m2', 128],
  ] as const)('%s with group %i (0 = per row): dequantized error is within half a step of FP8', (f, g) => {
    const rows = 7, K = 256, groupSize = g || K;
    const rng = createRng(11);
    const w = rng.normals(rows * K, 0.05);
    for (let i = 0; i < 40; i++) w[rng.int(w.length)] *= 30; // outliers
    w.fill(0, 2 * K, 2 * K + groupSize); // an all-zero group
    const p = quantizeFp8(w, rows, K, f, groupSize);
    expect(p.q.length).toBe((rows * K) / 4);
    expect(p.scales.length).toBe((rows * K) / groupSize);
    const d = dequantizeFp8(p, rows, K, f, groupSize);
    const { mBits, bias } = SPEC[f];
    for (let i = 0; i < w.length; i++) {
      const scale = p.scales[Math.floor(i / groupSize)];
      const bound = Math.abs(w[i]) * 2 ** -(mBits + 1) + (scale * 2 ** (1 - bias - mBits)) / 2;
      expect(Math.abs(d[i] - w[i]), `element ${i}`).toBeLessThanOrEqual(bound * (1 + 1e-6) + 1e-30);
    }
    for (let gi = 0; gi < p.scales.length; gi++) {
      let amax = 0;
      for (let j = 0; j < groupSize; j++) amax = Math.max(amax, Math.abs(w[gi * groupSize + j]));
      expect(p.scales[gi]).toBe(Math.fround(amax / FP8_MAX[f]));
    }
    expect(Array.from(d.subarray(2 * K, 2 * K + groupSize)).every((v) => v === 0)).toBe(true);
    expect(p.scales[(2 * K) / groupSize]).toBe(0);
  });

  it('rejects shapes it cannot pack', async () => {
    await expectEmberError(() => quantizeFp8(new Float32Array(6), 1, 6, 'e4m3', 6), 'BAD_ARGUMENT', /multiple of 4/);
    await expectEmberError(() => quantizeFp8(new Float32Array(8), 1, 8, 'e4m3', 3), 'BAD_ARGUMENT', /groupSize/);
    await expectEmberError(() => quantizeFp8(new Float32Array(7), 1, 8, 'e4m3', 8), 'BAD_ARGUMENT', /needs 8 weights/);
  });
});

describe('FP8 block scales (native checkpoint layout)', () => {
  it('round-trips partial 128x128 blocks within FP8 rounding, with one scale per block', () => {
    const rows = 300, cols = 200;
    const w = createRng(3).normals(rows * cols, 0.1);
    const { codes, scales } = quantizeFp8Blocks(w, rows, cols, 128, 128);
    expect(scales.length).toBe(3 * 2);
    const d = dequantizeFp8Blocks(codes, scales, rows, cols, 128, 128);
    const inexact: number[] = [], outOfBound: number[] = [];
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        const s = scales[Math.floor(r / 128) * 2 + Math.floor(c / 128)];
        if (d[i] !== Math.fround(fp8e4m3ToF32(codes[i]) * s)) inexact.push(i); // one f32 product, as a kernel computes it
        if (!(Math.abs(d[i] - w[i]) <= Math.abs(w[i]) / 16 + s * 2 ** -10)) outOfBound.push(i); // half an E4M3 step
      }
    }
    expect([inexact.slice(0, 5), outOfBound.slice(0, 5)]).toEqual([[], []]);
    // the bottom-right block (rows 256..299, cols 128..199) has its own amax
    let amax = 0;
    for (let r = 256; r < rows; r++) for (let c = 128; c < cols; c++) amax = Math.max(amax, Math.abs(w[r * cols + c]));
    expect(scales[5]).toBe(Math.fround(amax / 448));
  });
});

describe('hasE4m3Nan (whether the GPU decoder needs its NaN check)', () => {
  it('finds a NaN code (0x7F, 0xFF) in any byte of any word, and nothing else', () => {
    for (let c = 0; c < 256; c++) {
      const nan = (c & 0x7f) === 0x7f;
      for (let byte = 0; byte < 4; byte++) {
        const words = new Uint32Array([0x7e7e7e7e, 0x00000000, 0xfefefefe]);
        words[1] = (0x7e7e7e7e & ~(0xff << (8 * byte)) | (c << (8 * byte))) >>> 0;
        expect(hasE4m3Nan(words)).toBe(nan);
      }
    }
    expect(hasE4m3Nan(new Uint32Array(0))).toBe(false);
  });
});
