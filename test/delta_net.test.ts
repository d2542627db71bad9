import { describe, expect, it } from 'vitest';
import { Allocator, readBuffer, writeBuffer } from '../src/gpu/buffers.ts';
import { shaderText } from '../src/gpu/pipelines.ts';
import { parseWgslStruct } from '../src/gpu/uniforms.ts';
import { buildDeltaNet, DELTA_NET_PARAMS, DELTA_NET_SOURCE } from '../src/kernels/delta_net.ts';
import { deltaNetRef } from '../src/kernels/ref/delta_net.ts';
import {
  deltaConvDim, deltaInProj, deltaKeyDim, deltaStateSize, deltaValueDim, type DeltaShape,
} from '../src/model/delta_shape.ts';
import { KvRings, kvCacheRows, SSM_SLOTS } from '../src/model/kv_rings.ts';
import { STEP } from '../src/gpu/step.ts';
import { randn, rng, run, stepBuffer, testGpu, worstRatio } from './helpers/gpu.ts';

const SHAPES: { name: string; shape: DeltaShape }[] = [
  // Qwen3.5's kind (two v heads per k head, 4 taps), small
  { name: '2 k heads, 4 v heads, 16 x 16, 4 taps', shape: { nKHead: 2, nVHead: 4, headKDim: 16, headVDim: 16, convKernel: 4, vTiled: false } },
  // the same, its value heads in llama.cpp's GGUF order (v head h reads k head h % 2)
  { name: '2 k heads, 4 v heads tiled, 16 x 16, 4 taps', shape: { nKHead: 2, nVHead: 4, headKDim: 16, headVDim: 16, convKernel: 4, vTiled: true } },
  // a state taller than wide, one v head per k head, a 3-tap convolution
  { name: '3 k and v heads, 32 x 8, 3 taps', shape: { nKHead: 3, nVHead: 3, headKDim: 32, headVDim: 8, convKernel: 3, vTiled: false } },
];
const EPS = 1e-6;
/** Both scans: q and k shared by subgroup shuffles (where the adapter has subgroups), and through workgroup memory. */
const CASES = SHAPES.flatMap((c) => [{ ...c, subgroups: true }, { ...c, subgroups: false }]);

/** One layer's buffers and inputs: in_proj outputs of T tokens, the convolution's weights, A < 0, dt_bias, norm weights. */
async function setup(shape: DeltaShape, T: number, maxBatch: number, subgroups: boolean) {
  const gpu = await testGpu(subgroups ? 'f16' : 'f32'); // (the f32 variant is a device without subgroups)
  expect(gpu.caps.subgroups).toBe(subgroups);
  const alloc = new Allocator(gpu);
  const r = rng(shape.nVHead * 31 + shape.headKDim);
  const inProj = deltaInProj(shape), convDim = deltaConvDim(shape), valueDim = deltaValueDim(shape);
  const input = randn(r, T * inProj, 1);
  const convW = randn(r, convDim * shape.convKernel, 0.6);
  const perHead = new Float32Array(2 * shape.nVHead);
  for (let h = 0; h < shape.nVHead; h++) {
    perHead[h] = -Math.exp(randn(r, 1, 0.8)[0]); // A = -exp(A_log)
    perHead[shape.nVHead + h] = randn(r, 1, 1)[0]; // dt_bias
  }
  const normW = randn(r, shape.headVDim, 0.3).map((v) => 1 + v);
  const rows = kvCacheRows(shape.convKernel, 1 << 20, maxBatch);
  const buffers = {
    inProj: alloc.storage('in_proj', maxBatch * inProj * 4),
    qkv: alloc.storage('qkv', maxBatch * convDim * 4),
    y: alloc.storage('y', maxBatch * valueDim * 4),
    // never-written rows and slots hold NaN: reading one would show in y
    ring: alloc.upload('ring', new Float32Array(rows * convDim).fill(NaN)),
    state: alloc.upload('state', new Float32Array(SSM_SLOTS * deltaStateSize(shape)).fill(NaN)),
    convWeight: alloc.upload('conv_w', convW),
    perHead: alloc.upload('per_head', perHead),
    normWeight: alloc.upload('norm_w', normW),
  };
  const rings = new KvRings([shape.convKernel], 1 << 20, maxBatch, SSM_SLOTS);
  /** Runs tokens pos..pos+n-1 of `rowsIn` (rows of in_proj's width) as one pass; returns their y. */
  const pass = async (rowsIn: Float32Array, pos: number, n: number) => {
    const step = stepBuffer(alloc, { n_tokens: n, pos });
    writeBuffer(gpu, buffers.inProj, rowsIn.slice(pos * inProj, (pos + n) * inProj));
    rings.wrote(pos, n);
    const list = await buildDeltaNet(gpu, alloc, { shape, eps: EPS, rows, slots: SSM_SLOTS, ...buffers, step, subgroups });
    expect(list[1].label).toBe(subgroups ? 'delta_net/scan_sg' : 'delta_net/scan');
    run(gpu, list, n);
    return new Float32Array(await readBuffer(gpu, buffers.y, n * valueDim * 4));
  };
  /** The state slot after position `at`, in the reference's layout (nVHead, headKDim, headVDim). */
  const stateAfter = async (at: number) => {
    const size = deltaStateSize(shape), slot = at % SSM_SLOTS;
    const got = new Float32Array(await readBuffer(gpu, buffers.state, size * 4, slot * size * 4));
    const { headKDim: dk, headVDim: dv } = shape;
    // the slot holds (dk / 4, valueDim) vec4s of rows i..i+3 of column (h, j)
    return new Float32Array(size).map((_, e) => {
      const h = Math.floor(e / (dk * dv)), i = Math.floor(e / dv) % dk, j = e % dv;
      return got[(Math.floor(i / 4) * valueDim + h * dv + j) * 4 + (i % 4)];
    });
  };
  return { alloc, input, convW, perHead, normW, rings, pass, stateAfter, inProj, valueDim };
}

describe('Gated DeltaNet convolution and scan (shaders/delta_net.wgsl) against the CPU reference', () => {
  it('Params matches its WGSL struct', () => {
    expect(parseWgslStruct(DELTA_NET_SOURCE, 'Params')).toEqual(DELTA_NET_PARAMS.fields.map(([n, t]) => [n, t]));
    expect(parseWgslStruct(shaderText(DELTA_NET_SOURCE), 'Step')).toEqual(STEP.fields.map(([n, t]) => [n, t]));
  });

  it.each(CASES)('$name, subgroups $subgroups: 11 tokens in passes of 3, then decode steps; the last state', async ({ shape, subgroups }) => {
    const T = 14, prefill = 11, maxBatch = 3;
    const s = await setup(shape, T, maxBatch, subgroups);
    const got = new Float32Array(T * s.valueDim);
    for (let pos = 0; pos < T; ) {
      const n = pos < prefill ? Math.min(maxBatch, prefill - pos) : 1;
      got.set(await s.pass(s.input, pos, n), pos * s.valueDim);
      pos += n;
    }
    const ref = deltaNetRef(shape, s.input, T, s.convW, s.perHead, s.normW, EPS);
    expect(worstRatio(got, ref.y, 1e-5, 1e-4)).toBeLessThanOrEqual(1);
    expect(worstRatio(await s.stateAfter(T - 1), ref.state, 1e-5, 1e-4)).toBeLessThanOrEqual(1);
    await s.alloc.destroyAll();
  });

  it.each(CASES)('$name, subgroups $subgroups: a request that goes back restarts where KvRings finds a held state, and matches a fresh run', async ({ shape, subgroups }) => {
    const T = 12, maxBatch = 3;
    const s = await setup(shape, T, maxBatch, subgroups);
    for (let pos = 0; pos < 11; pos += maxBatch) await s.pass(s.input, pos, Math.min(maxBatch, 11 - pos));
    // States held after positions 2, 8, 10 (5's slot taken by 10): back to 9, the state after 8 and ring rows 6..8.
    expect(s.rings.restartAt(9)).toBe(9);
    // An edited continuation from position 9, then a decode step on it.
    const edited = s.input.slice();
    edited.set(randn(rng(7), 3 * s.inProj, 1), 9 * s.inProj);
    const got = new Float32Array(3 * s.valueDim);
    got.set(await s.pass(edited, 9, 2));
    got.set(await s.pass(edited, 11, 1), 2 * s.valueDim);
    const ref = deltaNetRef(shape, edited, T, s.convW, s.perHead, s.normW, EPS);
    expect(worstRatio(got, ref.y.subarray(9 * s.valueDim), 1e-5, 1e-4)).toBeLessThanOrEqual(1);
    expect(worstRatio(await s.stateAfter(11), ref.state, 1e-5, 1e-4)).toBeLessThanOrEqual(1);
    await s.alloc.destroyAll();
  });
});

describe('deltaNetRef', () => {
  // transformers' Qwen3_5GatedDeltaNet.forward with torch_recurrent_gated_delta_rule, transcribed op by op on whole
  // arrays (conv over the sequence, split, repeat_interleave, l2norm, state as a matrix), for a tiny layer
  it('matches a direct transcription of the torch recurrent form, from a given state', () => {
    const shape: DeltaShape = { nKHead: 1, nVHead: 2, headKDim: 4, headVDim: 3, convKernel: 2, vTiled: false };
    const T = 3, eps = 1e-5, r = rng(3);
    const width = deltaInProj(shape), keyDim = deltaKeyDim(shape);
    const valueDim = deltaValueDim(shape), convDim = deltaConvDim(shape);
    const x = randn(r, T * width, 1), convW = randn(r, convDim * 2, 0.6), normW = randn(r, 3, 1);
    const perHead = new Float32Array([-0.5, -1.5, 0.3, -0.2]);
    const state0 = Float64Array.from(randn(r, 2 * 4 * 3, 0.5));
    const ref = deltaNetRef(shape, x, T, convW, perHead, normW, eps, state0);

    const at = (t: number, c: number) => x[t * width + c];
    const silu = (v: number) => v / (1 + Math.exp(-v));
    // mixed_qkv = silu(conv1d(q|k|v)), zero-padded on the left
    const mixed = [...Array(T)].map((_, t) => [...Array(convDim)].map((_, c) =>
      silu(convW[c * 2] * (t > 0 ? at(t - 1, valueDim + c) : 0) + convW[c * 2 + 1] * at(t, valueDim + c))));
    const l2norm = (v: number[]) => v.map((e) => e / Math.sqrt(v.reduce((a, b) => a + b * b, 0) + 1e-6));
    const S = [0, 1].map((h) => [...Array(4)].map((_, i) => [...Array(3)].map((_, j) => state0[h * 12 + i * 3 + j])));
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < 2; h++) {
        const q = l2norm(mixed[t].slice(0, keyDim)).map((e) => e / Math.sqrt(4)); // one k head, repeated for both
        const k = l2norm(mixed[t].slice(keyDim, 2 * keyDim));
        const v = mixed[t].slice(2 * keyDim + 3 * h, 2 * keyDim + 3 * h + 3);
        const beta = 1 / (1 + Math.exp(-at(t, valueDim + convDim + h)));
        const g = perHead[h] * Math.log1p(Math.exp(at(t, valueDim + convDim + 2 + h) + perHead[2 + h]));
        const Sd = S[h].map((row) => row.map((e) => e * Math.exp(g)));
        const kvMem = [0, 1, 2].map((j) => Sd.reduce((a, row, i) => a + row[j] * k[i], 0));
        const delta = v.map((e, j) => (e - kvMem[j]) * beta);
        S[h] = Sd.map((row, i) => row.map((e, j) => e + k[i] * delta[j]));
        const o = [0, 1, 2].map((j) => S[h].reduce((a, row, i) => a + row[j] * q[i], 0));
        const variance = o.reduce((a, e) => a + e * e, 0) / 3;
        const y = o.map((e, j) => normW[j] * e / Math.sqrt(variance + eps) * silu(at(t, 3 * h + j)));
        const got = ref.y.subarray(t * valueDim + 3 * h, t * valueDim + 3 * h + 3);
        expect(worstRatio(got, y, 1e-6, 1e-6)).toBeLessThanOrEqual(1); // ref.y is rounded to f32
      }
    }
    expect(worstRatio(ref.state, S.flat(2), 1e-12, 1e-12)).toBeLessThanOrEqual(1);
  });
});
