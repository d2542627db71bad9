/**
 * Decode's GEMV tail (src/kernels/matmul.ts `tail`, shaders/matmul_tail.wgsl): a residual GEMV whose last workgroup
 * RMS-normalises the row it accumulated (and quantizes it to Q8_0), in place of the RMSNorm dispatch after it. Checked
 * bit for bit against the separate kernels (the plain GEMV, then RMSNorm main / main_q8: the llama.cpp oracle tests rely
 * on the same bits) and against the CPU references (matmulRef, rmsnormRef) within the matmul tests' tolerances; and the
 * GLU GEMV whose tail writes h in Q8_0 for ffn_down, against the GEMV on gate/up pairs then SwiGLU. Three steps in a
 * row, so a count left behind by one dispatch would show in the next.
 */
import { describe, expect, it } from 'vitest';
import { Allocator, readBuffer, writeBuffer } from '../src/gpu/buffers.ts';
import { buildMatmul, gemvTakesTail, uploadWeights, type MatmulTuning } from '../src/kernels/matmul.ts';
import { buildRmsnorm } from '../src/kernels/rmsnorm.ts';
import { buildSwiglu } from '../src/kernels/swiglu.ts';
import { matmulRef, packQ8 } from '../src/kernels/ref/matmul.ts';
import { swigluRef } from '../src/kernels/ref/layers.ts';
import { pairRows } from '../src/model/host_weights.ts';
import { rmsnormRef } from '../src/kernels/ref/rmsnorm.ts';
import { randn, rng, run, stepBuffer, worstRatio } from './helpers/gpu.ts';
import { makeWeights, matmulDevice } from './helpers/matmul.ts';
import type { Dispatch } from '../src/kernels/dispatch.ts';

type Kind = 'q8' | 'f16' | 'f32' | 'q4_k';
const EPS = 1e-5;
const STEPS = 3;

interface Case {
  N: number; // the residual row (the GEMV's rows); glu: 2F rows, gate/up pairs
  K: number;
  q8: boolean; // the tail also writes Q8_0 (its consumer is a q8/q4 matmul)
  glu?: boolean; // the GLU GEMV, whose tail writes h in Q8_0 (no norm)
}

/** The tail's outputs after STEPS steps, one way (tail: the GEMV with its tail; else the GEMV, then RMSNorm / SwiGLU). */
async function steps(kind: Kind, tuning: Partial<MatmulTuning>, c: Case, tail: boolean) {
  const gpu = await matmulDevice('f16');
  const alloc = new Allocator(gpu);
  try {
    const r = rng(c.N * 31 + c.K);
    const { w: wd, ref } = makeWeights(kind, c.N, c.K, r);
    const xs = Array.from({ length: STEPS }, () => randn(r, c.K, 2));
    const n = c.glu ? c.N / 2 : c.N; // the row the tail reads
    const y0 = randn(r, n, 3);
    const nwv = Float32Array.from(randn(r, n, 0.2), (v) => 1 + v);
    const step = stepBuffer(alloc, { n_tokens: 1 });
    const x = alloc.storage('x', c.K * 4);
    const y = alloc.upload('y', y0); // the residual row, or h
    const nw = alloc.upload('nw', nwv);
    const xn = alloc.storage('xn', n * 4);
    const quantized = c.q8 ? { codes: alloc.storage('xq', n), scales: alloc.storage('xd', n / 8) } : undefined;
    const w = uploadWeights(alloc, 'w', c.glu ? pairRows(wd) : wd, { rowAlign: c.glu ? 2 : 1 });
    const count = alloc.storage('count', 4);
    const list: Dispatch[] = [];
    if (c.glu) {
      const gateUp = alloc.storage('gate_up', c.N * 4);
      const args = { label: 'mm', w, x, y: gateUp, step, maxTokens: 1, tuning };
      if (tail) list.push(...(await buildMatmul(gpu, alloc, { ...args, glu: { h: y, act: 'silu' }, tail: { quantized, count } })).gemv);
      else list.push(...(await buildMatmul(gpu, alloc, args)).gemv, await buildSwiglu(gpu, alloc, { nFf: n, act: 'silu', gateUp, h: y, step, quantized, paired: true }));
    } else {
      const args = { label: 'mm', w, x, y, step, maxTokens: 1, tuning, accumulate: true };
      if (tail) list.push(...(await buildMatmul(gpu, alloc, { ...args, tail: { norm: { weight: nw, eps: EPS, y: xn }, quantized, count } })).gemv);
      else list.push(...(await buildMatmul(gpu, alloc, args)).gemv, await buildRmsnorm(gpu, alloc, { dim: n, eps: EPS, step, x: y, weight: nw, y: xn, quantized }));
    }
    if (tail) expect(list.at(-1)!.label).toMatch(c.glu ? /_glu_tailq8$/ : /_tailnorm$/);
    let want = y0;
    for (const xv of xs) {
      writeBuffer(gpu, x, xv);
      run(gpu, list, 1);
      want = c.glu ? swigluRef(matmulRef(ref, xv, 1), 1, n) : matmulRef(ref, xv, 1, { y0: want });
    }
    const out = [new Float32Array(await readBuffer(gpu, y, n * 4)), new Float32Array(await readBuffer(gpu, xn, n * 4))];
    if (quantized) out.push(new Float32Array(await readBuffer(gpu, quantized.codes, n)), new Float32Array(await readBuffer(gpu, quantized.scales, n / 8)));
    return { out, want: c.glu ? want : rmsnormRef(want, nwv, n, EPS) };
  } finally {
    alloc.destroyAll();
  }
}

const CASES: Case[] = [
  { N: 576, K: 256, q8: true }, // SmolLM2's row: several workgroups
  { N: 96, K: 512, q8: true }, // one workgroup
  { N: 160, K: 256, q8: false },
  { N: 37, K: 256, q8: false }, // a row of no whole vec4s or workgroups
  { N: 192, K: 256, q8: true, glu: true }, // F = 96
];
const LAYOUTS: Partial<MatmulTuning>[] = [
  {}, // the adapter's default
  { gemv: 'rows', gemvWG: 8, gemvR: 3, gemvXVec: 1 },
  { gemv: 'flat', gemvWG: 16, gemvFloat: true },
];

// On lavapipe's subgroups of 8 (the tail's lanes); the f32 test device has none, and no tail (below).
describe.each(['q8', 'f16', 'f32', 'q4_k'] as Kind[])('GEMV tail, %s weights', (kind) => {
  for (const tuning of LAYOUTS) {
    const tn = tuning.gemv ? `${tuning.gemv} WG=${tuning.gemvWG} R=${tuning.gemvR ?? 4}` : 'default';
    const cases = CASES.filter((c) => kind === 'q8' || c.N % 32 === 0);
    it.each(cases.map((c) => [`N=${c.N} K=${c.K}${c.glu ? ' GLU' : ''}${c.q8 ? ' Q8_0' : ''}`, c] as const))(`${tn} %s`, async (_, c) => {
      const withTail = await steps(kind, tuning, c, true);
      const separate = await steps(kind, tuning, c, false);
      for (const [i, a] of withTail.out.entries()) expect(Array.from(a), ['y', 'xn', 'codes', 'scales'][i]).toEqual(Array.from(separate.out[i])); // bit for bit
      const tol = kind === 'q8' ? 1e-3 : 2e-4;
      expect(worstRatio(withTail.out[c.glu ? 0 : 1], withTail.want, tol, tol)).toBeLessThanOrEqual(1);
    }, 600_000);
  }
});

describe('GEMV tail limits', () => {
  it('is taken on CPU adapters with subgroups of 8 and room for its bindings, for one chunk', async () => {
    const gpu = await matmulDevice('f16');
    const one = { chunks: [{}] } as never;
    expect(gpu.caps.cpu && gpu.caps.subgroups).toBe(true); // lavapipe
    expect(gemvTakesTail(gpu.caps, one)).toBe(gpu.caps.maxStorageBuffersPerStage >= 10);
    expect(gemvTakesTail((await matmulDevice('f32')).caps, one)).toBe(false); // no subgroups
    expect(gemvTakesTail({ ...gpu.caps, subgroupMinSize: 4 }, one)).toBe(false); // SwiftShader's 4
    expect(gemvTakesTail({ ...gpu.caps, cpu: false }, one)).toBe(false);
    expect(gemvTakesTail({ ...gpu.caps, maxStorageBuffersPerStage: 9 }, one)).toBe(false);
    expect(gemvTakesTail({ ...gpu.caps, maxStorageBuffersPerStage: 10 }, one)).toBe(true); // Chromium's
    expect(gemvTakesTail(gpu.caps, { chunks: [{}, {}] } as never)).toBe(false);
  });

  it('rejects a tail on the split GEMV, a norm of a GLU\'s h, an offset y or raw x, nothing to write, and Q8_0 of a row not whole blocks', async () => {
    const gpu = await matmulDevice('f16');
    const alloc = new Allocator(gpu);
    try {
      const r = rng(5);
      const step = stepBuffer(alloc, { n_tokens: 1 });
      const mk = (N: number) => uploadWeights(alloc, `w${N}`, packQ8(randn(r, N * 64, 0.1), N, 64));
      const tailOf = (N: number, q8 = false) => ({
        norm: { weight: alloc.storage('nw', N * 4), eps: EPS, y: alloc.storage('xn', N * 4) }, count: alloc.storage('count', 4),
        quantized: q8 ? { codes: alloc.storage('q', N), scales: alloc.storage('d', N) } : undefined,
      });
      const base = (N: number) => ({ label: 'mm', w: mk(N), x: alloc.storage('x', 64 * 4), y: alloc.storage('y', 2 * N * 4), step, maxTokens: 1, accumulate: true });
      await expect(buildMatmul(gpu, alloc, { ...base(64), tuning: { gemv: 'split', gemvWG: 64, gemvR: 4 }, tail: tailOf(64) })).rejects.toThrow(/rows or flat GEMV/);
      await expect(buildMatmul(gpu, alloc, { ...base(64), accumulate: false, glu: { h: alloc.storage('h', 128), act: 'silu' }, tail: tailOf(64) })).rejects.toThrow(/not a GLU's h/);
      await expect(buildMatmul(gpu, alloc, { ...base(64), yOffset: 64, yWidth: 128, tail: tailOf(64) })).rejects.toThrow(/no y offset/);
      await expect(buildMatmul(gpu, alloc, { ...base(64), tail: { count: alloc.storage('count', 4) } })).rejects.toThrow(/norm or Q8_0 output/);
      await expect(buildMatmul(gpu, alloc, { ...base(64), bias: alloc.storage('bias', 256), tail: tailOf(64) })).rejects.toThrow(/no bias/);
      await expect(buildMatmul(gpu, alloc, { ...base(64), gemvX: { x: alloc.storage('raw', 256) }, tail: tailOf(64) })).rejects.toThrow(/no gemvX/);
      await expect(buildMatmul(gpu, alloc, { ...base(48), tail: tailOf(48, true) })).rejects.toThrow(/whole 32-blocks/);
    } finally {
      alloc.destroyAll();
    }
  });
});
