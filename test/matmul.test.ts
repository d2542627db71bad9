import { describe, expect, it } from 'vitest';
import { Allocator, readBuffer } from '../src/gpu/buffers.ts';
import { parseWgslStruct } from '../src/gpu/uniforms.ts';
import { encodeDispatches, STEP, type Dispatch } from '../src/kernels/dispatch.ts';
import {
  buildMatmul,
  MATMUL_PARAMS,
  MATMUL_SOURCES,
  QUANTIZE_PARAMS,
  uploadWeights,
  type MatmulTuning,
  type WeightData,
  type WeightFormat,
} from '../src/kernels/matmul.ts';
import { matmulRef, packF16, packQ4, packQ8, quantizeQ8_0, roundF16 } from '../src/kernels/ref/matmul.ts';
import type { Gpu } from '../src/gpu/device.ts';
import { randn, rng, stepBuffer, testGpu, VARIANTS, worstRatio } from './helpers/gpu.ts';

function makeWeights(format: WeightFormat, N: number, K: number, r: () => number): WeightData {
  const w = randn(r, N * K, 0.1);
  if (format === 'f32') return { format, rows: N, cols: K, data: w };
  if (format === 'f16') return packF16(w, N, K);
  return format === 'q8' ? packQ8(w, N, K) : packQ4(w, N, K);
}

/**
 * The test device: 'f16' has every feature lavapipe offers; 'f32' has no shader-f16 and no subgroups
 * (testGpu, as Chromium's SwiftShader) and here also no dot4I8Packed, so every fallback path runs.
 */
async function device(variant: 'f16' | 'f32'): Promise<Gpu> {
  const gpu = await testGpu(variant);
  return variant === 'f16' ? gpu : { ...gpu, caps: Object.freeze({ ...gpu.caps, dot4I8: false }) };
}

function run(gpu: Gpu, list: readonly Dispatch[], nTokens: number): void {
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  encodeDispatches(pass, list, nTokens);
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
}

interface Case {
  N: number;
  K: number;
  T: number;
  bias?: boolean;
  accumulate?: boolean;
  chunkRows?: number; // force a split into chunks of this many rows
}

/** Runs one matmul on the GPU and returns the worst error ratio against the reference (<= 1 passes). */
async function check(variant: 'f16' | 'f32', format: WeightFormat, path: 'gemv' | 'gemm', tuning: Partial<MatmulTuning>, c: Case): Promise<number> {
  const gpu = await device(variant);
  const alloc = new Allocator(gpu);
  try {
    const r = rng(c.N * 7919 + c.K * 31 + c.T);
    const wd = makeWeights(format, c.N, c.K, r);
    const x = randn(r, c.T * c.K);
    const bias = c.bias ? randn(r, c.N) : undefined;
    const y0 = c.accumulate ? randn(r, c.T * c.N) : undefined;
    const rowBytes = { f32: Math.ceil(c.K / 4) * 16, f16: Math.ceil(c.K / 8) * 16, q8: c.K, q4: c.K / 2 }[format];
    const w = uploadWeights(alloc, 'w', wd, c.chunkRows ? c.chunkRows * rowBytes : undefined);
    if (c.chunkRows) expect(w.chunks.length).toBe(Math.ceil(c.N / c.chunkRows));
    const yb = y0 ? alloc.upload('y', y0) : alloc.storage('y', c.T * c.N * 4);
    const mm = await buildMatmul(gpu, alloc, {
      label: 'mm',
      w,
      x: alloc.upload('x', x),
      y: yb,
      bias: bias && alloc.upload('bias', bias),
      accumulate: c.accumulate,
      step: stepBuffer(alloc, { n_tokens: c.T }),
      maxTokens: c.T,
      tuning,
    });
    run(gpu, mm[path], c.T);
    const y = new Float32Array(await readBuffer(gpu, yb, c.T * c.N * 4));
    const ref = matmulRef(wd, x, c.T, { bias, y0 });
    // Float formats: f32 sums in another order. Quantized: the integer sums are exact, only the order
    // of the f32 block sums differs.
    const tol = format === 'q8' || format === 'q4' ? 2e-6 : 2e-5;
    return worstRatio(y, ref, tol, tol);
  } finally {
    alloc.destroyAll();
  }
}

const GEMV_CASES: Case[] = [
  { N: 1, K: 32, T: 1 },
  { N: 7, K: 96, T: 1, bias: true },
  { N: 172, K: 64, T: 1, accumulate: true },
  { N: 513, K: 576, T: 1, bias: true, accumulate: true },
  { N: 7, K: 64, T: 1, chunkRows: 3 },
  { N: 33, K: 32, T: 2 }, // the GEMV list also runs more than one token
];
const GEMM_CASES: Case[] = [
  { N: 1, K: 32, T: 2 },
  { N: 7, K: 96, T: 5, bias: true },
  { N: 172, K: 64, T: 33, accumulate: true },
  { N: 513, K: 576, T: 70, bias: true, accumulate: true },
  { N: 37, K: 64, T: 33, chunkRows: 16 },
];
// K not a multiple of 32 (or of 4 / 8, the vec4 widths) for the float formats.
const FLOAT_CASES: Case[] = [
  { N: 7, K: 172, T: 1 },
  { N: 33, K: 6, T: 1, bias: true },
  { N: 7, K: 14, T: 5, accumulate: true },
  { N: 40, K: 172, T: 33, chunkRows: 13 },
];
const FORMATS: WeightFormat[] = ['f32', 'f16', 'q8', 'q4'];
// The defaults of both device kinds, then odd launch shapes (partial R / TT groups, small workgroups).
// Each pipeline costs llvmpipe 0.5-8 s to compile, so the odd shapes run on one device variant, and
// the f32/f16 tiled GEMM (which uses none of the variant's functions) too.
const GEMV_LAYOUTS: Partial<MatmulTuning>[] = [
  { gemv: 'rows', gemvWG: 64, gemvR: 2 },
  { gemv: 'split', gemvWG: 64, gemvR: 4 },
];
const GEMV_ODD: Partial<MatmulTuning>[] = [
  { gemv: 'rows', gemvWG: 8, gemvR: 3 },
  { gemv: 'split', gemvWG: 32, gemvR: 1 },
];
const GEMM_LAYOUTS: Partial<MatmulTuning>[] = [{ gemm: 'rows', gemmWG: 64, gemmR: 2, gemmTT: 4 }, { gemm: 'tiled' }];
const GEMM_ODD: Partial<MatmulTuning>[] = [{ gemm: 'rows', gemmWG: 8, gemmR: 4, gemmTT: 3 }];
const caseName = (c: Case) =>
  `N=${c.N} K=${c.K} T=${c.T}${c.bias ? ' +bias' : ''}${c.accumulate ? ' +=' : ''}${c.chunkRows ? ` split@${c.chunkRows}` : ''}`;

describe.each(VARIANTS)('matmul (%s device)', (variant) => {
  describe.each(FORMATS)('%s weights', (format) => {
    const floatCases = format === 'f32' || format === 'f16' ? FLOAT_CASES : [];
    const all = variant === 'f16';
    for (const tuning of all ? [...GEMV_LAYOUTS, ...GEMV_ODD] : GEMV_LAYOUTS) {
      const tn = `${tuning.gemv} WG=${tuning.gemvWG} R=${tuning.gemvR}`;
      it.each([...GEMV_CASES, ...floatCases.filter((c) => c.T <= 2)].map((c) => [caseName(c), c] as const))(`gemv ${tn} %s`, async (_, c) => {
        expect(await check(variant, format, 'gemv', tuning, c)).toBeLessThanOrEqual(1);
      });
    }
    const quantized = format === 'q8' || format === 'q4';
    for (const tuning of all ? [...GEMM_LAYOUTS, ...GEMM_ODD] : GEMM_LAYOUTS.filter((t) => quantized || t.gemm !== 'tiled')) {
      const tn = tuning.gemm === 'rows' ? `rows WG=${tuning.gemmWG} R=${tuning.gemmR} TT=${tuning.gemmTT}` : tuning.gemm;
      it.each([...GEMM_CASES, ...floatCases].map((c) => [caseName(c), c] as const))(`gemm ${tn} %s`, async (_, c) => {
        expect(await check(variant, format, 'gemm', tuning, c)).toBeLessThanOrEqual(1);
      });
    }
  });

  it('quantize_x: codes and scales exactly as ggml (ties away from zero, d rounded to f16)', async () => {
    const gpu = await device(variant);
    const alloc = new Allocator(gpu);
    try {
      const T = 3;
      const K = 96;
      const x = randn(rng(5), T * K, 2);
      x.fill(0, 32, 64); // an all-zero block: d = 0, id = 0
      // amax 127 -> d = 1: halves are exact ties, roundf sends them away from zero (round() would not).
      x.set([127, 2.5, -2.5, 0.5, -0.5, 1.5, 126.5, -3.5], 64);
      x.set(randn(rng(6), 32, 1e-3), 2 * K); // a tiny amax: d is an f16 subnormal
      // Identity weights are not needed: the q8 GEMV path's scratch holds the quantized x.
      const wd = packQ8(new Float32Array(32 * K), 32, K);
      const mm = await buildMatmul(gpu, alloc, {
        label: 'mm',
        w: uploadWeights(alloc, 'w', wd),
        x: alloc.upload('x', x),
        y: alloc.storage('y', T * 32 * 4),
        step: stepBuffer(alloc, { n_tokens: T }),
        maxTokens: T,
      });
      run(gpu, [mm.gemv[0]], T);
      expect(mm.gemv[0].label).toBe('matmul_quantize_x/q8');
      const q = new Int8Array(await readBuffer(gpu, mm.quantizedX!.codes, T * K));
      const d = new Float32Array(await readBuffer(gpu, mm.quantizedX!.scales, (T * K) / 8));
      const ref = quantizeQ8_0(x, T, K);
      expect(Array.from(q)).toEqual(Array.from(ref.q));
      expect(Array.from(d)).toEqual(Array.from(ref.d));
      expect(Array.from(q.subarray(64, 72))).toEqual([127, 3, -3, 1, -1, 2, 127, -4]);
    } finally {
      alloc.destroyAll();
    }
  });

  it('f16 weights: x is rounded to f16, ties to even', async () => {
    const gpu = await device(variant);
    const alloc = new Allocator(gpu);
    try {
      const K = 8;
      const eye = new Float32Array(K * K);
      for (let i = 0; i < K; i++) eye[i * K + i] = 1;
      const u = 2 ** -10; // f16 spacing in [1, 2)
      const x = new Float32Array([1 + u / 2, 1 + 1.5 * u, 1 + 0.75 * u, -(1 + u / 2), 2 ** -20, 3e-8, 65519, 0.1]);
      const yb = alloc.storage('y', K * 4);
      const mm = await buildMatmul(gpu, alloc, {
        label: 'mm',
        w: uploadWeights(alloc, 'w', packF16(eye, K, K)),
        x: alloc.upload('x', x),
        y: yb,
        step: stepBuffer(alloc, { n_tokens: 1 }),
        maxTokens: 1,
      });
      run(gpu, mm.gemv, 1);
      const y = new Float32Array(await readBuffer(gpu, yb, K * 4));
      const expected = Array.from(x, roundF16);
      expect(Array.from(y)).toEqual(expected);
      expect(expected.slice(0, 4)).toEqual([1, 1 + 2 * u, 1 + u, -1]);
    } finally {
      alloc.destroyAll();
    }
  });
});

describe('matmul uniforms and validation', () => {
  it('every matmul shader declares MatmulParams / QuantizeParams and Step as the TS layouts', () => {
    for (const [family, source] of Object.entries(MATMUL_SOURCES)) {
      const layout = family === 'matmul_quantize_x' ? QUANTIZE_PARAMS : MATMUL_PARAMS;
      expect(parseWgslStruct(source, layout.structName), family).toEqual(layout.fields.map(([n, t]) => [n, t]));
      expect(parseWgslStruct(source, 'Step'), family).toEqual(STEP.fields.map(([n, t]) => [n, t]));
    }
  });

  it('rejects mis-shaped weights and too-small buffers with messages that name both sizes', async () => {
    const gpu = await testGpu('f16');
    const alloc = new Allocator(gpu);
    try {
      expect(() => uploadWeights(alloc, 'w', { format: 'q8', rows: 2, cols: 48, data: new Uint32Array(24), scales: new Float32Array(3) })).toThrow(/multiple of 32/);
      expect(() => uploadWeights(alloc, 'w', { format: 'f32', rows: 2, cols: 4, data: new Float32Array(7) })).toThrow(/expected 8 data words, got 7/);
      const w = uploadWeights(alloc, 'w', { format: 'f32', rows: 2, cols: 4, data: new Float32Array(8) });
      const args = { label: 'mm', w, x: alloc.storage('x', 16), y: alloc.storage('y', 8), step: stepBuffer(alloc), maxTokens: 2 };
      await expect(buildMatmul(gpu, alloc, args)).rejects.toThrow(/x needs 32 bytes, the buffer has 16/);
    } finally {
      alloc.destroyAll();
    }
  });
});
