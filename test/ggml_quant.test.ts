/**
 * ggml's block formats on the CPU (src/quant/ggml): hand-built blocks with known values, byte-for-byte
 * agreement with ggml's own C (test/fixtures/ggml/ggml_ref.json from ggml-quants.c, see its
 * make_fixture.mjs), every quantized tensor of the shared kquants files against ggml_dequant.py
 * (tensors.json), quantize -> dequantize error bounds, and valid random blocks.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readTensorBytes } from '../src/gguf/reader.ts';
import {
  GGML_DEQUANT_TYPES, GGML_QUANT_TYPES, GGML_RANDOM_TYPES, GGML_TYPES, ggmlDequantize, ggmlQuantize, ggmlRandomBlocks, ggmlTypeById,
} from '../src/quant/ggml/index.ts';
import { mulberry32 } from '../src/util/rng.ts';
import { expectEmberError } from './helpers/errors.ts';
import { openShared } from './helpers/models.ts';

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`./fixtures/ggml/${name}`, import.meta.url), 'utf8'));
const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const sha256 = (a: Float32Array) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');

/** One block of `type` with the given bytes set (everything else zero). */
function block(type: string, set: Record<number, number>): Uint8Array {
  const b = new Uint8Array(GGML_TYPES[type].blockBytes);
  for (const [o, v] of Object.entries(set)) b[Number(o)] = v;
  return b;
}
const one = (type: string, set: Record<number, number>) => ggmlDequantize(type, block(type, set), GGML_TYPES[type].blockElems);

describe('GGML_TYPES', () => {
  it('lists every ggml type id with its block geometry', () => {
    const ids = Object.values(GGML_TYPES).map((t) => t.id).sort((a, b) => a - b);
    expect(ids).toEqual([0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 34, 35, 39, 40, 41, 42]);
    const geometry = (n: string) => [GGML_TYPES[n].blockElems, GGML_TYPES[n].blockBytes];
    expect(['Q4_1', 'Q5_0', 'Q5_1', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'IQ4_NL', 'IQ4_XS'].map(geometry)).toEqual([
      [32, 20], [32, 22], [32, 24], [256, 84], [256, 110], [256, 144], [256, 176], [256, 210], [32, 18], [256, 136],
    ]);
    expect(ggmlTypeById(12)?.name).toBe('Q4_K');
    expect(ggmlTypeById(4)).toBeUndefined(); // Q4_2, removed from ggml
  });
});

describe('ggmlDequantize: hand-built blocks', () => {
  // f16: 0x3C00 = 1, 0x3800 = 0.5, 0x3400 = 0.25, 0x4000 = 2, 0xBC00 = -1
  it('Q4_0: d*(q - 8), element j low nibble of byte j, j+16 its high nibble', () => {
    const y = one('Q4_0', { 1: 0x38, 2: 0x1f });
    expect([y[0], y[16], y[1]]).toEqual([3.5, -3.5, -4]);
  });
  it('Q4_1: d*q + m', () => {
    const y = one('Q4_1', { 1: 0x34, 3: 0xbc, 7: 0xa5 });
    expect([y[3], y[19], y[0]]).toEqual([0.25, 1.5, -1]);
  });
  it('Q5_0: d*(q - 16), bit j of qh is element j\'s fifth bit', () => {
    const y = one('Q5_0', { 1: 0x3c, 2: 0x04, 4: 0x04, 8: 0x31 }); // qh bits 2 and 18
    expect([y[2], y[18], y[0]]).toEqual([1, 3, -16]);
  });
  it('Q5_1: d*q + m, qh bit 31 for element 31', () => {
    const y = one('Q5_1', { 1: 0x38, 3: 0x40, 7: 0x80, 23: 0xf0 });
    expect([y[15], y[31], y[0]]).toEqual([2, 17.5, 2]);
  });
  it('Q8_0: d*int8', () => {
    expect(one('Q8_0', { 1: 0x40, 7: 0xfd })[5]).toBe(-6);
  });
  it('IQ4_NL: d*kvalues[q]', () => {
    const y = one('IQ4_NL', { 1: 0x38, 2: 0x0f });
    expect([y[0], y[16]]).toEqual([56.5, -63.5]);
  });
  it('Q2_K: d*(sc & 15)*q - dmin*(sc >> 4), 16-value sub-blocks', () => {
    const y = one('Q2_K', { 9: 0x35, 70: 0x02, 81: 0x38, 83: 0x34 });
    expect(y[150]).toBe(0.5 * 5 * 2 - 0.25 * 3);
    expect(y[151]).toBe(-0.75);
  });
  it('Q3_K: d*(scale - 32)*(q - 4 unless the hmask bit), 6-bit scales split over 12 bytes', () => {
    const y = one('Q3_K', { 97: 0x70, 105: 0x20, 86: 0x01, 109: 0x38 });
    expect(y[150]).toBe(0.5 * 7 * -3);
    const z = one('Q3_K', { 97: 0x70, 105: 0x20, 86: 0x01, 109: 0x38, 22: 0x10 });
    expect(z[150]).toBe(0.5 * 7 * 1);
  });
  it('Q4_K: d*sc*q - dmin*m, sub-blocks 4..7 take their scales\' high 2 bits from bytes 0..7', () => {
    const y = one('Q4_K', { 1: 0x3c, 3: 0x38, 5: 0xc2, 9: 0x41, 13: 0x73, 16: 0x40, [16 + 64 + 3]: 0x90 });
    expect(y[32]).toBe(2 * 4 - 0.5 * 1); // sub-block 1: sc = 2, m = 1
    expect(y[163]).toBe(51 * 9 - 0.5 * 23); // sub-block 5: sc = 3 | 3 << 4, m = 7 | 1 << 4
  });
  it('Q5_K: qh bit 2c + h of byte l is the fifth bit of chunk c, half h', () => {
    const set: Record<number, number> = { 1: 0x3c, [16 + 7]: 0x08, [48 + 32 + 7]: 0x20 };
    for (let j = 0; j < 4; j++) set[4 + j] = 1;
    for (let j = 0; j < 4; j++) set[12 + j] = 1;
    const y = one('Q5_K', set);
    expect([y[103], y[71]]).toEqual([18, 0]);
  });
  it('Q6_K: d*int8 scale*(q - 32), low nibbles in ql, 2 high bits in qh', () => {
    const y = one('Q6_K', { 72: 0x50, 168: 0x20, 204: 0xfd, 200: 2, 209: 0x34 });
    expect([y[200], y[136]]).toEqual([0.25 * -3 * 5, 0.25 * 2 * -32]);
  });
  it('IQ4_XS: d*(ls - 32)*kvalues[q], 6-bit ls from scales_l and scales_h', () => {
    const y = one('IQ4_XS', { 1: 0x38, 2: 0x40, 5: 0x90, 58: 0x30 });
    expect(y[114]).toBe(0.5 * -7 * -65);
  });
  it('f16 subnormal scales are kept (Q6_K d = 2^-24)', () => {
    expect(one('Q6_K', { 0: 0x01, 192: 1, 208: 0x01 })[0]).toBe(2 ** -24 * (1 - 32));
  });
});

describe('against ggml-quants.c (fixtures/ggml/ggml_ref.json)', () => {
  const fx = fixture('ggml_ref.json');
  const input = new Float32Array(b64(fx.input).buffer);

  it.each(Object.keys(fx.quant))('ggmlQuantize %s writes the bytes of quantize_row_*_ref', (type) => {
    const got = ggmlQuantize(type, input), want = b64(fx.quant[type]);
    const bytes = GGML_TYPES[type].blockBytes;
    const bad = [...want.keys()].filter((i) => got[i] !== want[i]).map((i) => `block ${Math.floor(i / bytes)} byte ${i % bytes}`);
    expect(bad.slice(0, 5)).toEqual([]);
  });

  it.each(Object.keys(fx.dequant))('ggmlDequantize %s equals dequantize_row_* bit for bit', (type) => {
    const y = ggmlDequantize(type, b64(fx.dequant[type].blocks), 2048);
    expect(Array.from(y.subarray(0, 32))).toEqual(fx.dequant[type].first);
    expect(sha256(y)).toBe(fx.dequant[type].sha256);
  });
});

describe('every quantized tensor of ../shared/models/kquants{,-real} against ggml_dequant.py (fixtures/ggml/tensors.json)', () => {
  const fx = fixture('tensors.json');
  it.each(Object.keys(fx.files))('%s', async (rel) => {
    const f = await openShared(rel);
    const want = fx.files[rel].tensors as Record<string, { type: string; sha256: string; sum: number }>;
    const quantized = [...f.tensors.values()].filter((t) => !['F32', 'F16', 'BF16'].includes(t.type));
    expect(quantized.map((t) => t.name).sort()).toEqual(Object.keys(want).sort());
    for (const t of quantized) {
      const y = ggmlDequantize(t.type, await readTensorBytes(f, t), t.numel);
      expect([t.name, t.type, sha256(y)]).toEqual([t.name, want[t.name].type, want[t.name].sha256]);
      let sum = 0;
      for (const v of y) sum += v;
      expect(sum).toBeCloseTo(want[t.name].sum, 6);
    }
  });
});

describe('ggmlQuantize -> ggmlDequantize', () => {
  const r = mulberry32(7);
  const x = new Float32Array(64 * 256).map(() => 0.04 * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()));
  // Relative rms error on Gaussian weights; ggml's reference quantizers give about these (the kquants-real
  // README measures Q8_0 0.6%, Q6_K 1.8%, Q5_K 3.6%, Q5_1 3.8%, Q5_0 4.4%, Q4_K 7.0%, Q4_1 7.9%, Q4_0 9.0%).
  const bound: Record<string, number> = { F32: 0, F16: 0.001, BF16: 0.005, Q8_0: 0.01, Q6_K: 0.025, Q5_K: 0.045, Q5_1: 0.05, Q5_0: 0.055, Q4_K: 0.085, Q4_1: 0.095, Q4_0: 0.105 };
  it.each(GGML_QUANT_TYPES)('%s', (type) => {
    const y = ggmlDequantize(type, ggmlQuantize(type, x), x.length);
    let e2 = 0, x2 = 0;
    for (let i = 0; i < x.length; i++) [e2, x2] = [e2 + (y[i] - x[i]) ** 2, x2 + x[i] ** 2];
    const rel = Math.sqrt(e2 / x2);
    expect(rel).toBeLessThanOrEqual(bound[type]);
    if (GGML_TYPES[type].blockElems > 1) expect(rel).toBeGreaterThan(bound[type] / 4); // it really quantized
  });
});

describe('ggmlRandomBlocks', () => {
  it.each(GGML_RANDOM_TYPES)('%s: finite values with a std of about 0.04, reproducible from the seed', (type) => {
    const n = 64 * 256;
    const bytes = ggmlRandomBlocks(type, n, mulberry32(3));
    expect(bytes.byteLength).toBe((n / GGML_TYPES[type].blockElems) * GGML_TYPES[type].blockBytes);
    expect(ggmlRandomBlocks(type, n, mulberry32(3))).toEqual(bytes);
    const y = ggmlDequantize(type, bytes, n);
    let s = 0, s2 = 0;
    for (const v of y) [s, s2] = [s + v, s2 + v * v];
    expect(y.every(Number.isFinite)).toBe(true);
    const std = Math.sqrt(s2 / n - (s / n) ** 2);
    expect(std).toBeGreaterThan(0.03);
    expect(std).toBeLessThan(0.05);
    expect(Math.abs(s / n)).toBeLessThan(0.01);
  });
});

describe('errors', () => {
  it('an unsupported type or a partial block is refused by name', async () => {
    await expectEmberError(() => ggmlDequantize('IQ2_XXS', new Uint8Array(66), 256), 'UNSUPPORTED', /ggml type IQ2_XXS is not supported/);
    await expectEmberError(() => ggmlQuantize('Q2_K', new Float32Array(256)), 'UNSUPPORTED', /Q2_K is not supported \(supported: F32, F16, BF16, Q4_0/);
    await expectEmberError(() => ggmlQuantize('Q4_K', new Float32Array(100)), 'BAD_ARGUMENT', /100 values are not a whole number of Q4_K blocks of 256/);
    await expectEmberError(() => ggmlDequantize('Q6_K', new Uint8Array(209), 256), 'BAD_FILE', /need 210 bytes, got 209/);
    expect(GGML_DEQUANT_TYPES).toContain('IQ4_XS');
  });
});
