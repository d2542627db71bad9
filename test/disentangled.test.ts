import { describe, expect, it } from 'vitest';
import { Allocator, readBuffer } from '../src/gpu/buffers.ts';
import { ONE_TABLE } from '../src/kernels/rope.ts';
import { buildAttention } from '../src/kernels/attention.ts';
import { buildDisentangled } from '../src/kernels/disentangled.ts';
import { attentionRef } from '../src/kernels/ref/layers.ts';
import { KV_CACHE_TYPES } from '../src/kernels/kv_layout.ts';
import { kvPack, kvUnpack } from '../src/kernels/ref/kv_cache.ts';
import { packInputs } from '../src/model/pass_inputs.ts';
import { debertaRows } from '../src/model/relative_bias.ts';
import { randn, rng, run, stepBuffer, testGpu, VARIANTS, worstRatio } from './helpers/gpu.ts';

const COMPILE_TIMEOUT = 300_000;

// DeBERTa's disentangled attention: shaders/disentangled.wgsl's c2p and p2c terms for the pass, then the prefill's
// attention adding them by each key's relative row (prefill_bias by keys, prefill_dims_bias by head dimensions, in
// blocks of keys and a key at a time), against the CPU reference, every K/V cache type.
describe.each(VARIANTS)('disentangled attention (%s)', (variant) => {
  // (every K/V cache type in the first case; the others' pipelines would add minutes of lavapipe compiles for little)
  it.each([
    [4, 16, 20, 8, 128, 24, [7, 13], KV_CACHE_TYPES], // log buckets from 5 apart; two inputs; reach past the pass
    [2, 64, 30, 256, 512, 30, [30], ['f32']], // mxbai-rerank's buckets and heads: all exact at this length
    [3, 8, 9, 4, 6, 12, [9], ['f16']], // rows clamped: keys further than the buckets reach
    [2, 32, 17, 8, 64, 17, [1, 15, 1], ['f32']], // inputs of one token
  ] as const)('n_head=%i hd=%i T=%i buckets=%i max=%i maxBatch=%i inputs=%j kv=%j', async (nHead, headDim, T, buckets, maxPosition, maxBatch, lengths, kvTypes) => {
    const gpu = await testGpu(variant);
    const alloc = new Allocator(gpu);
    const qDim = nHead * headDim, row = 3 * qDim, rows = 2 * buckets;
    const r = rng(headDim * 7 + T);
    const qkv = randn(r, T * row), rel = randn(r, rows * 2 * qDim, 0.5);
    // the cache holds the pass's own k and v (an encoder's pass from position 0)
    const kCache = new Float32Array(T * qDim), vCache = new Float32Array(T * qDim);
    for (let t = 0; t < T; t++) {
      kCache.set(qkv.subarray(t * row + qDim, t * row + 2 * qDim), t * qDim);
      vCache.set(qkv.subarray(t * row + 2 * qDim, (t + 1) * row), t * qDim);
    }
    const relAt = debertaRows({ buckets, maxPosition }, maxBatch);
    const inputs = lengths.map((length: number) => ({ length }));
    const scale = 1 / Math.sqrt(3 * headDim);
    const o = { scale, window: 0, cacheLen: T, softcap: 0, bidirectional: true, inputs };
    const step = stepBuffer(alloc, { n_tokens: T, pos: 0 });
    const qkvBuf = alloc.upload('qkv', qkv);
    const terms = { relAt: alloc.upload('rel_at', relAt), c2p: alloc.storage('c2p', maxBatch * nHead * rows * 4), p2c: alloc.storage('p2c', maxBatch * nHead * rows * 4), rows };
    const dispatch = await buildDisentangled(gpu, alloc, { nHead, headDim, scale, qkv: qkvBuf, rel: alloc.upload('rel', rel), relAt: terms.relAt, table: relAt, c2p: terms.c2p, p2c: terms.p2c, rows, step });
    const ways = [{ prefillDims: false }, {}, { keyBlocks: false }];
    for (const [kvType, way] of kvTypes.flatMap((t) => ways.map((w) => [t, w] as const))) {
      const out = alloc.storage('out', T * qDim * 4);
      const packed = kvPack(kvType, kCache, vCache, nHead, headDim);
      const stored = kvUnpack(kvType, packed, T, nHead, headDim);
      const rope = { nRot: headDim, neox: false, invFreq: alloc.storage('inv', headDim * 2), longFrom: ONE_TABLE, mscale: 1 };
      const d = await buildAttention(gpu, alloc, {
        nHead, nKv: nHead, headDim, ...o, kvType, kv: alloc.upload('kv', packed), rope, nSplit: 1, qkv: qkvBuf, out, ...way,
        step, inputs: alloc.upload('inputs', packInputs(inputs)), disentangled: terms, decodes: false,
      });
      expect(d.prefill.label).toMatch(/_deberta_/);
      run(gpu, [dispatch, d.prefill], T);
      // (the terms read the pass's f32 k; the cache's k is what q . k reads)
      const want = attentionRef({ nHead, nKv: nHead, headDim }, qkv, T, 0, stored.k, stored.v, { ...o, disentangled: { rel, rows: relAt } });
      const got = new Float32Array(await readBuffer(gpu, out, T * qDim * 4));
      expect(worstRatio(got, want, 1e-5, 1e-4), `${kvType} ${d.prefill.label}`).toBeLessThanOrEqual(1);
      // (the terms count: without them the reference parts from the kernel)
      expect(worstRatio(attentionRef({ nHead, nKv: nHead, headDim }, qkv, T, 0, stored.k, stored.v, o), want, 1e-3, 1e-2)).toBeGreaterThan(1);
    }
    alloc.destroyAll();
  }, COMPILE_TIMEOUT);
});
