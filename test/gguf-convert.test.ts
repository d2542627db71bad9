/**
 * CPU conversion of GGUF tensor bytes: f16/bf16 scalars on every bit pattern, dequantization of the
 * derived stories260K files against the F32 original, the packed GPU layouts unpacked by hand, and
 * the quantizers against the files' bytes.
 */
import { describe, expect, it } from 'vitest';
import {
  bf16ToF32, f16ToF32, f32ToBF16Bits, f32ToF16Bits, q4_0ToPacked, q8_0ToPacked, quantizeQ8G32, toF16Packed, toF32, toQ8Packed,
  type Q4Packed, type Q8Packed, type TensorDesc,
} from '../src/gguf/convert.ts';
import { readTensorBytes, type GGUFFile, type TensorInfo } from '../src/gguf/reader.ts';
import { encodeTensorData } from '../src/gguf/writer.ts';
import { expectEmberError } from './helpers/errors.ts';
import { openShared } from './helpers/models.ts';
import { createRng } from './helpers/rng.ts';

// ---- reference scalar decoders, written differently from the library's -------------------------

const refBuf = new Float32Array(1);
const refBits = new Uint32Array(refBuf.buffer);
/** f16 -> f32 by building the f32 bit pattern (subnormals normalized by shifting). */
function refF16(h: number): number {
  const sign = (h & 0x8000) << 16;
  let exp = (h >> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) refBits[0] = sign | 0x7f800000 | (mant << 13);
  else if (exp === 0 && mant === 0) refBits[0] = sign;
  else {
    if (exp === 0) {
      exp = 1;
      while (!(mant & 0x400)) { mant <<= 1; exp--; }
      mant &= 0x3ff;
    }
    refBits[0] = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  return refBuf[0];
}
const f32FromBits = (b: number) => { refBits[0] = b >>> 0; return refBuf[0]; };

describe('f16 and bf16 scalars', () => {
  it('f16ToF32 matches the reference on all 65536 bit patterns', () => {
    for (let h = 0; h < 65536; h++) {
      const got = f16ToF32(h);
      const want = refF16(h);
      if (Number.isNaN(want)) expect(Number.isNaN(got), `h=${h}`).toBe(true);
      else if (!Object.is(got, want)) expect(got, `h=0x${h.toString(16)}`).toBe(want);
    }
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
  });

  it('f32ToF16Bits inverts f16ToF32 on every non-NaN pattern and keeps NaN a NaN', () => {
    for (let h = 0; h < 65536; h++) {
      const isNaN16 = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      const back = f32ToF16Bits(f16ToF32(h));
      if (isNaN16) expect((back & 0x7c00) === 0x7c00 && (back & 0x3ff) !== 0, `h=${h}`).toBe(true);
      else if (back !== h) expect(back, `h=0x${h.toString(16)}`).toBe(h);
    }
    const nan = f32ToF16Bits(NaN);
    expect(nan & 0x7c00).toBe(0x7c00);
    expect(nan & 0x3ff).not.toBe(0);
    expect(f32ToF16Bits(f32FromBits(0xff800001)) & 0x8000).toBe(0x8000); // sign of a NaN kept
  });

  it.each([
    [1, 0x3c00], [-2, 0xc000], [0, 0x0000], [-0, 0x8000], [65504, 0x7bff], [65519.99, 0x7bff], [65520, 0x7c00], [1e6, 0x7c00],
    [-1e6, 0xfc00], [Infinity, 0x7c00], [-Infinity, 0xfc00],
    [1 + 2 ** -11, 0x3c00], // tie, rounds to even (down)
    [1 + 3 * 2 ** -11, 0x3c02], // tie, rounds to even (up)
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
    [2 ** -24, 0x0001], [2 ** -25, 0x0000], // half the smallest subnormal: tie to even (0)
    [2 ** -25 + 2 ** -40, 0x0001], [-(2 ** -26), 0x8000], [1.5 * 2 ** -24, 0x0002], [2.5 * 2 ** -24, 0x0002],
    [1023.5 * 2 ** -24, 0x0400], // largest subnormal + half: tie, carries into the smallest normal
    [2 ** -14, 0x0400], [2 ** -14 - 2 ** -24, 0x03ff], [1e-10, 0], [f32FromBits(0x00000001), 0], // f32 subnormal
    [0.1, 0x2e66], [0.333333, 0x3555], [3.14159, 0x4248],
  ])('f32ToF16Bits(%d) = %i (round to nearest even)', (x, h) => {
    expect(f32ToF16Bits(x)).toBe(h);
  });

  it('f32ToF16Bits picks the nearest f16, ties to even, on 200k random f32 patterns', () => {
    const rng = createRng(7);
    const mag = (m: number) => (m >= 0x7c00 ? 65536 : f16ToF32(m)); // past 65504 the next step is 2^16, as IEEE overflow assumes
    for (let i = 0; i < 200000; i++) {
      // exponents around the f16 range: 2^-27 .. 2^17
      const bits = ((rng.int(2) << 31) | ((100 + rng.int(45)) << 23) | rng.int(1 << 23)) >>> 0;
      const x = f32FromBits(bits);
      const h = f32ToF16Bits(x);
      const ax = Math.abs(x);
      if ((h & 0x8000) !== 0 !== x < 0) throw new Error(`f32ToF16Bits(${x}) = 0x${h.toString(16)} has the wrong sign`);
      const m = h & 0x7fff;
      const d = Math.abs(mag(m) - ax);
      if (m === 0x7c00) {
        if (ax < 65520) throw new Error(`f32ToF16Bits(${x}) overflowed to inf`);
        continue;
      }
      const up = Math.abs(mag(m + 1) - ax);
      const down = m > 0 ? Math.abs(mag(m - 1) - ax) : Infinity;
      if (d > up || d > down || ((d === up || d === down) && m & 1)) throw new Error(`f32ToF16Bits(${x}) = 0x${h.toString(16)} is not the nearest-even f16`);
    }
  });

  it('bf16ToF32 is the upper half of an f32 on all 65536 patterns; f32ToBF16Bits rounds to nearest even', () => {
    for (let h = 0; h < 65536; h++) {
      const want = f32FromBits(h << 16);
      const got = bf16ToF32(h);
      const ok = Number.isNaN(want) ? Number.isNaN(got) : Object.is(got, want) && f32ToBF16Bits(got) === h;
      if (!ok) throw new Error(`bf16 0x${h.toString(16)}: got ${got}, want ${want}`);
    }
    expect(f32ToBF16Bits(f32FromBits(0x3f808000))).toBe(0x3f80); // tie, even down
    expect(f32ToBF16Bits(f32FromBits(0x3f818000))).toBe(0x3f82); // tie, even up
    expect(f32ToBF16Bits(f32FromBits(0x3f808001))).toBe(0x3f81);
    expect(f32ToBF16Bits(f32FromBits(0x7f7fffff))).toBe(0x7f80); // rounds up to inf
    expect(f32ToBF16Bits(NaN) & 0x7f80).toBe(0x7f80);
    expect(f32ToBF16Bits(NaN) & 0x7f).not.toBe(0);
  });
});

// ---- the derived stories260K files ------------------------------------------------------------

interface Loaded { f: GGUFFile; tensors: Array<{ t: TensorInfo; bytes: Uint8Array }> }
async function load(rel: string): Promise<Loaded> {
  const f = await openShared(rel);
  const tensors = await Promise.all([...f.tensors.values()].map(async (t) => ({ t, bytes: await readTensorBytes(f, t) })));
  return { f, tensors };
}
const base = await load('stories260K/stories260K.gguf');
const baseF32 = new Map(base.tensors.map(({ t, bytes }) => [t.name, toF32(t, bytes)]));
const derived = {
  F16: await load('stories260K-derived/stories260K-F16.gguf'),
  Q8_0: await load('stories260K-derived/stories260K-Q8_0.gguf'),
  Q4_0: await load('stories260K-derived/stories260K-Q4_0.gguf'),
};
const ofType = (l: Loaded, type: string) => l.tensors.filter(({ t }) => t.type === type);

/** Block scale d of block b, decoded independently of the library (DataView + reference f16). */
const blockD = (bytes: Uint8Array, blockBytes: number, b: number) => refF16(new DataView(bytes.buffer, bytes.byteOffset).getUint16(b * blockBytes, true));

describe('toF32 on the stories260K files', () => {
  it('F32 is the file bytes as floats (also from an unaligned sub-array)', () => {
    const { t, bytes } = base.tensors[0];
    const x = toF32(t, bytes);
    expect(x.length).toBe(t.numel);
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    for (let i = 0; i < x.length; i += 97) expect(x[i]).toBe(dv.getFloat32(i * 4, true));
    const shifted = new Uint8Array(bytes.byteLength + 1);
    shifted.set(bytes, 1);
    expect(toF32(t, shifted.subarray(1))).toEqual(x);
  });

  it('F16 file = the F32 original rounded to nearest-even f16, exactly', () => {
    const list = ofType(derived.F16, 'F16');
    expect(list.length).toBe(37); // token_embd, output and 7 weights in each of 5 layers
    for (const { t, bytes } of list) {
      const got = toF32(t, bytes);
      const orig = baseF32.get(t.name)!;
      for (let i = 0; i < got.length; i++) if (got[i] !== f16ToF32(f32ToF16Bits(orig[i]))) throw new Error(`${t.name}[${i}]: ${got[i]} vs ${orig[i]}`);
    }
  });

  it.each([['Q8_0', 34, 0.5], ['Q4_0', 18, 1]] as const)('%s dequantizes to within a quantization step of the F32 original', (type, blockBytes, steps) => {
    const list = ofType(derived[type], type);
    expect(list.length).toBe(32); // all 37 2-D weights except the five ffn_down (ne0 = 172)
    for (const { t, bytes } of list) {
      const got = toF32(t, bytes);
      const orig = baseF32.get(t.name)!;
      expect(got.length).toBe(orig.length);
      let worst = 0;
      for (let b = 0; b < got.length / 32; b++) {
        // Q8_0: |err| <= d/2. Q4_0: the side opposite the max can reach +8 steps but is clamped at 7, so |err| <= d.
        // Plus the f16 rounding of d itself (relative 2^-11) times up to 8 or 127 codes.
        const d = Math.abs(blockD(bytes, blockBytes, b));
        const tol = d * steps + d * (type === 'Q8_0' ? 127 : 8) * 2 ** -11 + 1e-12;
        for (let j = 0; j < 32; j++) {
          const e = Math.abs(got[b * 32 + j] - orig[b * 32 + j]);
          worst = Math.max(worst, e / (d || 1));
          if (e > tol) throw new Error(`${t.name}[${b * 32 + j}]: ${got[b * 32 + j]} vs ${orig[b * 32 + j]} (d=${d})`);
        }
      }
      expect(worst).toBeGreaterThan(0); // the comparison is not vacuous
    }
  });

  it.each([['Q8_0', 34], ['Q4_0', 18]] as const)('%s dequantization equals x = d*q decoded by hand', (type, blockBytes) => {
    for (const { t, bytes } of ofType(derived[type], type).slice(0, 6)) {
      const got = toF32(t, bytes);
      for (let b = 0; b < got.length / 32; b++) {
        const d = blockD(bytes, blockBytes, b);
        for (let j = 0; j < 32; j++) {
          let q: number;
          if (type === 'Q8_0') { q = bytes[b * 34 + 2 + j]; if (q > 127) q -= 256; } else {
            const byte = bytes[b * 18 + 2 + (j % 16)];
            q = (j < 16 ? byte % 16 : Math.floor(byte / 16)) - 8;
          }
          if (got[b * 32 + j] !== Math.fround(d * q)) throw new Error(`${t.name} block ${b} elt ${j}`);
        }
      }
    }
  });

  it.each([['F16'], ['Q8_0'], ['Q4_0']] as const)('re-encoding the F32 original as %s gives the derived file bytes exactly', (type) => {
    let n = 0;
    for (const { t, bytes } of ofType(derived[type], type)) {
      const mine = encodeTensorData(type, baseF32.get(t.name)!);
      expect(Buffer.compare(mine, bytes), t.name).toBe(0);
      n++;
    }
    expect(n).toBeGreaterThan(30);
  });
});

// ---- packed layouts, unpacked by hand -----------------------------------------------------------

/** Q8Packed -> f32 by the documented layout: byte k%4 of word k/4, scale per 32. */
function unpackQ8(p: Q8Packed, rows: number, K: number): Float32Array {
  const out = new Float32Array(rows * K);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < K; k++) {
      const word = p.q[(r * K + k) >> 2];
      const code = (word << (24 - 8 * (k & 3))) >> 24; // sign-extend byte k%4
      out[r * K + k] = p.scales[r * (K / 32) + (k >> 5)] * code;
    }
  }
  return out;
}

/** Q4Packed -> f32 by the documented layout: block word w, byte b: low nibble = 4w+b, high = 16+4w+b. */
function unpackQ4(p: Q4Packed, rows: number, K: number): Float32Array {
  const out = new Float32Array(rows * K);
  for (let r = 0; r < rows; r++) {
    for (let blk = 0; blk < K / 32; blk++) {
      const scale = p.scales[r * (K / 32) + blk];
      for (let w = 0; w < 4; w++) {
        const word = p.q[(r * K) / 8 + blk * 4 + w];
        const lo = word & 0x0f0f0f0f;
        const hi = (word >>> 4) & 0x0f0f0f0f;
        for (let b = 0; b < 4; b++) {
          out[r * K + blk * 32 + 4 * w + b] = scale * (((lo >>> (8 * b)) & 0xff) - 8);
          out[r * K + blk * 32 + 16 + 4 * w + b] = scale * (((hi >>> (8 * b)) & 0xff) - 8);
        }
      }
    }
  }
  return out;
}

describe('packed GPU layouts', () => {
  it('q8_0ToPacked unpacks to exactly toF32, for every Q8_0 tensor', () => {
    for (const { t, bytes } of ofType(derived.Q8_0, 'Q8_0')) {
      const K = t.ne[0];
      const rows = t.numel / K;
      const p = q8_0ToPacked(t, bytes);
      expect(p.q.length).toBe((rows * K) / 4);
      expect(p.scales.length).toBe((rows * K) / 32);
      expect(unpackQ8(p, rows, K)).toEqual(toF32(t, bytes));
    }
  });

  it('q4_0ToPacked unpacks to exactly toF32, for every Q4_0 tensor', () => {
    for (const { t, bytes } of ofType(derived.Q4_0, 'Q4_0')) {
      const K = t.ne[0];
      const rows = t.numel / K;
      const p = q4_0ToPacked(t, bytes);
      expect(p.q.length).toBe((rows * K) / 8);
      expect(p.scales.length).toBe((rows * K) / 32);
      expect(unpackQ4(p, rows, K)).toEqual(toF32(t, bytes));
    }
  });

  it('q8_0ToPacked and q4_0ToPacked take bytes at an odd offset (a copy) the same as aligned ones', () => {
    for (const [file, type, conv] of [[derived.Q8_0, 'Q8_0', q8_0ToPacked], [derived.Q4_0, 'Q4_0', q4_0ToPacked]] as const) {
      const { t, bytes } = ofType(file, type)[0];
      const shifted = new Uint8Array(bytes.byteLength + 1);
      shifted.set(bytes, 1);
      const odd = shifted.subarray(1);
      expect(odd.byteOffset % 2).toBe(1);
      const a = conv(t, bytes), b = conv(t, odd);
      expect(b.q).toEqual(a.q);
      expect(b.scales).toEqual(a.scales);
    }
  });

  it('toQ8Packed of F32, F16 and BF16 (a chunk of rows at a time through one scratch) equals quantizeQ8G32 of the whole tensor', () => {
    const [K, rows] = [4096, 300]; // 1.2M values: chunks of 256 rows and 44
    const r = createRng(5);
    const f = Float32Array.from({ length: rows * K }, () => (r.next() - 0.5) * (r.next() < 0.01 ? 40 : 1));
    const bytesOf: Record<string, () => Uint8Array> = {
      F32: () => new Uint8Array(f.buffer.slice(0)),
      F16: () => new Uint8Array(Uint16Array.from(f, f32ToF16Bits).buffer),
      BF16: () => new Uint8Array(Uint16Array.from(f, f32ToBF16Bits).buffer),
    };
    for (const type of ['F32', 'F16', 'BF16']) {
      const t = { name: `w.${type}`, ne: [K, rows], type };
      const bytes = bytesOf[type]();
      const whole = quantizeQ8G32(toF32(t, bytes), rows, K);
      const chunked = toQ8Packed(t, bytes);
      expect(chunked.q, type).toEqual(whole.q);
      expect(chunked.scales, type).toEqual(whole.scales);
    }
  });

  it('toF16Packed: F16 bits two per u32 (element 2i low), F32 input rounded to nearest even', () => {
    for (const { t, bytes } of ofType(derived.F16, 'F16').slice(0, 8)) {
      const p = toF16Packed(t, bytes);
      expect(p.length).toBe(t.numel / 2);
      const x = toF32(t, bytes);
      for (let i = 0; i < p.length; i++) {
        if (f16ToF32(p[i] & 0xffff) !== x[2 * i] || f16ToF32(p[i] >>> 16) !== x[2 * i + 1]) throw new Error(`${t.name} word ${i}`);
      }
      const fromF32 = toF16Packed(base.f.tensors.get(t.name)!, base.tensors.find((e) => e.t.name === t.name)!.bytes);
      expect(fromF32).toEqual(p);
    }
  });

  it('quantizeQ8G32 of the F32 original equals the Q8_0 file, codes and scales', () => {
    for (const { t, bytes } of ofType(derived.Q8_0, 'Q8_0')) {
      const K = t.ne[0];
      const mine = quantizeQ8G32(baseF32.get(t.name)!, t.numel / K, K);
      const file = q8_0ToPacked(t, bytes);
      expect(mine.q).toEqual(file.q);
      expect(mine.scales).toEqual(file.scales);
      const viaF32 = toQ8Packed(base.f.tensors.get(t.name)!, base.tensors.find((e) => e.t.name === t.name)!.bytes);
      expect(viaF32.q).toEqual(file.q);
    }
  });

  it('quantizeQ8G32: roundf halves away from zero, zero blocks, awkward row counts', () => {
    const w = new Float32Array(3 * 64);
    w[0] = 127; // amax 127 -> d = 1 exactly
    w[1] = 2.5;
    w[2] = -2.5;
    w[3] = 0.5;
    w[4] = -0.5;
    w[5] = -127;
    // block 1 (row 0, second half) stays zero
    const rng = createRng(3);
    for (let i = 64; i < w.length; i++) w[i] = rng.normal(0, 0.05);
    const p = quantizeQ8G32(w, 3, 64);
    const codes = new Int8Array(p.q.buffer);
    expect([...codes.slice(0, 6)]).toEqual([127, 3, -3, 1, -1, -127]);
    expect(p.scales[0]).toBe(1);
    expect(p.scales[1]).toBe(0);
    expect([...codes.slice(32, 64)].every((c) => c === 0)).toBe(true);
    const back = unpackQ8(p, 3, 64);
    for (let i = 64; i < w.length; i++) expect(Math.abs(back[i] - w[i])).toBeLessThanOrEqual(p.scales[i >> 5] * 0.51);
  });
});

describe('conversion errors name the tensor and the problem', () => {
  const t: TensorDesc = { name: 'blk.3.attn_q.weight', ne: [64, 4], type: 'Q8_0' };
  it('wrong byte count', async () => {
    await expectEmberError(() => toF32(t, new Uint8Array(33 * 8)), 'BAD_FILE', /blk\.3\.attn_q\.weight \(Q8_0, ne=\[64, 4\]\): expected 272 bytes, got 264/);
    await expectEmberError(() => q4_0ToPacked({ ...t, type: 'Q4_0' }, new Uint8Array(10)), 'BAD_FILE', /blk\.3\.attn_q\.weight .* expected 144 bytes, got 10/);
  });
  it('unsupported type', async () => {
    await expectEmberError(() => toF32({ ...t, type: 'Q4_1' as never }, new Uint8Array(0)), 'UNSUPPORTED', /blk\.3\.attn_q\.weight: toF32 does not take type Q4_1/);
    await expectEmberError(() => q8_0ToPacked({ ...t, type: 'F32' }, new Uint8Array(1024)), 'UNSUPPORTED', /blk\.3\.attn_q\.weight: q8_0ToPacked does not take type F32 \(supported: Q8_0\)/);
    await expectEmberError(() => toF16Packed(t, new Uint8Array(272)), 'UNSUPPORTED', /toF16Packed does not take type Q8_0/);
  });
  it('odd row length for f16 packing', async () => {
    await expectEmberError(() => toF16Packed({ name: 'norm', ne: [7], type: 'F16' }, new Uint8Array(14)), 'BAD_MODEL', /tensor norm: rows of 7 elements cannot be packed two f16 per u32/);
  });
  it('row length not a multiple of the block', async () => {
    await expectEmberError(() => toF32({ name: 'w', ne: [48, 2], type: 'Q4_0' }, new Uint8Array(54)), 'BAD_MODEL', /tensor w \(Q4_0\): rows of 48 elements are not a multiple of the block size 32/);
    await expectEmberError(() => quantizeQ8G32(new Float32Array(96), 2, 48), 'BAD_ARGUMENT', /K must be a non-negative multiple of 32.*K=48/);
    await expectEmberError(() => quantizeQ8G32(new Float32Array(10), 1, 32), 'BAD_ARGUMENT', /needs 32 weights, got 10/);
    await expectEmberError(() => toQ8Packed({ name: 'blk.0.ffn_down.weight', ne: [172, 64], type: 'F32' }, new Uint8Array(172 * 64 * 4)), 'BAD_MODEL', /blk\.0\.ffn_down\.weight: rows of 172/);
  });
});
