/**
 * A mixture of experts on the GPU against the CPU references: routing (shaders/moe.wgsl route: top-k of softmax, or
 * of sigmoid plus a selection bias, renormalised or not, ties to the lowest index), the weighted sum into the residual stream (combine), and the expert
 * GEMV (MatmulArgs.experts: stacked experts, a row of y per token's slot, x per token or per slot, the GLU epilogue,
 * chunks of whole experts) in every weight format's decoder and every GEMV layout, on both device variants.
 */
import { describe, expect, it } from 'vitest';
import { Allocator, readBuffer } from '../src/gpu/buffers.ts';
import { buildMatmul, EXPERT_TILE, expertGroups, gpuRowWords, uploadWeights, type MatmulTuning } from '../src/kernels/matmul.ts';
import { buildMoeCombine, buildMoeGroup, buildMoeRoute } from '../src/kernels/moe.ts';
import { matmulRef } from '../src/kernels/ref/matmul.ts';
import { moeCombineRef, moeRouteRef } from '../src/kernels/ref/moe.ts';
import { randn, rng, run, stepBuffer, testGpu, VARIANTS, worstRatio } from './helpers/gpu.ts';
import { halves } from './helpers/cover.ts';
import { makeWeights, matmulDevice, type WeightKind } from './helpers/matmul.ts';

describe('moe route', () => {
  for (const variant of VARIANTS) {
    const cases = [[8, 2, true, 'softmax', false], [8, 2, false, 'softmax', false], [128, 8, true, 'softmax', false], [5, 5, true, 'softmax', false],
      [32, 4, true, 'sigmoid', true], [8, 2, false, 'sigmoid', true], [8, 3, true, 'sigmoid', false]] as const;
    for (const [experts, k, normTopk, gating, biased] of cases) {
      it(`${variant}: ${experts} experts, top ${k} by ${gating}${biased ? ' + bias' : ''}${normTopk ? ', renormalised' : ''}`, async () => {
        const gpu = await testGpu(variant);
        const alloc = new Allocator(gpu);
        try {
          const T = 70; // two workgroups of tokens
          const r = rng(experts * 31 + k);
          const logits = randn(r, T * experts, 2);
          for (let t = 0; t < T; t += 3) logits[t * experts + experts - 1] = logits[t * experts]; // ties: the lower index first
          // a bias of the scores' spread, so that it changes choices; the last expert's equals the first's (ties again)
          const bias = biased ? randn(r, experts, 0.2) : undefined;
          if (bias) bias[experts - 1] = bias[0];
          const ids = alloc.storage('ids', T * k * 4);
          const weights = alloc.storage('weights', T * k * 4);
          const step = stepBuffer(alloc, { n_tokens: T });
          const args = { experts, slots: k, normTopk, gating, bias: bias && alloc.upload('bias', bias), logits: alloc.upload('logits', logits), ids, weights, step };
          run(gpu, [await buildMoeRoute(gpu, alloc, args)], T);
          const want = moeRouteRef(logits, T, experts, k, normTopk, gating, bias);
          if (bias) expect(moeRouteRef(logits, T, experts, k, normTopk, gating).ids).not.toEqual(want.ids); // the bias counts
          expect(Array.from(new Uint32Array(await readBuffer(gpu, ids, T * k * 4)))).toEqual(Array.from(want.ids));
          expect(worstRatio(new Float32Array(await readBuffer(gpu, weights, T * k * 4)), want.weights, 1e-7, 1e-5)).toBeLessThanOrEqual(1);
        } finally {
          alloc.destroyAll();
        }
      });
    }
  }
  it('refuses more slots than experts or than it holds, and a bias beside softmax', async () => {
    const gpu = await testGpu();
    const alloc = new Allocator(gpu);
    const b = alloc.storage('b', 1024);
    const step = stepBuffer(alloc, { n_tokens: 1 });
    for (const [experts, slots] of [[4, 5], [64, 17], [8, 0]]) {
      await expect(buildMoeRoute(gpu, alloc, { experts, slots, normTopk: true, gating: 'softmax', logits: b, ids: b, weights: b, step })).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    }
    await expect(buildMoeRoute(gpu, alloc, { experts: 8, slots: 2, normTopk: true, gating: 'softmax', bias: b, logits: b, ids: b, weights: b, step })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    alloc.destroyAll();
  });
});

describe('moe combine', () => {
  for (const variant of VARIANTS) {
    it(`${variant}: x += scale * the weighted slots`, async () => {
      const gpu = await testGpu(variant);
      const alloc = new Allocator(gpu);
      try {
        const [T, k, D] = [5, 3, 100];
        const r = rng(7);
        const x0 = randn(r, T * D), w = randn(r, T * k), out = randn(r, T * k * D);
        const x = alloc.upload('x', x0);
        const step = stepBuffer(alloc, { n_tokens: T });
        run(gpu, [await buildMoeCombine(gpu, alloc, { slots: k, width: D, scale: 0.5, weights: alloc.upload('w', w), expertOut: alloc.upload('out', out), x, step })], T);
        const got = new Float32Array(await readBuffer(gpu, x, T * D * 4));
        expect(worstRatio(got, moeCombineRef(x0, w, out, T, k, D, 0.5), 1e-6, 1e-6)).toBeLessThanOrEqual(1);
      } finally {
        alloc.destroyAll();
      }
    });
  }
});

interface ExpertCase {
  experts: number;
  rows: number; // one expert's
  K: number;
  T: number;
  slots: number;
  xPerSlot: boolean;
  glu?: boolean; // rows in gate/up pairs: y = silu(gate) * up
  expertsPerChunk?: number; // force chunks of this many experts
}

const silu = (v: number) => v / (1 + Math.exp(-v));

/**
 * The expert GEMV (or with `grouped`, moe/group then the expert GEMM) on the GPU, and the reference: each slot's
 * expert's rows (of the whole stacked matmulRef) for its x row.
 */
async function checkExperts(variant: 'f16' | 'f32', kind: WeightKind, tuning: Partial<MatmulTuning>, c: ExpertCase, grouped = false): Promise<number> {
  const gpu = await matmulDevice(variant);
  const alloc = new Allocator(gpu);
  try {
    const r = rng(c.rows * 13 + c.K + c.T);
    const N = c.experts * c.rows;
    const { w: wd, ref } = makeWeights(kind, N, c.K, r);
    const A = c.T * c.slots;
    const xRows = c.xPerSlot ? A : c.T;
    const xv = randn(r, xRows * c.K, 1);
    const ids = Uint32Array.from({ length: A }, (_, a) => (a * 5 + Math.floor(a / c.slots)) % c.experts); // every expert, repeats too
    const rowBytes = gpuRowWords(wd.format, c.K) * 4;
    const w = uploadWeights(alloc, 'experts', wd, { rowAlign: c.rows, maxChunkBytes: c.expertsPerChunk ? c.expertsPerChunk * c.rows * rowBytes : undefined });
    if (c.expertsPerChunk) expect(w.chunks.length).toBe(Math.ceil(c.experts / c.expertsPerChunk));
    const width = c.glu ? c.rows / 2 : c.rows;
    const y = alloc.storage('y', A * width * 4);
    const step = stepBuffer(alloc, { n_tokens: c.T });
    const idsBuf = alloc.upload('ids', ids);
    const groups = grouped ? alloc.storage('groups', expertGroups(c.T, c.slots, c.experts).words * 4) : undefined;
    const experts = { ids: idsBuf, rows: c.rows, slots: c.slots, xPerSlot: c.xPerSlot, groups };
    const mm = await buildMatmul(gpu, alloc, {
      label: 'experts', w, x: alloc.upload('x', xv), y: c.glu ? alloc.storage('unused', 4 * A * c.rows) : y, step, maxTokens: c.T, tuning, experts,
      glu: c.glu ? { h: y, act: 'silu' } : undefined,
    });
    if (!groups) expect(mm.gemm).toEqual(mm.gemv); // prefill runs the same GEMVs
    const group = groups && (await buildMoeGroup(gpu, alloc, { experts: c.experts, slots: c.slots, maxTokens: c.T, ids: idsBuf, groups, step }));
    run(gpu, group ? [group, ...mm.gemm] : mm.gemv, c.T);
    const got = new Float32Array(await readBuffer(gpu, y, A * width * 4));
    const want = new Float32Array(A * width);
    for (let a = 0; a < A; a++) {
      const xr = c.xPerSlot ? a : Math.floor(a / c.slots);
      const all = matmulRef(ref, xv.subarray(xr * c.K, (xr + 1) * c.K), 1);
      const mine = all.subarray(ids[a] * c.rows, (ids[a] + 1) * c.rows);
      for (let j = 0; j < width; j++) want[a * width + j] = c.glu ? silu(mine[2 * j]) * mine[2 * j + 1] : mine[j];
    }
    return worstRatio(got, want, 1e-4, 1e-4);
  } finally {
    alloc.destroyAll();
  }
}

const EXPERT_CASES: ExpertCase[] = [
  { experts: 6, rows: 40, K: 96, T: 1, slots: 2, xPerSlot: false, glu: true }, // decode's gate/up
  { experts: 6, rows: 64, K: 32, T: 1, slots: 2, xPerSlot: true }, // decode's down
  { experts: 6, rows: 40, K: 64, T: 5, slots: 3, xPerSlot: false, glu: true, expertsPerChunk: 2 }, // a prefill pass, chunks
  { experts: 5, rows: 24, K: 64, T: 4, slots: 2, xPerSlot: true, expertsPerChunk: 3 },
];
const KQUANT_CASES: ExpertCase[] = [
  { experts: 4, rows: 20, K: 256, T: 2, slots: 2, xPerSlot: false, glu: true, expertsPerChunk: 3 },
  { experts: 4, rows: 16, K: 512, T: 3, slots: 2, xPerSlot: true },
];
const KINDS: WeightKind[] = ['q8', 'q4', 'f32', 'f16', 'bf16', 'fp8e4m3', 'q4_k'];
const LAYOUTS: Partial<MatmulTuning>[] = [
  {}, // the device's own
  { gemv: 'rows', gemvWG: 64, gemvR: 2, gemvXVec: 8 },
  { gemv: 'rows', gemvWG: 8, gemvR: 3, gemvXVec: 1 },
  { gemv: 'split', gemvWG: 64, gemvR: 4 },
  { gemv: 'flat', gemvWG: 64 },
];

describe('moe group', () => {
  for (const variant of VARIANTS) {
    it(`${variant}: each expert's slots in a run of whole tiles, padded with its first, each tile's expert`, async () => {
      const gpu = await testGpu(variant);
      const alloc = new Allocator(gpu);
      try {
        const [experts, slots, maxTokens] = [12, 3, 40];
        for (const T of [1, 7, 40]) {
          const r = rng(T);
          const A = T * slots;
          const ids = Uint32Array.from({ length: A }, () => Math.floor(r() * r() * experts)); // skewed: some experts idle
          const { tiles, words } = expertGroups(maxTokens, slots, experts);
          const groups = alloc.storage(`groups${T}`, words * 4);
          const step = stepBuffer(alloc, { n_tokens: T });
          run(gpu, [await buildMoeGroup(gpu, alloc, { experts, slots, maxTokens, ids: alloc.upload(`ids${T}`, ids), groups, step })], T);
          const out = new Uint32Array(await readBuffer(gpu, groups, words * 4));
          const seen = new Uint32Array(A);
          let row = 0, tile = 0;
          for (let e = 0; e < experts; e++) {
            const mine = Array.from(ids.keys()).filter((a) => ids[a] === e);
            const run = Array.from(out.subarray(tiles + row, tiles + row + Math.ceil(mine.length / EXPERT_TILE) * EXPERT_TILE));
            expect(new Set(run.slice(0, mine.length))).toEqual(new Set(mine));
            run.slice(0, mine.length).forEach((a) => seen[a]++);
            for (const a of run.slice(mine.length)) expect(a).toBe(run[0]);
            for (let j = 0; j < run.length / EXPERT_TILE; j++) expect(out[tile + j]).toBe(e);
            row += run.length;
            tile += run.length / EXPERT_TILE;
          }
          expect(Array.from(seen).every((n) => n === 1)).toBe(true);
          expect(Array.from(out.subarray(tile, tiles)).every((e) => e === 0xffffffff)).toBe(true);
        }
      } finally {
        alloc.destroyAll();
      }
    });
  }
});

describe('expert GEMM (the prefill: slots grouped by expert)', () => {
  // rows by 4 (two workgroup rows a tile of 8), rows8 (one; rows by 4 without subgroups of 8)
  const GEMM_LAYOUTS: Partial<MatmulTuning>[] = [{}, { gemm: 'rows', gemmWG: 16, gemmR: 3, gemmXVec: 1, gemmFloat: false }, { gemm: 'rows', gemmWG: 64, gemmR: 4, gemmXVec: 4, gemmFloat: true }, { gemm: 'rows8', gemmWG: 16, gemmR: 4 }];
  for (const variant of VARIANTS) {
    for (const kind of KINDS) {
      // The device's own layout, and the others by halves turning with the kind (test/helpers/cover.ts).
      for (const t of [{}, ...halves(GEMM_LAYOUTS.slice(1), variant, KINDS.indexOf(kind))]) {
        it(`${variant} ${kind} ${JSON.stringify(t)}`, async () => {
          for (const c of kind === 'q4_k' ? KQUANT_CASES : EXPERT_CASES) {
            expect(await checkExperts(variant, kind, t, { ...c, T: c.T + 6 }, true), JSON.stringify(c)).toBeLessThanOrEqual(1);
          }
        }, 120_000);
      }
    }
  }
});

describe('expert matmuls refuse what they cannot run', () => {
  it('chunks that split an expert, a bias, buffers too small', async () => {
    const gpu = await testGpu();
    const alloc = new Allocator(gpu);
    try {
      const { w: wd } = makeWeights('q8', 3 * 40, 64, rng(1));
      const split = uploadWeights(alloc, 'split', wd, { maxChunkBytes: 64 * gpuRowWords('q8', 64) * 4 }); // chunks of 64 rows (or of whole tiles)
      expect(split.chunks.length).toBeGreaterThan(1);
      const whole = uploadWeights(alloc, 'whole', wd, { rowAlign: 40 });
      const b = alloc.storage('b', 1 << 16);
      const step = stepBuffer(alloc, { n_tokens: 1 });
      const args = { label: 'e', x: b, y: b, step, maxTokens: 2, experts: { ids: b, rows: 40, slots: 2, xPerSlot: false } };
      await expect(buildMatmul(gpu, alloc, { ...args, w: split })).rejects.toMatchObject({ code: 'BAD_ARGUMENT', message: /chunks of whole experts/ });
      await expect(buildMatmul(gpu, alloc, { ...args, w: whole, bias: b })).rejects.toMatchObject({ code: 'BAD_ARGUMENT', message: /no tail, raw x, bias/ });
      await expect(buildMatmul(gpu, alloc, { ...args, w: whole, experts: { ...args.experts, rows: 48 } })).rejects.toMatchObject({ code: 'BAD_ARGUMENT', message: /must divide the 120 stacked rows/ });
      await expect(buildMatmul(gpu, alloc, { ...args, w: whole, experts: { ...args.experts, groups: alloc.storage('g', 4) } })).rejects.toMatchObject({ code: 'BAD_ARGUMENT', message: /experts\.groups needs/ });
    } finally {
      alloc.destroyAll();
    }
  });
});

describe('expert GEMV', () => {
  for (const variant of VARIANTS) {
    for (const kind of KINDS) {
      for (const t of [{}, ...halves(LAYOUTS.slice(1), variant, KINDS.indexOf(kind))]) {
        const name = t.gemv ? `${t.gemv} WG=${t.gemvWG}${t.gemvR ? ` R=${t.gemvR}` : ''}${t.gemvXVec ? ` X_VEC=${t.gemvXVec}` : ''}` : 'default';
        it(`${variant} ${kind} ${name}`, async () => {
          for (const c of kind === 'q4_k' ? KQUANT_CASES : EXPERT_CASES) {
            expect(await checkExperts(variant, kind, t, c), JSON.stringify(c)).toBeLessThanOrEqual(1);
          }
        }, 120_000);
      }
    }
  }
});
