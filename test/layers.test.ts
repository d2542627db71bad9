import { describe, expect, it } from 'vitest';
import { Allocator, readBuffer, writeBuffer } from '../src/gpu/buffers.ts';
import { buildEmbedding } from '../src/kernels/embedding.ts';
import { buildRope, ONE_TABLE, ropeInvFreq } from '../src/kernels/rope.ts';
import { attentionWorkgroup, buildAttention, canDecodeByDims, canDecodeFlat, canDecodeWide, chooseDecodeWide, decodeByDims, decodeFlat } from '../src/kernels/attention.ts';
import { autotuneChoices, resetAutotune } from '../src/kernels/autotune.ts';
import { buildSwiglu } from '../src/kernels/swiglu.ts';
import { attentionRef, attnGateRef, embeddingRef, positionsRef, erfRef, qkNormRef, ropeRef, shortConvRef, softcapRef, swigluRef } from '../src/kernels/ref/layers.ts';
import { buildAttnGate } from '../src/kernels/attn_gate.ts';
import { buildPositions } from '../src/kernels/positions.ts';
import { buildShortConv } from '../src/kernels/shortconv.ts';
import { buildSoftcap } from '../src/kernels/softcap.ts';
import { buildRmsnorm } from '../src/kernels/rmsnorm.ts';
import { rmsnormRef } from '../src/kernels/ref/rmsnorm.ts';
import { buildQkNorm } from '../src/kernels/qk_norm.ts';
import { KV_CACHE_TYPES, kvCacheBytes, type KvCacheType } from '../src/kernels/kv_layout.ts';
import { kvPack, kvUnpack } from '../src/kernels/ref/kv_cache.ts';
import { quantizeQ8_0 } from '../src/kernels/ref/matmul.ts';
import type { Gpu } from '../src/gpu/device.ts';
import { randn, rng, run, setStep, stepBuffer, testGpu, VARIANTS, worstRatio } from './helpers/gpu.ts';
import { f32Takes, pairs, placeIn, spread } from './helpers/cover.ts';
import { packInputs } from '../src/model/pass_inputs.ts';

const f32 = async (gpu: Parameters<typeof readBuffer>[0], b: GPUBuffer, n: number) => new Float32Array(await readBuffer(gpu, b, n * 4));
/** Each case compiles the pipelines of every K/V type (lavapipe, a loaded machine: minutes). */
const COMPILE_TIMEOUT = 900_000;
const u32 = async (gpu: Parameters<typeof readBuffer>[0], b: GPUBuffer) => new Uint32Array(await readBuffer(gpu, b, b.size));

/** One table of frequencies (base 10000), or LongRoPE's two with mscale 1.25 when longFrom is set. */
/** tempFloor: Ministral 3's attention temperature over that many positions (beta 0.25); 0: none. */
function ropeTable(nRot: number, longFrom: number, tempFloor = 0) {
  const two = longFrom !== ONE_TABLE;
  const invFreq = new Float32Array((two ? 2 : 1) * (nRot / 2));
  invFreq.set(ropeInvFreq(nRot, 10000));
  if (two) invFreq.set(ropeInvFreq(nRot, 10000, { extFactors: Array.from({ length: nRot / 2 }, (_, i) => 1 + i) }), nRot / 2);
  return { invFreq, longFrom, mscale: two ? 1.25 : 1, tempBeta: tempFloor ? 0.25 : 0, tempFloor };
}
/** The prefill attention does no RoPE. */
const noRope = (alloc: Allocator, headDim: number) => ({ nRot: headDim, neox: false, invFreq: alloc.storage('inv', headDim * 2), longFrom: ONE_TABLE, mscale: 1 });

/**
 * Rotated K as stored, against the CPU's: GPU cos/sin differ from the CPU's by an ULP or so, which can move
 * a value across a rounding boundary of the format (one f16 ULP, one int8 or fp8 step of its head's scale);
 * nearly all elements must still be equal within 1e-4.
 */
function expectCacheK(kvType: KvCacheType, got: Float32Array, want: Float32Array): void {
  const step = { f32: [1e-4, 1e-4], f16: [1e-4, 2e-3], int8: [0.05, 0], 'fp8-e4m3': [1e-3, 0.15] }[kvType];
  expect(worstRatio(got, want, step[0], step[1]), kvType).toBeLessThanOrEqual(1);
  let close = 0;
  for (let i = 0; i < got.length; i++) if (Math.abs(got[i] - want[i]) <= 1e-4 * (1 + Math.abs(want[i]))) close++;
  expect(close / got.length, kvType).toBeGreaterThanOrEqual(0.98);
}

// The attention tables (the comments at their tests say what the columns are). Each case runs some of the entry points
// the adapter can take, each with one K/V type, spread over the table (test/helpers/cover.ts): every pair runs.
type PrefillCase = [number, number, number, number, number, number, number, number, number, number, number[]?];
const PREFILL_CASES: PrefillCase[] = [
  [4, 2, 8, 0, 5, 0, 512, 0, 0, 0], // 4 queries per workgroup (2 tokens), the last tile of tokens partial
  [8, 4, 8, 30, 1, 0, 512, 0, 32, 0],
  [2, 2, 64, 70, 3, 0, 512, 0, 0, 0],
  [4, 1, 128, 0, 100, 0, 512, 0, 0, 0],
  [3, 1, 4, 9, 40, 0, 512, 0, 0, 0], // 3 queries per workgroup (1 token)
  [3, 1, 4, 9, 40, 0, 512, 0, 32, 0],
  [2, 1, 96, 200, 1, 0, 512, 0, 0, 0],
  [9, 3, 64, 150, 1, 0, 512, 0, 0, 0],
  [9, 3, 64, 0, 70, 0, 512, 0, 32, 0], // past one tile of keys
  [9, 3, 64, 0, 70, 0, 512, 0, 16, 0],
  [4, 2, 16, 0, 30, 12, 512, 0, 0, 0], // window inside one prefill pass
  [4, 2, 16, 40, 6, 12, 17, 0, 0, 0], // ring of W - 1 + T rows, wrapped
  [4, 2, 32, 100, 1, 8, 8, 15, 0, 0], // decode far past the window, softcap
  [2, 1, 256, 20, 3, 0, 512, 0, 0, 0], // Gemma's head_dim 256
  [4, 2, 256, 300, 2, 10, 11, 5, 0, 0],
  // bidirectional (1): a query also sees the pass's later keys (EmbeddingGemma), window - 1 either side
  [4, 2, 16, 0, 30, 0, 512, 0, 0, 1],
  [4, 2, 16, 0, 30, 6, 512, 0, 0, 1],
  [4, 2, 16, 10, 12, 4, 512, 0, 0, 1], // after cached positions: those and the pass's keys
  [3, 1, 4, 0, 40, 0, 512, 0, 0, 1],
  [9, 3, 64, 0, 70, 0, 512, 0, 32, 1],
  [2, 1, 256, 0, 20, 5, 512, 0, 0, 1],
  // several inputs in one pass (the *_inputs entry points): each token's keys within its own input
  [4, 2, 8, 0, 5, 0, 512, 0, 0, 1, [1, 1, 2, 1]], // 2 tokens a workgroup, across inputs
  [4, 2, 16, 0, 20, 0, 512, 0, 0, 1, [3, 7, 1, 9]],
  [4, 2, 16, 0, 30, 6, 512, 0, 0, 1, [10, 15, 5]], // windows inside the inputs
  [3, 1, 4, 0, 40, 0, 512, 0, 0, 0, [13, 27]], // causal within each input
  [9, 3, 64, 0, 70, 0, 512, 0, 32, 1, [20, 30, 20]], // past one tile of keys
  [2, 1, 256, 0, 20, 5, 512, 0, 0, 1, [5, 15]],
];
const BIAS_CASES: [number, number, number, number, number, number, number, number[]][] = [
  [4, 4, 16, 0, 12, 3, 0, [12]], // keys further than R = 3 away take the last bias
  [4, 4, 16, 0, 20, 19, 8, [7, 13]], // R the pass's length: no clamp; a GPU's workgroup
  [2, 1, 64, 0, 30, 8, 0, [10, 1, 19]], // grouped queries, inputs of one token
  [3, 3, 8, 5, 9, 4, 0, [9]], // after cached positions (their keys outside the input: not seen)
  [2, 2, 256, 0, 11, 5, 0, [11]], // heads of 256
  [2, 2, 256, 0, 11, 5, 32, [11]], // a workgroup of 32 asked: as many lanes as fit the merge's workgroup memory
];
type DecodeCase = [number, number, number, number, boolean, number, number, number, number, number, number];
const DECODE_CASES: DecodeCase[] = [
  [4, 2, 8, 8, false, 0, 512, 0, 1, 0, 0],
  [4, 2, 8, 8, false, 0, 512, 0, 4, 0, 0], // one key, four splits: three of them empty
  [9, 3, 64, 64, false, 150, 512, 0, 3, 0, 0],
  [9, 3, 64, 64, false, 1000, 1024, 0, 1, 0, 0], // many tiles of keys in one split
  [9, 3, 64, 32, true, 2047, 2048, 0, 16, 0, 0], // 2,048 keys over 16 splits, partial rotation
  [9, 3, 64, 32, true, 333, 2048, 0, 4, 0, 32],
  [9, 3, 64, 32, true, 2047, 2048, 0, 16, 0, 16], // a GPU's workgroup: 16 splits of 128 keys
  [4, 2, 128, 128, false, 61, 512, 0, 3, 0, 16], // a partial last group of 4 keys, two vec4s of V a lane
  [8, 4, 16, 16, true, 100, 512, 0, 5, 0, 0],
  [4, 2, 32, 32, false, 100, 8, 8, 2, 15, 0], // window ring far past the window, softcap
  [4, 2, 16, 16, true, 40, 17, 12, 3, 0, 0], // ring of W - 1 + T rows, wrapped
  [4, 2, 16, 16, true, 40, 17, 12, 1, 0, 32],
  [2, 1, 256, 256, false, 300, 512, 0, 7, 0, 0], // Gemma's head_dim 256
  [3, 1, 4, 4, false, 33, 64, 0, 2, 0, 0],
  [14, 2, 128, 128, true, 77, 512, 0, 1, 0, 0], // decode_flat: 7 queries a kv head (two passes), two quarters of a head
  [6, 1, 96, 96, false, 20, 64, 0, 1, 0, 0], // decode_flat: a partial second quarter (6 vec4s a lane)
];

/** The prefill entry points an adapter runs for heads of `headDim` (wg 0: its default workgroup). */
function prefillModes(caps: Gpu['caps'], headDim: number, wg: number): string[] {
  const dims = canDecodeByDims(caps, wg || attentionWorkgroup(caps.cpu));
  return ['keys', ...(dims ? ['dims', 'dims1'] : []), ...(canDecodeFlat(caps, headDim) ? ['flat'] : [])];
}
/** The decode entry points: the prefill's, and decode_wide where the queries of a kv head fit it. */
function decodeModes(caps: Gpu['caps'], nHead: number, nKv: number, headDim: number, wg: number): string[] {
  return [...prefillModes(caps, headDim, wg), ...(canDecodeWide(caps, nHead / nKv, headDim) ? ['wide'] : [])];
}
/** prefill_bias by keys; by head dimensions in blocks of keys (the default); a key at a time (attend_each). */
const BIAS_WAYS = [{ prefillDims: false }, {}, { keyBlocks: false }];
/** The ways that differ on an adapter: by keys alone where it cannot take the prefill by head dimensions. */
const biasWays = (caps: Gpu['caps'], wg: number) => (canDecodeByDims(caps, wg || attentionWorkgroup(caps.cpu)) ? BIAS_WAYS : BIAS_WAYS.slice(0, 1));

/**
 * Each attention table's cases on a device variant, the pairs of an entry point (or way) and a K/V type a case can run on
 * an adapter, and those it runs: one a case for the prefill, as many as the adapter's ways (two at least) for prefill_bias,
 * half as many as the adapter's entry points for the decode. The f32 variant (no subgroups: the by-keys entry points only) runs every second case.
 */
function attentionTable<C, M>(variant: (typeof VARIANTS)[number], all: C[], pairsOf: (caps: Gpu['caps'], c: C) => [M, KvCacheType][], per: (caps: Gpu['caps'], cases: C[]) => number) {
  const cases = f32Takes(variant, all);
  return { cases, pairsOf, picks: (caps: Gpu['caps']) => spread(cases, (c) => pairsOf(caps, c), per(caps, cases)) };
}
const attentionTables = (variant: (typeof VARIANTS)[number]) => ({
  prefill: attentionTable(variant, PREFILL_CASES, (caps, c) => pairs(prefillModes(caps, c[2], c[8]), KV_CACHE_TYPES), () => 1),
  bias: attentionTable(variant, BIAS_CASES, (caps, c) => pairs(biasWays(caps, c[6]), KV_CACHE_TYPES), (caps) => Math.max(2, biasWays(caps, 0).length)),
  decode: attentionTable(
    variant,
    DECODE_CASES,
    (caps, c) => pairs(decodeModes(caps, c[0], c[1], c[2], c[10]), KV_CACHE_TYPES),
    (caps, cases) => Math.max(1, Math.floor(Math.max(...cases.map((c) => decodeModes(caps, c[0], c[1], c[2], c[10]).length)) / 2)),
  ),
});

describe.each(VARIANTS)('layer kernels (%s)', (variant) => {
  const tables = attentionTables(variant);
  it('embedding gathers f32 rows across a split table', async () => {
    const gpu = await testGpu(variant);
    const alloc = new Allocator(gpu);
    const dim = 14, vocab = 50; // rows padded to 16 floats on the GPU
    const table = randn(rng(1), vocab * dim);
    const ids = [3, 49, 0, 20, 25, 3];
    // two chunks: rows 0..24 and 25..49
    const padded = (r0: number) => {
      const out = new Float32Array(25 * 16);
      for (let r = 0; r < 25; r++) out.set(table.subarray((r0 + r) * dim, (r0 + r + 1) * dim), r * 16);
      return out;
    };
    const chunks = [0, 25].map((rowStart) => ({ rowStart, rows: 25, data: alloc.upload('t', padded(rowStart)) }));
    const idsB = alloc.upload('ids', new Uint32Array(ids));
    const x = alloc.storage('x', ids.length * dim * 4);
    const d = await buildEmbedding(gpu, alloc, { table: { format: 'f32', rows: vocab, cols: dim, chunks }, ids: idsB, x, step: stepBuffer(alloc, { n_tokens: ids.length }) });
    run(gpu, d, ids.length);
    expect(Array.from(await f32(gpu, x, ids.length * dim))).toEqual(Array.from(embeddingRef(table, dim, ids)));
    alloc.destroyAll();
  });

  // ring: cache rows (position p in row p % ring); longFrom: LongRoPE's switch to the second table
  it.each([
    [4, 2, 8, 8, false, 0, 5, 128, ONE_TABLE],
    [4, 4, 16, 16, true, 7, 3, 128, ONE_TABLE],
    [2, 1, 64, 32, false, 100, 1, 128, ONE_TABLE],
    [6, 2, 16, 8, true, 3, 4, 128, ONE_TABLE],
    [4, 2, 16, 12, true, 10, 6, 9, 4], // ring of 9 wraps; long table (pos + T > 4)
    [4, 2, 16, 12, true, 0, 4, 9, 4], // short table: pos + T = 4
    [4, 2, 16, 16, false, 3, 6, 128, ONE_TABLE, 4], // q's temperature over 4 positions: 1 at 3, then ln 2, ln 3 steps
  ])('rope + kv write, n_head=%i n_kv=%i hd=%i n_rot=%i neox=%s pos=%i T=%i ring=%i long_from=%i temp_floor=%s', async (nHead, nKv, headDim, nRot, neox, pos, T, ring, longFrom, tempFloor = 0) => {
    const gpu = await testGpu(variant);
    const alloc = new Allocator(gpu);
    const kvDim = nKv * headDim, row = nHead * headDim + 2 * kvDim;
    const qkv = randn(rng(nHead + pos), T * row);
    const table = ropeTable(nRot, longFrom, tempFloor);
    for (const kvType of KV_CACHE_TYPES) {
      const qkvB = alloc.upload('qkv', qkv), kv = alloc.storage('kv', kvCacheBytes(kvType, ring, nKv, headDim));
      const d = await buildRope(gpu, alloc, {
        nHead, nKv, headDim, nRot, neox, ...table, invFreq: alloc.upload('inv', table.invFreq), kvType, cacheLen: ring, kv, qkv: qkvB,
        step: stepBuffer(alloc, { n_tokens: T, pos }),
      });
      run(gpu, [d], T);
      const kRef = new Float32Array(ring * kvDim), vRef = new Float32Array(ring * kvDim), qRef = qkv.slice();
      ropeRef({ nHead, nKv, headDim, nRot, neox }, table, qRef, T, pos, kRef, vRef, ring, kvType);
      expect(worstRatio(await f32(gpu, qkvB, T * row), qRef, 1e-4, 1e-4), kvType).toBeLessThanOrEqual(1);
      const got = kvUnpack(kvType, await u32(gpu, kv), ring, nKv, headDim);
      expectCacheK(kvType, got.k, kRef);
      expect(worstRatio(got.v, vRef, 0, 0), kvType).toBeLessThanOrEqual(1); // V is not rotated: the same bits
    }
    alloc.destroyAll();
  }, COMPILE_TIMEOUT);

  // The adapter's workgroup (8 on lavapipe, a CPU) and a GPU's (32) rotate and store the same bits.
  it.each(KV_CACHE_TYPES)('rope + kv write: workgroups of 8 and 32 give the same bits (%s cache)', async (kvType) => {
    const gpu = await testGpu(variant);
    const alloc = new Allocator(gpu);
    const [nHead, nKv, headDim, T, ring] = [6, 2, 64, 5, 16];
    const row = (nHead + 2 * nKv) * headDim;
    const qkv = randn(rng(99), T * row, 2);
    const table = ropeTable(48, ONE_TABLE);
    const outs: number[][] = [];
    for (const wg of [8, 32]) {
      const qkvB = alloc.upload('qkv', qkv), kv = alloc.storage('kv', kvCacheBytes(kvType, ring, nKv, headDim));
      const d = await buildRope(gpu, alloc, {
        nHead, nKv, headDim, nRot: 48, neox: true, ...table, invFreq: alloc.upload('inv', table.invFreq), kvType, cacheLen: ring, kv, qkv: qkvB,
        step: stepBuffer(alloc, { n_tokens: T, pos: 14 }), wg,
      });
      run(gpu, [d], T);
      outs.push([...(await u32(gpu, qkvB)), ...(await u32(gpu, kv))]);
    }
    expect(outs[1]).toEqual(outs[0]);
    alloc.destroyAll();
  }, COMPILE_TIMEOUT);

  // window 0 = full attention over a cache of `ring` rows (512: no wrap); softcap 0 = off; wg 0 = the adapter's
  // workgroup size (8 on lavapipe), 16 = a GPU's, 32 its earlier one. A workgroup takes up to 4 queries: GROUP heads x TQ tokens (prefillTokens).
  it.each(tables.prefill.cases)('attention (prefill) n_head=%i n_kv=%i hd=%i pos=%i T=%i window=%i ring=%i softcap=%i wg=%i bidirectional=%i inputs=%j', async (nHead, nKv, headDim, pos, T, window, ring, softcap, wg, bi, lengths?: number[]) => {
    const gpu = await testGpu(variant);
    const alloc = new Allocator(gpu);
    const kvDim = nKv * headDim, qDim = nHead * headDim, row = qDim + 2 * kvDim;
    const r = rng(headDim * 7 + pos);
    const qkv = randn(r, T * row), kCache = randn(r, ring * kvDim), vCache = randn(r, ring * kvDim);
    const scale = 0.3 / Math.sqrt(headDim) * (softcap ? 20 : 1); // softcap: scores large enough to be capped
    const inputs = lengths?.map((length) => ({ length }));
    const o = { scale, window, cacheLen: ring, softcap, bidirectional: bi === 1, inputs };
    // One of the prefill entry points the adapter can run (prefill_dims as decode_dims: subgroups of the workgroup's
    // size; prefill_flat as decode_flat: subgroups of 4 or more) with one K/V type, spread over the table.
    const place = placeIn(tables.prefill.cases, [nHead, nKv, headDim, pos, T, window, ring, softcap, wg, bi, lengths]);
    for (const [mode, kvType] of tables.prefill.picks(gpu.caps)[place]) {
      // dims: keys in blocks of the workgroup's lanes (attend_blocks, the default); dims1: one at a time (attend_each)
      const prefillDims = mode.startsWith('dims'), flat = mode === 'flat', keyBlocks = mode === 'dims';
      const out = alloc.storage('out', T * qDim * 4);
      const kv = alloc.upload('kv', kvPack(kvType, kCache, vCache, nKv, headDim));
      const stored = kvUnpack(kvType, kvPack(kvType, kCache, vCache, nKv, headDim), ring, nKv, headDim); // what the kernel reads
      const d = await buildAttention(gpu, alloc, {
        nHead, nKv, headDim, ...o, kvType, kv, rope: noRope(alloc, headDim), nSplit: 1, qkv: alloc.upload('qkv', qkv), out,
        step: stepBuffer(alloc, { n_tokens: T, pos }), wg: wg || undefined, prefillDims, flat, keyBlocks,
        inputs: inputs && alloc.upload('inputs', packInputs(inputs)),
      });
      run(gpu, [inputs ? d.prefillInputs! : d.prefill], T);
      const want = attentionRef({ nHead, nKv, headDim }, qkv, T, pos, stored.k, stored.v, o);
      // prefill_dims and prefill_flat sum a score's partial dots over lanes (decode_dims' order and tolerance).
      const [atol, rtol] = mode === 'keys' ? [1e-5, 1e-4] : [1e-4, 1e-3];
      expect(worstRatio(await f32(gpu, out, T * qDim), want, atol, rtol), `${kvType} ${mode}`).toBeLessThanOrEqual(1);
    }
    alloc.destroyAll();
  }, COMPILE_TIMEOUT);

  // prefill_bias (MPNet, T5, jina-bert-v2): a bias by relative position on every score, clamped at R, each token within
  // its input; by keys (prefill_bias), and where the adapter takes the prefill by head dimensions (prefill_dims_bias)
  it.each(tables.bias.cases)('attention (prefill_bias) n_head=%i n_kv=%i hd=%i pos=%i T=%i reach=%i wg=%i inputs=%j', async (nHead, nKv, headDim, pos, T, reach, wg, lengths: number[]) => {
    const gpu = await testGpu(variant);
    const alloc = new Allocator(gpu);
    const kvDim = nKv * headDim, qDim = nHead * headDim, row = qDim + 2 * kvDim, ring = pos + T;
    const r = rng(headDim * 11 + T);
    const qkv = randn(r, T * row), kCache = randn(r, ring * kvDim), vCache = randn(r, ring * kvDim);
    const relBias = randn(r, nHead * (2 * reach + 1));
    const inputs = lengths.map((length) => ({ length }));
    const o = { scale: 0.3 / Math.sqrt(headDim), window: 0, cacheLen: ring, softcap: 0, bidirectional: true, inputs, relBias };
    // Some of the ways (BIAS_WAYS), each with one K/V type, spread over the table.
    const place = placeIn(tables.bias.cases, [nHead, nKv, headDim, pos, T, reach, wg, lengths]);
    for (const [way, kvType] of tables.bias.picks(gpu.caps)[place]) {
      const out = alloc.storage('out', T * qDim * 4);
      const packed = kvPack(kvType, kCache, vCache, nKv, headDim);
      const stored = kvUnpack(kvType, packed, ring, nKv, headDim);
      const d = await buildAttention(gpu, alloc, {
        nHead, nKv, headDim, ...o, kvType, kv: alloc.upload('kv', packed), rope: noRope(alloc, headDim), nSplit: 1, qkv: alloc.upload('qkv', qkv), out, ...way,
        step: stepBuffer(alloc, { n_tokens: T, pos }), wg: wg || undefined, inputs: alloc.upload('inputs', packInputs(inputs)), relBias: alloc.upload('bias', relBias),
      });
      expect(d.prefillInputs).toBe(d.prefill);
      expect(d.prefill.label).toMatch(way.prefillDims === false || wg > 8 || variant === 'f32' ? /prefill_bias/ : /prefill_dims_bias/);
      run(gpu, [d.prefill], T);
      const want = attentionRef({ nHead, nKv, headDim }, qkv, T, pos, stored.k, stored.v, o);
      expect(worstRatio(await f32(gpu, out, T * qDim), want, 1e-5, 1e-4), `${kvType} ${d.prefill.label}`).toBeLessThanOrEqual(1);
      // (the bias counts: without it the reference parts from the kernel)
      expect(worstRatio(attentionRef({ nHead, nKv, headDim }, qkv, T, pos, stored.k, stored.v, { ...o, relBias: undefined }), want, 1e-3, 1e-2)).toBeGreaterThan(1);
    }
    alloc.destroyAll();
  }, COMPILE_TIMEOUT);

  // decode: RoPE of q and the new k, the K/V write and split-K attention in one dispatch, then the merge
  // n_split 1: the decode writes the output itself (no merge); wg as in the prefill's cases
  it.each(tables.decode.cases)('attention (decode) n_head=%i n_kv=%i hd=%i n_rot=%i neox=%s pos=%i ring=%i window=%i n_split=%i softcap=%i wg=%i', async (nHead, nKv, headDim, nRot, neox, pos, ring, window, nSplit, softcap, wg) => {
    const gpu = await testGpu(variant);
    const alloc = new Allocator(gpu);
    const kvDim = nKv * headDim, qDim = nHead * headDim, row = qDim + 2 * kvDim;
    const r = rng(headDim * 5 + pos + nSplit);
    const qkv = randn(r, row), kCache = randn(r, ring * kvDim), vCache = randn(r, ring * kvDim);
    const scale = 0.3 / Math.sqrt(headDim) * (softcap ? 20 : 1);
    const o = { scale, window, cacheLen: ring, softcap };
    const table = ropeTable(nRot, ONE_TABLE);
    // Half as many decode entry points as the adapter runs (decode_dims: subgroups of the workgroup's size; decode_flat:
    // subgroups of 4 or more; decode_wide: its own 64 lanes, whatever wg says), each with one K/V type, spread over the
    // table; every split count goes through the merge.
    const place = placeIn(tables.decode.cases, [nHead, nKv, headDim, nRot, neox, pos, ring, window, nSplit, softcap, wg]);
    for (const [mode, kvType] of tables.decode.picks(gpu.caps)[place]) {
      const decodeDims = mode.startsWith('dims'), flat = mode === 'flat', wide = mode === 'wide', keyBlocks = mode === 'dims';
      const out = alloc.storage('out', qDim * 4);
      const kv = alloc.upload('kv', kvPack(kvType, kCache, vCache, nKv, headDim));
      const stored = kvUnpack(kvType, kvPack(kvType, kCache, vCache, nKv, headDim), ring, nKv, headDim);
      const rope = { nRot, neox, ...table, invFreq: alloc.upload('inv', table.invFreq) };
      // Asked everywhere for the output in Q8_0 too: written where decode_dims runs one split with 8 invocations, and
      // by decode_flat, for heads of whole 32-blocks.
      const outQ8 = { codes: alloc.storage('oq', qDim), scales: alloc.storage('od', qDim / 8) };
      const d = await buildAttention(gpu, alloc, {
        nHead, nKv, headDim, ...o, kvType, kv, rope, nSplit, qkv: alloc.upload('qkv', qkv), out, step: stepBuffer(alloc, { n_tokens: 1, pos }),
        wg: wg || undefined, decodeDims, flat, wide, outQ8, keyBlocks,
      });
      const q8Dims = decodeDims && (wg || attentionWorkgroup(gpu.caps.cpu)) === 8;
      expect(d.decodeQ8).toBe((q8Dims || flat) && nSplit === 1 && headDim % 32 === 0);
      run(gpu, d.decode, 1);
      if (d.decodeQ8) {
        // Exactly what quantize_x makes of the f32 output the kernel wrote.
        const ref = quantizeQ8_0(await f32(gpu, out, qDim), 1, qDim);
        expect(Array.from(new Int8Array(await readBuffer(gpu, outQ8.codes, qDim))), `${kvType} ${mode} codes`).toEqual(Array.from(ref.q));
        expect(Array.from(await f32(gpu, outQ8.scales, qDim / 32)), `${kvType} ${mode} scales`).toEqual(Array.from(ref.d));
      }
      const q = qkv.slice();
      ropeRef({ nHead, nKv, headDim, nRot, neox }, table, q, 1, pos, stored.k, stored.v, ring, kvType);
      const want = attentionRef({ nHead, nKv, headDim }, q, 1, pos, stored.k, stored.v, o);
      const what = `${kvType} ${mode}`;
      expect(worstRatio(await f32(gpu, out, qDim), want, 1e-4, 1e-3), what).toBeLessThanOrEqual(1);
      const got = kvUnpack(kvType, await u32(gpu, kv), ring, nKv, headDim);
      expectCacheK(kvType, got.k, stored.k); // the new row as the prefill writer makes it, the others untouched
      expect(worstRatio(got.v, stored.v, 0, 0), kvType).toBeLessThanOrEqual(1);
    }
    alloc.destroyAll();
  }, COMPILE_TIMEOUT);

  it('the attention tables run every pair of an entry point and a K/V type that a case of theirs can run here', async () => {
    const { caps } = await testGpu(variant);
    for (const [name, table] of Object.entries(tables) as [string, ReturnType<typeof attentionTable<unknown, unknown>>][]) {
      const can = new Set(table.cases.flatMap((c) => table.pairsOf(caps, c).map((p) => JSON.stringify(p))));
      const ran = new Set(table.picks(caps).flat().map((p) => JSON.stringify(p)));
      expect([...ran].sort(), name).toEqual([...can].sort());
    }
  });

  // Which way wins is the device's business (no timing asserted): both are timed, the answer is the recorded choice,
  // and the same shape again is the cached choice.
  it('decode attention\'s trial (autotune) times the default entry point and decode_wide, and keeps one', async () => {
    const gpu = await testGpu(variant);
    resetAutotune();
    const alloc = new Allocator(gpu);
    const table = ropeTable(64, ONE_TABLE);
    const rope = { nRot: 64, neox: false, ...table, invFreq: alloc.upload('inv', table.invFreq) };
    const args = { nHead: 9, nKv: 3, headDim: 64, scale: 0.125, window: 0, softcap: 0, kvType: 'f16' as const, cacheLen: 300, maxKeys: 300, rope };
    const wide = await chooseDecodeWide(gpu, args);
    const made = await autotuneChoices(gpu.caps.adapterName);
    expect(made).toHaveLength(1);
    expect(made[0]).toMatchObject({ path: 'attention', key: 'attention f16 heads=9/3 hd=64 keys=300 ring=300 decode' });
    expect(Object.keys(made[0].us)).toEqual(['default', 'wide']);
    expect(Object.values(made[0].us).every((us) => us > 0 && Number.isFinite(us))).toBe(true);
    expect(made[0].chosen).toBe(wide ? 'wide' : 'default');
    expect(await chooseDecodeWide(gpu, args)).toBe(wide);
    expect(await autotuneChoices(gpu.caps.adapterName)).toHaveLength(1);
    // A head decode_wide cannot take is not tried.
    expect(await chooseDecodeWide(gpu, { ...args, nHead: 64, nKv: 1, headDim: 256 })).toBe(false);
    expect(await autotuneChoices(gpu.caps.adapterName)).toHaveLength(1);
    resetAutotune();
    alloc.destroyAll();
  }, COMPILE_TIMEOUT);

  it('decode_dims is chosen only on a CPU adapter whose subgroups are known to be the workgroup\'s size', async () => {
    const gpu = await testGpu(variant);
    const caps = { ...gpu.caps, cpu: true, subgroups: true, subgroupMinSize: 8, subgroupMaxSize: 8 };
    expect(decodeByDims(caps, 8)).toBe(true);
    expect(decodeByDims({ ...caps, cpu: false }, 8)).toBe(false);
    expect(decodeByDims({ ...caps, subgroups: false }, 8)).toBe(false);
    expect(decodeByDims({ ...caps, subgroupMinSize: 4 }, 8)).toBe(false);
    expect(decodeByDims({ ...caps, subgroupMinSize: undefined, subgroupMaxSize: undefined }, 8)).toBe(false);
    expect(decodeByDims(caps, 32)).toBe(false);
    if (canDecodeByDims(gpu.caps, 32)) return;
    // Forced where it cannot run: a typed error before anything is compiled.
    const alloc = new Allocator(gpu);
    const table = ropeTable(8, ONE_TABLE);
    const args = {
      nHead: 2, nKv: 1, headDim: 8, scale: 1, window: 0, softcap: 0, kvType: 'f16' as const, cacheLen: 4, kv: alloc.storage('kv', 4096),
      rope: { nRot: 8, neox: false, ...table, invFreq: alloc.upload('inv', table.invFreq) }, nSplit: 1, qkv: alloc.storage('qkv', 128),
      out: alloc.storage('out', 64), step: stepBuffer(alloc, { n_tokens: 1 }), wg: 32, decodeDims: true,
    };
    await expect(buildAttention(gpu, alloc, args)).rejects.toMatchObject({ code: 'UNSUPPORTED', message: expect.stringMatching(/subgroups/) });
    alloc.destroyAll();
  });

  it('decode_flat is chosen on SwiftShader, for heads of at most 256 dimensions', async () => {
    const gpu = await testGpu(variant);
    const caps = { ...gpu.caps, cpu: true, adapterName: 'google swiftshader', subgroups: true, subgroupMinSize: 4, subgroupMaxSize: 4 };
    expect(decodeFlat(caps, 64)).toBe(true);
    expect(decodeFlat(caps, 256)).toBe(true);
    expect(decodeFlat(caps, 512)).toBe(false);
    expect(decodeFlat({ ...caps, subgroups: false }, 64)).toBe(false);
    expect(decodeFlat({ ...caps, adapterName: 'llvmpipe (LLVM 15.0.6, 256 bits)', subgroupMinSize: 8, subgroupMaxSize: 8 }, 64)).toBe(false);
  });

  it('a head shape whose queries do not fit the workgroup memory is a typed UNSUPPORTED, before anything compiles', async () => {
    const gpu = await testGpu();
    const alloc = new Allocator(gpu);
    const hd = 128; // 64 query heads on one kv head (multi-query): the queries and the new K/V staged need 33 KiB
    const table = ropeTable(hd, ONE_TABLE);
    const args = {
      nHead: 64, nKv: 1, headDim: hd, scale: 1, window: 0, softcap: 0, kvType: 'f16' as const, cacheLen: 4, kv: alloc.storage('kv', 4096),
      rope: { nRot: hd, neox: false, ...table, invFreq: alloc.upload('inv', table.invFreq) }, nSplit: 1, qkv: alloc.storage('qkv', 4 * 66 * hd),
      out: alloc.storage('out', 4 * 64 * hd), step: stepBuffer(alloc, { n_tokens: 1 }),
    };
    expect(gpu.caps.maxWorkgroupStorageSize).toBeLessThan(66 * hd * 4); // the premise (lavapipe: 32 KiB)
    await expect(buildAttention(gpu, alloc, args)).rejects.toMatchObject({ code: 'UNSUPPORTED', message: expect.stringMatching(/64 query heads per kv head/) });
    // decode_wide's weights and partial outputs need more: 20 queries of 128 fit the other entry points, not it.
    const twenty = { ...args, nHead: 20 };
    expect(canDecodeWide(gpu.caps, 20, hd)).toBe(false);
    await expect(buildAttention(gpu, alloc, { ...twenty, wide: true })).rejects.toMatchObject({ code: 'UNSUPPORTED', message: expect.stringMatching(/decode_wide takes heads of at most 256 dimensions whose 20 queries fit/) });
    await expect(buildAttention(gpu, alloc, { ...args, nHead: 2, wide: true, nSplit: 65 })).rejects.toMatchObject({ code: 'UNSUPPORTED', message: expect.stringMatching(/decode merges at most 64 splits, not 65/) });
    alloc.destroyAll();
  });

  it('a window ring gives the full cache\'s result for every window, whatever was overwritten', () => {
    const nHead = 2, nKv = 1, hd = 8, W = 5, T = 3, pos = 20, ring = W - 1 + T;
    const r = rng(4);
    const qkv = randn(r, T * (nHead + 2 * nKv) * hd), full = randn(r, (pos + T) * nKv * hd), fullV = randn(r, (pos + T) * nKv * hd);
    const k = new Float32Array(ring * nKv * hd), v = new Float32Array(ring * nKv * hd);
    for (let p = 0; p < pos + T; p++) {
      k.set(full.subarray(p * hd, (p + 1) * hd), (p % ring) * hd);
      v.set(fullV.subarray(p * hd, (p + 1) * hd), (p % ring) * hd);
    }
    const s = { nHead, nKv, headDim: hd };
    expect(attentionRef(s, qkv, T, pos, k, v, { window: W, cacheLen: ring })).toEqual(attentionRef(s, qkv, T, pos, full, fullV, { window: W }));
  });

  it('softcap of logits, and RMSNorm added into the residual', async () => {
    const gpu = await testGpu(variant);
    const alloc = new Allocator(gpu);
    const logits = randn(rng(8), 1000, 40);
    const buf = alloc.upload('l', logits);
    run(gpu, [await buildSoftcap(gpu, alloc, { n: 1000, cap: 30, x: buf, step: stepBuffer(alloc) })], 1);
    expect(worstRatio(await f32(gpu, buf, 1000), softcapRef(logits.slice(), 30), 1e-5, 1e-5)).toBeLessThanOrEqual(1);
    const T = 3, D = 80;
    const x = randn(rng(2), T * D, 3), w = randn(rng(3), D), res = randn(rng(4), T * D);
    const y = alloc.upload('y', res);
    run(gpu, [await buildRmsnorm(gpu, alloc, { dim: D, eps: 1e-6, step: stepBuffer(alloc, { n_tokens: T }), x: alloc.upload('x', x), weight: alloc.upload('w', w), y, add: true })], T);
    const want = rmsnormRef(x, w, D, 1e-6).map((v, i) => v + res[i]);
    expect(worstRatio(await f32(gpu, y, T * D), want, 1e-5, 1e-5)).toBeLessThanOrEqual(1);
    alloc.destroyAll();
  });

  it.each([[3, 0], [1, 17], [4, 9]])('positions: T=%i from pos %i adds the table\'s rows pos.. in place, the pass\'s tokens only', async (T, pos) => {
    const gpu = await testGpu(variant);
    const alloc = new Allocator(gpu);
    const dim = 72;
    const x = randn(rng(7 + pos), (T + 1) * dim, 2), table = randn(rng(8), 32 * dim, 1);
    const buf = alloc.upload('x', x);
    run(gpu, [await buildPositions(gpu, alloc, { dim, table: alloc.upload('table', table), x: buf, step: stepBuffer(alloc, { n_tokens: T, pos }) })], T);
    const got = await f32(gpu, buf, (T + 1) * dim);
    expect(worstRatio(got.subarray(0, T * dim), positionsRef(x.subarray(0, T * dim), table, dim, pos), 1e-6, 1e-6)).toBeLessThanOrEqual(1);
    expect(got.subarray(T * dim)).toEqual(x.subarray(T * dim)); // a row past n_tokens is left as it was
    alloc.destroyAll();
  });

  it('attn_gate: the attention output times sigmoid(gate), the pass\'s tokens only', async () => {
    const gpu = await testGpu(variant);
    const alloc = new Allocator(gpu);
    const T = 3, width = 72;
    const out = randn(rng(5), (T + 1) * width, 2), gate = randn(rng(6), (T + 1) * width, 4);
    const buf = alloc.upload('attn', out);
    run(gpu, [await buildAttnGate(gpu, alloc, { width, gate: alloc.upload('gate', gate), out: buf, step: stepBuffer(alloc, { n_tokens: T }) })], T);
    const want = attnGateRef(out.subarray(0, T * width), gate.subarray(0, T * width));
    const got = await f32(gpu, buf, (T + 1) * width);
    expect(worstRatio(got.subarray(0, T * width), want, 1e-6, 1e-5)).toBeLessThanOrEqual(1);
    expect(got.subarray(T * width)).toEqual(out.subarray(T * width)); // a row past n_tokens is left as it was
    alloc.destroyAll();
  });

  it.each([[4, 2, 8, 3, false], [2, 1, 128, 2, false], [3, 3, 96, 1, false], [4, 2, 8, 3, true], [6, 2, 40, 2, true]])('qk_norm n_head=%i n_kv=%i hd=%i T=%i all heads %s', async (nHead, nKv, headDim, T, allHeads) => {
    const gpu = await testGpu(variant);
    const alloc = new Allocator(gpu);
    const r = rng(headDim + T);
    const [qLen, kLen] = allHeads ? [nHead * headDim, nKv * headDim] : [headDim, headDim];
    const qkv = randn(r, T * (nHead + 2 * nKv) * headDim, 2), qW = randn(r, qLen), kW = randn(r, kLen);
    const qkvB = alloc.upload('qkv', qkv);
    run(gpu, [await buildQkNorm(gpu, alloc, { nHead, nKv, headDim, eps: 1e-6, qkv: qkvB, qWeight: alloc.upload('qw', qW), kWeight: alloc.upload('kw', kW), step: stepBuffer(alloc, { n_tokens: T }), allHeads })], T);
    const ref = qkv.slice();
    qkNormRef({ nHead, nKv, headDim, allHeads }, ref, T, qW, kW, 1e-6);
    expect(worstRatio(await f32(gpu, qkvB, qkv.length), ref, 1e-5, 1e-5)).toBeLessThanOrEqual(1);
    alloc.destroyAll();
  });

  // Passes of 3 tokens through a ring of taps - 1 + 3 rows: each pass reads the older positions' B * x back from the ring,
  // and later passes overwrite rows of positions no tap reads any more.
  it.each([[3, 70, 11], [4, 33, 9]])('shortconv taps=%i D=%i, %i tokens in passes of 3 against one pass of the reference', async (taps, D, T) => {
    const gpu = await testGpu(variant);
    const alloc = new Allocator(gpu);
    const r = rng(taps * D);
    const bcx = randn(r, T * 3 * D, 1.5), kernel = randn(r, D * taps, 0.7);
    const maxBatch = 3, rows = taps - 1 + maxBatch;
    const bcxB = alloc.storage('bcx', maxBatch * 3 * D * 4), y = alloc.storage('y', maxBatch * D * 4);
    const state = alloc.upload('state', new Float32Array(rows * D).fill(NaN)); // rows never written must never be read
    const kernelB = alloc.upload('kernel', kernel);
    const got = new Float32Array(T * D);
    for (let pos = 0; pos < T; pos += maxBatch) {
      const n = Math.min(maxBatch, T - pos);
      const step = stepBuffer(alloc, { n_tokens: n, pos });
      writeBuffer(gpu, bcxB, bcx.slice(pos * 3 * D, (pos + n) * 3 * D));
      run(gpu, [await buildShortConv(gpu, alloc, { dim: D, taps, rows, bcx: bcxB, kernel: kernelB, state, y, step })], n);
      got.set(await f32(gpu, y, n * D), pos * D);
    }
    expect(worstRatio(got, shortConvRef(bcx, T, D, kernel, taps), 1e-5, 1e-5)).toBeLessThanOrEqual(1);
    alloc.destroyAll();
  });

  it.each(['silu', 'gelu_tanh', 'gelu'] as const)('swiglu/geglu (%s)', async (act) => {
    const gpu = await testGpu(variant);
    const alloc = new Allocator(gpu);
    const T = 3, nFf = 172;
    const gu = randn(rng(5), T * 2 * nFf, 4);
    gu[0] = 60; gu[1] = -60; // far tails: tanh must stay finite
    const h = alloc.storage('h', T * nFf * 4);
    run(gpu, [await buildSwiglu(gpu, alloc, { nFf, act, gateUp: alloc.upload('gu', gu), h, step: stepBuffer(alloc, { n_tokens: T }) })], T);
    expect(worstRatio(await f32(gpu, h, T * nFf), swigluRef(gu, T, nFf, act), 1e-6, 1e-5)).toBeLessThanOrEqual(1);
    alloc.destroyAll();
  });

  it.each([['gelu', false], ['gelu', true], ['relu', false], ['relu', true]] as const)('ungated %s (BERT\'s GELU by erf, T5\'s ReLU), Q8_0 too: %s', async (act, quantized) => {
    const gpu = await testGpu(variant);
    const alloc = new Allocator(gpu);
    const T = 3, nFf = 160;
    const up = randn(rng(6), T * nFf, 3);
    up[0] = 12; up[1] = -12; up[2] = 0; up[3] = -1e-4; // tails, zero and near it: erf's fit and its sign
    const h = alloc.storage('h', T * nFf * 4);
    const q8 = { codes: alloc.storage('q', T * nFf), scales: alloc.storage('d', (T * nFf) / 8) };
    const args = { nFf, act, gateUp: alloc.upload('up', up), h, step: stepBuffer(alloc, { n_tokens: T }), ungated: true, quantized: quantized ? q8 : undefined };
    run(gpu, [await buildSwiglu(gpu, alloc, args)], T);
    expect(worstRatio(await f32(gpu, h, T * nFf), swigluRef(up, T, nFf, act, true), 1e-6, 2e-6)).toBeLessThanOrEqual(1);
    alloc.destroyAll();
  });
});

it('erfRef: erf to double precision either side of its switch from series to continued fraction', () => {
  // (Python's math.erf, to 15 digits)
  for (const [x, e] of [[0.1, 0.112462916018285], [1, 0.842700792949715], [2.9, 0.999958902121901], [3.1, 0.999988351342633], [5, 0.999999999998463]]) {
    expect(erfRef(x)).toBeCloseTo(e, 13);
    expect(erfRef(-x)).toBeCloseTo(-e, 13);
  }
});

describe.each(VARIANTS)('activations handed over in Q8_0 (%s)', (variant) => {
  const asCodes = (buf: ArrayBuffer) => new Int8Array(buf);
  it('rmsnorm main_q8 (every layout) and swiglu main_q8 write y and exactly the codes/scales quantize_x would', async () => {
    const { buildRmsnorm } = await import('../src/kernels/rmsnorm.ts');
    const { rmsnormRef } = await import('../src/kernels/ref/rmsnorm.ts');
    const { quantizeQ8_0 } = await import('../src/kernels/ref/matmul.ts');
    const gpu = await testGpu(variant);
    const alloc = new Allocator(gpu);
    const T = 3, dim = 96, nFf = 160;
    const r = rng(77);
    const x = randn(r, T * dim, 2), w = randn(r, dim), gu = randn(r, T * 2 * nFf, 3);
    x[5] = 0; // a block with a zero and a large outlier
    x[6] = 40;
    const q8 = (width: number) => ({ codes: alloc.storage('q', T * width), scales: alloc.storage('d', (T * width) / 8) });
    const yq = q8(dim), hq = q8(nFf);
    const y = alloc.storage('y', T * dim * 4), h = alloc.storage('h', T * nFf * 4);
    const step = stepBuffer(alloc, { n_tokens: T });
    run(gpu, [
      await buildRmsnorm(gpu, alloc, { dim, eps: 1e-5, step, x: alloc.upload('x', x), weight: alloc.upload('w', w), y, quantized: yq }),
      await buildSwiglu(gpu, alloc, { nFf, gateUp: alloc.upload('gu', gu), h, step, quantized: hq }),
    ], T);
    // A GPU's workgroup of 64 writes the same bits as the adapter's (8 on lavapipe).
    const y64 = alloc.storage('y64', T * dim * 4), yq64 = q8(dim);
    run(gpu, [await buildRmsnorm(gpu, alloc, { dim, eps: 1e-5, step, x: alloc.upload('x', x), weight: alloc.upload('w', w), y: y64, quantized: yq64, wg: 64 })], T);
    expect(Array.from(await u32(gpu, y64))).toEqual(Array.from(await u32(gpu, y)));
    expect(Array.from(await u32(gpu, yq64.codes))).toEqual(Array.from(await u32(gpu, yq.codes)));
    expect(Array.from(await u32(gpu, yq64.scales))).toEqual(Array.from(await u32(gpu, yq.scales)));
    // Every layout of main_q8's work gives the adapter's default's bits (a word a lane on lavapipe, quads without subgroups).
    for (const layout of variant === 'f16' ? (['blocks', 'quads', 'words'] as const) : (['blocks', 'quads'] as const)) {
      const yb = alloc.storage('yb', T * dim * 4), yqb = q8(dim);
      run(gpu, [await buildRmsnorm(gpu, alloc, { dim, eps: 1e-5, step, x: alloc.upload('x', x), weight: alloc.upload('w', w), y: yb, quantized: yqb, layout })], T);
      for (const [a, b] of [[yb, y], [yqb.codes, yq.codes], [yqb.scales, yq.scales]]) expect(Array.from(await u32(gpu, a)), layout).toEqual(Array.from(await u32(gpu, b)));
    }
    if (variant === 'f32') {
      await expect(buildRmsnorm(gpu, alloc, { dim, eps: 1e-5, step, x: alloc.upload('x', x), weight: alloc.upload('w', w), y: y64, quantized: yq64, layout: 'words' })).rejects.toThrow(/subgroups of 8/);
    }
    const yRef = rmsnormRef(x, w, dim, 1e-5), hRef = swigluRef(gu, T, nFf);
    const yGpu = await f32(gpu, y, T * dim), hGpu = await f32(gpu, h, T * nFf);
    expect(worstRatio(yGpu, yRef, 1e-5, 1e-5)).toBeLessThanOrEqual(1);
    expect(worstRatio(hGpu, hRef, 1e-6, 1e-5)).toBeLessThanOrEqual(1);
    // The codes are a function of the f32 values the GPU wrote: quantizing those must give them exactly.
    for (const [vals, buf, width] of [[yGpu, yq, dim], [hGpu, hq, nFf]] as const) {
      const ref = quantizeQ8_0(vals, T, width);
      expect(Array.from(asCodes(await readBuffer(gpu, buf.codes, T * width)))).toEqual(Array.from(ref.q));
      expect(Array.from(await f32(gpu, buf.scales, (T * width) / 32))).toEqual(Array.from(ref.d));
    }
    alloc.destroyAll();
  });
});
