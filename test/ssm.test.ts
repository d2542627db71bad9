import { describe, expect, it } from 'vitest';
import { Allocator, readBuffer, writeBuffer } from '../src/gpu/buffers.ts';
import { buildSsm } from '../src/kernels/ssm.ts';
import { ssmRef } from '../src/kernels/ref/layers.ts';
import { ssmConvDim, ssmInner, ssmInProj, ssmStateSize, UNIT_SCALES, type SsmShape } from '../src/model/ssm_shape.ts';
import { KvRings, kvCacheRows, SSM_SLOTS } from '../src/model/kv_rings.ts';
import { randn, rng, run, stepBuffer, testGpu, worstRatio } from './helpers/gpu.ts';

const f32 = async (gpu: Parameters<typeof readBuffer>[0], b: GPUBuffer, n: number, offset = 0) =>
  new Float32Array(await readBuffer(gpu, b, n * 4, offset * 4));

const SHAPES: { name: string; shape: SsmShape }[] = [
  // Granite 4.0-H's kind (one group, 4 taps), 64 channels: one workgroup
  { name: '4 heads of 16, state 16, 1 group, 4 taps', shape: { nHead: 4, headDim: 16, dState: 16, nGroup: 1, convKernel: 4, dtMin: 0, dtMax: Infinity, inScales: UNIT_SCALES, gatedNorm: true } },
  // groups of 3 heads, 48 channels (a workgroup's last 16 lanes idle), dt clamped into [0.05, 0.4], in_proj's segments
  // scaled (Falcon-H1's muP multipliers)
  {
    name: '6 heads of 8, state 32, 2 groups, 3 taps, dt clamped, segments scaled',
    shape: { nHead: 6, headDim: 8, dState: 32, nGroup: 2, convKernel: 3, dtMin: 0.05, dtMax: 0.4, inScales: [0.9, 1.1, 0.8, 1.3, 0.7], gatedNorm: false },
  },
  // groups 12 channels wide: a subgroup of 8 would span two, so B and C go through workgroup memory
  { name: '6 heads of 4, state 8, 2 groups', shape: { nHead: 6, headDim: 4, dState: 8, nGroup: 2, convKernel: 4, dtMin: 0, dtMax: Infinity, inScales: UNIT_SCALES, gatedNorm: true } },
];

/** Both scans: B and C shared by subgroup shuffles (where the adapter has subgroups), and through workgroup memory. */
const CASES = SHAPES.flatMap((c) => [{ ...c, subgroups: true }, { ...c, subgroups: false }]);

/** One layer's buffers and inputs: in_proj outputs of T tokens, the convolution's weights, dt_bias, A < 0, D. */
async function setup(shape: SsmShape, T: number, maxBatch: number, subgroups: boolean) {
  const gpu = await testGpu(subgroups ? 'f16' : 'f32'); // (the f32 variant is a device without subgroups)
  expect(gpu.caps.subgroups).toBe(subgroups);
  const alloc = new Allocator(gpu);
  const r = rng(shape.nHead * 31 + shape.dState);
  const inProj = ssmInProj(shape), convDim = ssmConvDim(shape), inner = ssmInner(shape);
  const zxbcdt = randn(r, T * inProj, 1);
  const convW = randn(r, convDim * shape.convKernel, 0.6), convB = randn(r, convDim, 0.3);
  const perHead = new Float32Array(3 * shape.nHead);
  for (let h = 0; h < shape.nHead; h++) {
    perHead[h] = randn(r, 1, 1)[0]; // dt_bias
    perHead[shape.nHead + h] = -Math.exp(randn(r, 1, 0.8)[0]); // A = -exp(A_log)
    perHead[2 * shape.nHead + h] = randn(r, 1, 1)[0]; // D
  }
  const rows = kvCacheRows(shape.convKernel, 1 << 20, maxBatch);
  const buffers = {
    zxbcdt: alloc.storage('zxbcdt', maxBatch * inProj * 4),
    xbc: alloc.storage('xbc', maxBatch * convDim * 4),
    y: alloc.storage('y', maxBatch * inner * 4),
    // never-written rows and slots hold NaN: reading one would show in y
    ring: alloc.upload('ring', new Float32Array(rows * convDim).fill(NaN)),
    state: alloc.upload('state', new Float32Array(SSM_SLOTS * ssmStateSize(shape)).fill(NaN)),
    convWeight: alloc.upload('conv_w', convW),
    convBias: alloc.upload('conv_b', convB),
    perHead: alloc.upload('per_head', perHead),
  };
  const rings = new KvRings([shape.convKernel], 1 << 20, maxBatch, SSM_SLOTS);
  /** Runs tokens pos..pos+n-1 of `input` (rows of in_proj's width) as one pass; returns their y. */
  const pass = async (input: Float32Array, pos: number, n: number) => {
    const step = stepBuffer(alloc, { n_tokens: n, pos });
    writeBuffer(gpu, buffers.zxbcdt, input.slice(pos * inProj, (pos + n) * inProj));
    rings.wrote(pos, n);
    run(gpu, await buildSsm(gpu, alloc, { shape, rows, slots: SSM_SLOTS, ...buffers, step, subgroups }), n);
    return f32(gpu, buffers.y, n * inner);
  };
  return { gpu, alloc, zxbcdt, convW, convB, perHead, buffers, rings, pass, inProj, inner };
}

describe('Mamba-2 convolution and scan (shaders/ssm.wgsl) against the CPU reference', () => {
  it.each(CASES)('$name, subgroups $subgroups: 11 tokens in passes of 3, then decode steps; the last state', async ({ shape, subgroups }) => {
    const T = 14, prefill = 11, maxBatch = 3;
    const s = await setup(shape, T, maxBatch, subgroups);
    const got = new Float32Array(T * s.inner);
    for (let pos = 0; pos < T; ) {
      const n = pos < prefill ? Math.min(maxBatch, prefill - pos) : 1;
      got.set(await s.pass(s.zxbcdt, pos, n), pos * s.inner);
      pos += n;
    }
    const ref = ssmRef(shape, s.zxbcdt, T, s.convW, s.convB, s.perHead);
    expect(worstRatio(got, ref.y, 1e-5, 1e-4)).toBeLessThanOrEqual(1);
    const slot = (T - 1) % SSM_SLOTS;
    const state = await f32(s.gpu, s.buffers.state, ssmStateSize(shape), slot * ssmStateSize(shape));
    // the slot holds (d_state / 4, inner) vec4s; the reference (inner, d_state)
    const byChannel = new Float32Array(state.length).map((_, i) => {
      const ch = Math.floor(i / shape.dState), n = i % shape.dState;
      return state[(Math.floor(n / 4) * s.inner + ch) * 4 + (n % 4)];
    });
    expect(worstRatio(byChannel, ref.state, 1e-5, 1e-4)).toBeLessThanOrEqual(1);
    s.alloc.destroyAll();
  });

  it.each(CASES)('$name, subgroups $subgroups: a request that goes back restarts where KvRings finds a held state, and matches a fresh run', async ({ shape, subgroups }) => {
    const T = 11, maxBatch = 3;
    const s = await setup(shape, T, maxBatch, subgroups);
    for (let pos = 0; pos < T; pos += maxBatch) await s.pass(s.zxbcdt, pos, Math.min(maxBatch, T - pos));
    // States held after positions 2, 8, 10 (5's slot taken by 10); the ring holds positions 5..10.
    expect(s.rings.restartAt(9)).toBe(9);
    expect(s.rings.restartAt(10)).toBe(9); // position 9's state was never kept (a pass's last position is)
    // position 5's state is gone (6 falls back to 3, after 2's), and the ring rows of positions 0..2 too: from 0
    expect(s.rings.restartAt(6)).toBe(0);
    expect(s.rings.restartAt(0)).toBe(0);
    // An edited continuation from position 9: tokens 9.. differ from the first run's.
    const edited = s.zxbcdt.slice();
    edited.set(randn(rng(7), 2 * s.inProj, 1), 9 * s.inProj);
    const got = await s.pass(edited, 9, 2);
    const ref = ssmRef(shape, edited, T, s.convW, s.convB, s.perHead);
    expect(worstRatio(got, ref.y.subarray(9 * s.inner), 1e-5, 1e-4)).toBeLessThanOrEqual(1);
    // Rewriting position 9 forgets the state after 10, which was computed from the old 9.
    expect(s.rings.restartAt(11)).toBe(11);
    s.rings.wrote(9, 1);
    expect(s.rings.restartAt(11)).toBe(10);
    s.alloc.destroyAll();
  });
});
