/**
 * Decode's fused GEMVs (src/kernels/matmul.ts `gemvX`, `glu`): RMSNorm of x in the prologue (and its Q8_0
 * quantization for q8/q4 weights), Q8_0 quantization of raw x alone, and the SwiGLU / GeGLU epilogue on
 * gate/up row pairs. Each is checked two ways: bit for bit against the separate kernels it replaces run on
 * the GPU (RMSNorm / quantize_x, the plain GEMV, SwiGLU: the llama.cpp oracle tests rely on the same
 * bits), and against the CPU references (rmsnormRef, matmulRef, swigluRef) within the matmul tests'
 * tolerances. Awkward shapes (N, F not multiples of R or of a workgroup, K odd multiples of 32 or not
 * multiples of 4 for the float formats, two tokens, chunks), every GEMV layout, both device variants.
 */
import { describe, expect, it } from 'vitest';
import { FULL_MATRIX, halves } from './helpers/cover.ts';
import { Allocator, readBuffer } from '../src/gpu/buffers.ts';
import type { Gpu } from '../src/gpu/device.ts';
import { buildMatmul, gemvReadsRawX, GEMV_LOCAL_K, gpuRowWords, MATMUL_SOURCES, uploadWeights, type GluAct, type MatmulTuning, type WeightData } from '../src/kernels/matmul.ts';
import { buildRmsnorm } from '../src/kernels/rmsnorm.ts';
import { buildSwiglu } from '../src/kernels/swiglu.ts';
import { matmulRef, packQ8 } from '../src/kernels/ref/matmul.ts';
import { rmsnormRef } from '../src/kernels/ref/rmsnorm.ts';
import { swigluRef } from '../src/kernels/ref/layers.ts';
import { pairRows } from '../src/model/host_weights.ts';
import { randn, rng, run, stepBuffer, VARIANTS, worstRatio } from './helpers/gpu.ts';
import { makeWeights, matmulDevice, type WeightKind } from './helpers/matmul.ts';
import { shaderText, getPipeline } from '../src/gpu/pipelines.ts';
import { bindGroup } from '../src/kernels/dispatch.ts';
import { Q8_BLOCK_LIB } from '../src/kernels/wgsl_lib.ts';

type Kind = WeightKind;

interface Case {
  N: number; // rows of W (glu: 2F, gate rows then up rows)
  K: number;
  T: number;
  norm?: boolean; // RMSNorm in the prologue (else: raw x, q8/q4 quantized in the prologue)
  glu?: GluAct;
  bias?: boolean;
  accumulate?: boolean;
  chunkRows?: number;
}
const caseName = (c: Case) =>
  `N=${c.N} K=${c.K} T=${c.T}${c.norm ? ' norm' : ''}${c.glu ? ` ${c.glu}` : ''}${c.bias ? ' +bias' : ''}${c.accumulate ? ' +=' : ''}${c.chunkRows ? ` split@${c.chunkRows}` : ''}`;

const EPS = 1e-5;

/** The separate kernels on the GPU: RMSNorm (into Q8_0 for q8/q4), the plain GEMV, SwiGLU on [gate | up]. */
async function unfused(gpu: Gpu, alloc: Allocator, wd: WeightData, x: GPUBuffer, nw: GPUBuffer, y0: Float32Array | undefined, bias: GPUBuffer | undefined, c: Case, tuning: Partial<MatmulTuning>) {
  const q8 = wd.format === 'q8' || wd.format === 'q4';
  const step = stepBuffer(alloc, { n_tokens: c.T });
  const list = [];
  let xin = x;
  let quantizedX: { codes: GPUBuffer; scales: GPUBuffer } | undefined;
  if (c.norm) {
    xin = alloc.storage('xn', c.T * c.K * 4);
    quantizedX = q8 ? { codes: alloc.storage('xq', c.T * c.K), scales: alloc.storage('xd', (c.T * c.K) / 8) } : undefined;
    list.push(await buildRmsnorm(gpu, alloc, { dim: c.K, eps: EPS, step, x, weight: nw, y: xin, quantized: quantizedX }));
  }
  const y = y0 ? alloc.upload('y_unfused', y0) : alloc.storage('y_unfused', c.T * c.N * 4);
  const w = uploadWeights(alloc, 'w_unfused', wd);
  const mm = await buildMatmul(gpu, alloc, { label: 'mm_unfused', w, x: xin, y, step, maxTokens: c.T, tuning, quantizedX, bias, accumulate: c.accumulate });
  list.push(...mm.gemv);
  if (!c.glu) return { list, out: y, n: c.N };
  const h = alloc.storage('h_unfused', (c.T * c.N) / 2 * 4);
  list.push(await buildSwiglu(gpu, alloc, { nFf: c.N / 2, act: c.glu, gateUp: y, h, step }));
  return { list, out: h, n: c.N / 2 };
}

/** Runs the fused GEMV and the unfused kernels; returns both outputs and the CPU reference. */
async function check(variant: 'f16' | 'f32', kind: Kind, tuning: Partial<MatmulTuning>, c: Case) {
  const gpu = await matmulDevice(variant);
  const alloc = new Allocator(gpu);
  try {
    const r = rng(c.N * 7919 + c.K * 31 + c.T);
    const { w: wd, ref } = makeWeights(kind, c.N, c.K, r);
    const xv = randn(r, c.T * c.K, 3);
    const nwv = Float32Array.from(randn(r, c.K, 0.2), (v) => 1 + v);
    const y0 = c.accumulate ? randn(r, c.T * c.N) : undefined;
    const biasV = c.bias ? randn(r, c.N) : undefined;
    const bias = biasV && alloc.upload('bias', biasV);
    const x = alloc.upload('x', xv);
    const nw = alloc.upload('nw', nwv);
    const step = stepBuffer(alloc, { n_tokens: c.T });
    const rowBytes = gpuRowWords(wd.format, c.K) * 4;
    const w = uploadWeights(alloc, 'w', c.glu ? pairRows(wd) : wd, { maxChunkBytes: c.chunkRows ? c.chunkRows * rowBytes : undefined, rowAlign: c.glu ? 2 : 1 });
    if (c.chunkRows) expect(w.chunks.length).toBeGreaterThan(1);
    const n = c.glu ? c.N / 2 : c.N;
    const out = y0 ? alloc.upload('y', y0) : alloc.storage('y', c.T * n * 4);
    const mm = await buildMatmul(gpu, alloc, {
      label: 'mm',
      w,
      x: alloc.storage('xn_unused', c.T * c.K * 4), // the gemm's x, not run here
      y: c.glu ? alloc.storage('gate_up_unused', c.T * c.N * 4) : out,
      step,
      maxTokens: c.T,
      tuning,
      bias,
      accumulate: c.accumulate,
      gemvX: { x, norm: c.norm ? { weight: nw, eps: EPS } : undefined },
      glu: c.glu && { h: out, act: c.glu },
    });
    expect(mm.gemv.map((d) => d.label.split('/')[0])).toEqual(w.chunks.map(() => `matmul_${wd.format}`)); // the GEMVs alone
    run(gpu, mm.gemv, c.T);
    const fused = new Float32Array(await readBuffer(gpu, out, c.T * n * 4));
    const u = await unfused(gpu, alloc, wd, x, nw, y0, bias, c, tuning);
    run(gpu, u.list, c.T);
    const separate = new Float32Array(await readBuffer(gpu, u.out, c.T * u.n * 4));
    const xr = c.norm ? rmsnormRef(xv, nwv, c.K, EPS) : xv;
    let want = matmulRef(ref, xr, c.T, { y0, bias: biasV });
    if (c.glu) want = swigluRef(want, c.T, c.N / 2, c.glu);
    return { fused, separate, want };
  } finally {
    alloc.destroyAll();
  }
}

const Q8_CASES: Case[] = [
  { N: 7, K: 96, T: 1, norm: true, bias: true }, // qkv with a bias (Qwen2)
  { N: 513, K: 576, T: 1, norm: true },
  { N: 40, K: 2080, T: 1, norm: true }, // RMSNorm's partials 16 loads a step, then 8, then one (shaders/rms_lib.wgsl)
  { N: 33, K: 64, T: 2, norm: true }, // the GEMV list runs any number of tokens
  { N: 172, K: 160, T: 1, accumulate: true }, // raw x, quantized in the prologue (o, down)
  { N: 66, K: 96, T: 1, norm: true, glu: 'silu' }, // F = 33
  { N: 2, K: 32, T: 2, glu: 'gelu_tanh' },
  { N: 70, K: 64, T: 1, norm: true, glu: 'silu', chunkRows: 24 },
];
const FLOAT_CASES: Case[] = [
  { N: 7, K: 172, T: 1, norm: true, bias: true },
  { N: 33, K: 14, T: 2, norm: true, accumulate: true },
  { N: 66, K: 172, T: 1, norm: true, glu: 'gelu_tanh' },
  { N: 40, K: 36, T: 1, glu: 'silu', chunkRows: 13 },
];
const KQUANT_CASES: Case[] = [
  { N: 37, K: 256, T: 1, norm: true },
  { N: 18, K: 512, T: 1, norm: true, glu: 'silu' },
];
const CASES: Record<Kind, Case[]> = { q8: Q8_CASES, q4: Q8_CASES.slice(0, 5), f32: FLOAT_CASES, f16: FLOAT_CASES, bf16: FLOAT_CASES, fp8e4m3: FLOAT_CASES.slice(2), q4_k: KQUANT_CASES };
// The per-row GEMV with every way of its x loads (X_VEC 4: vec4 views of x and the norm weight where K % 4 == 0;
// 8: Q8_0 x, held in workgroup memory by the q8_local input, on subgroups of 8 or more).
// The entry points, then their other launch shapes and x loads.
const LAYOUTS: Partial<MatmulTuning>[] = [
  { gemv: 'rows', gemvWG: 64, gemvR: 2, gemvXVec: 8 },
  { gemv: 'split', gemvWG: 64, gemvR: 4 },
  { gemv: 'flat', gemvWG: 64, gemvFloat: false },
];
const SHAPES: Partial<MatmulTuning>[] = [
  { gemv: 'rows', gemvWG: 64, gemvR: 2, gemvXVec: 4 },
  { gemv: 'rows', gemvWG: 64, gemvR: 2, gemvXVec: 1 },
  { gemv: 'split', gemvWG: 64, gemvR: 4, gemvLanes: 16 }, // 4 groups of rows share the prologue
  { gemv: 'split', gemvWG: 64, gemvR: 4, gemvLanes: 16, gemvIters: 3 }, // in 3 turns
  { gemv: 'split', gemvWG: 64, gemvR: 4, gemvLanes: 8, gemvIters: 3 }, // groups of one subgroup each (WARP on lavapipe)
];
const FLAT_FLOAT: Partial<MatmulTuning> = { gemv: 'flat', gemvWG: 64, gemvFloat: true }; // SwiftShader's, for Q8_0 x
// R odd: the GLU GEMV rounds it up to whole pairs; a workgroup smaller than RMSNorm's 64 partial sums.
const ODD: Partial<MatmulTuning>[] = [
  { gemv: 'rows', gemvWG: 8, gemvR: 3 },
  { gemv: 'split', gemvWG: 32, gemvR: 1 },
  { gemv: 'split', gemvWG: 32, gemvR: 1, gemvLanes: 8 },
];
const SLOW = 600_000; // ms: first compiles on a loaded machine

describe.each(VARIANTS)('fused decode GEMV (%s device)', (variant) => {
  describe.each(Object.keys(CASES) as Kind[])('%s weights', (kind) => {
    const q8x = kind === 'q8' || kind === 'q4';
    // Each kind runs each entry point on one of the two devices and each other shape on one device for every third
    // kind, turning with the kind (test/helpers/cover.ts: halves); each layout with every few cases (the fused parts:
    // norm, GLU, bias, accumulate), turning, so that every layout meets a case and every case a few layouts; all of
    // them with EMBERLM_TEST_MATRIX=full.
    const place = Object.keys(CASES).indexOf(kind);
    const both = [...halves([...LAYOUTS, ...(q8x ? [FLAT_FLOAT] : [])], variant, place), ...halves(SHAPES, variant, place, 3)];
    const layouts = [...both, ...(variant === 'f16' && (kind === 'q8' || kind === 'f16') ? ODD : [])];
    const cases = CASES[kind];
    const every = Math.min(3, cases.length);
    for (const [li, tuning] of layouts.entries()) {
      const tn = `${tuning.gemv} WG=${tuning.gemvWG} R=${tuning.gemvR}${tuning.gemvFloat ? ' float' : ''}${tuning.gemvXVec ? ` X_VEC=${tuning.gemvXVec}` : ''}`;
      const mine = cases.filter((_, ci) => FULL_MATRIX || (li + ci) % every === 0);
      it.each(mine.map((c) => [caseName(c), c] as const))(`${tn} %s`, async (_, c) => {
        const { fused, separate, want } = await check(variant, kind, tuning, c);
        expect(Array.from(fused)).toEqual(Array.from(separate)); // bit for bit
        // With the norm, the f64 reference's x differs from the kernels' f32 x in the last bit, which can
        // move a Q8_0 code of x (q8/q4) or x's f16 rounding (f16) at a tie: one step of x in one product.
        const q8 = kind === 'q8' || kind === 'q4';
        const tol = c.norm && (q8 || kind === 'f16') ? 1e-3 : q8 ? 2e-6 : 2e-5;
        expect(worstRatio(fused, want, tol, tol)).toBeLessThanOrEqual(1);
      }, SLOW);
    }
  });
});

describe('fused GEMV layout and limits', () => {
  // The Q8_0 quantizer's division (quantize_q8_block, in every prologue that quantizes x) must round
  // exactly as IEEE f32 division: JS's double quotient rounded to f32 is that (no double-rounding case
  // exists for quotients of 24-bit significands). Random significands, quotients near 1 and 2, 127.
  it.each(VARIANTS)('div_exact rounds a / b as IEEE f32 division (%s device)', async (variant) => {
    const gpu = await matmulDevice(variant);
    const alloc = new Allocator(gpu);
    try {
      const r = rng(17);
      const a: number[] = [], b: number[] = [];
      const sig = () => 1 + Math.floor(r() * 2 ** 23) / 2 ** 23;
      for (let i = 0; i < 4096; i++) {
        a.push(Math.fround(sig() * 2 ** Math.floor(r() * 40 - 20)));
        b.push(Math.fround(i % 4 === 0 ? 127 : i % 4 === 1 ? 1 : sig() * 2 ** Math.floor(r() * 20 - 10)));
      }
      for (const m of [1, 1 + 2 ** -23, 2 - 2 ** -23, 1.5, 127, 3]) for (const n of [1, 1 + 2 ** -23, 2 - 2 ** -23, 127, 3]) a.push(m), b.push(n);
      const code = shaderText(`
@group(0) @binding(0) var<storage, read> ab: array<vec2<f32>>;
@group(0) @binding(1) var<storage, read_write> q: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x < arrayLength(&q)) { q[g.x] = div_exact(ab[g.x].x, ab[g.x].y); }
}`, {}, Q8_BLOCK_LIB);
      const pipe = await getPipeline(gpu, 'test_div_exact', code);
      const n = a.length;
      const q = alloc.storage('q', n * 4);
      const ab = alloc.upload('ab', Float32Array.from({ length: 2 * n }, (_, i) => (i % 2 ? b[i >> 1] : a[i >> 1])));
      const enc = gpu.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipe);
      pass.setBindGroup(0, bindGroup(alloc, 'test_div_exact', pipe, [ab, q]));
      pass.dispatchWorkgroups(Math.ceil(n / 64));
      pass.end();
      gpu.device.queue.submit([enc.finish()]);
      const got = new Float32Array(await readBuffer(gpu, q, n * 4));
      const wrong = a.map((x, i) => [x, b[i], got[i], Math.fround(x / b[i])]).filter(([, , g, w]) => g !== w);
      expect(wrong).toEqual([]);
    } finally {
      alloc.destroyAll();
    }
  });

  it('pairRows puts gate j and up j side by side, data and per-row scales', () => {
    const w = packQ8(randn(rng(3), 4 * 64), 4, 64); // 2 gate rows, 2 up rows
    const p = pairRows(w);
    const row = (a: WeightData, i: number) => Array.from(a.data.subarray(i * 16, (i + 1) * 16));
    const scales = (a: WeightData, i: number) => Array.from(a.scales!.subarray(i * 2, (i + 1) * 2));
    for (const [to, from] of [[0, 0], [1, 2], [2, 1], [3, 3]]) {
      expect(row(p, to)).toEqual(row(w, from));
      expect(scales(p, to)).toEqual(scales(w, from));
    }
    expect(() => pairRows(packQ8(new Float32Array(3 * 32), 3, 32))).toThrow(/even number of rows, got 3/);
  });

  it('GEMV_LOCAL_K is the WGSL LOCAL_K; longer q8 rows are not read raw', () => {
    expect(MATMUL_SOURCES.matmul_in_q8_local).toContain(`const LOCAL_K: u32 = ${GEMV_LOCAL_K}u;`);
    expect(gemvReadsRawX({ format: 'q8', cols: GEMV_LOCAL_K })).toBe(true);
    expect(gemvReadsRawX({ format: 'q8', cols: GEMV_LOCAL_K + 32 })).toBe(false);
    expect(gemvReadsRawX({ format: 'f16', cols: 4 * GEMV_LOCAL_K })).toBe(true);
  });

  it('rejects a GLU matmul with a bias or chunks that split a pair, and a quantizing prologue of odd workgroups', async () => {
    const gpu = await matmulDevice('f16');
    const alloc = new Allocator(gpu);
    try {
      const wd = packQ8(randn(rng(4), 6 * 32), 6, 32);
      const args = { label: 'mm', x: alloc.storage('x', 128), y: alloc.storage('y', 24), step: stepBuffer(alloc), maxTokens: 1 };
      const glu = { h: alloc.storage('h', 12), act: 'silu' as const };
      const split = uploadWeights(alloc, 'w', wd, { maxChunkBytes: 3 * 32 }); // chunks of 3 rows
      await expect(buildMatmul(gpu, alloc, { ...args, w: split, glu })).rejects.toThrow(/whole row pairs/);
      const w = uploadWeights(alloc, 'w2', wd, { maxChunkBytes: 3 * 32, rowAlign: 2 }); // chunks of 2 rows
      expect(w.chunks.map((c) => c.rows)).toEqual([2, 2, 2]);
      await expect(buildMatmul(gpu, alloc, { ...args, w, glu, bias: alloc.storage('b', 24) })).rejects.toThrow(/no bias/);
      // The Q8_0 prologue takes a block's 8 words in one turn of the workgroup.
      const raw = { ...args, w, gemvX: { x: args.x }, tuning: { gemv: 'rows' as const, gemvWG: 12 } };
      await expect(buildMatmul(gpu, alloc, raw)).rejects.toThrow(/multiple of 8 lanes, got 12/);
    } finally {
      alloc.destroyAll();
    }
  });
});
