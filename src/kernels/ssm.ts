import source from '../../shaders/ssm.wgsl?raw';
import subgroupScan from '../../shaders/ssm_scan_sg.wgsl?raw';
import type { Gpu } from '../gpu/device.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { shaderText } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { buildKernel, ceilDiv, type Dispatch } from './dispatch.ts';
import { ssmConvDim, ssmInner, ssmInProj, type SsmShape } from '../model/ssm_shape.ts';

export const SSM_PARAMS = new UniformLayout('Params', [
  ['n_head', 'u32'],
  ['head_dim', 'u32'],
  ['d_state', 'u32'],
  ['n_group', 'u32'],
  ['inner', 'u32'],
  ['conv_dim', 'u32'],
  ['in_proj', 'u32'],
  ['taps', 'u32'],
  ['rows', 'u32'],
  ['slots', 'u32'],
  ['dt_min', 'f32'],
  ['dt_max', 'f32'],
  ['z_scale', 'f32'],
  ['x_scale', 'f32'],
  ['b_scale', 'f32'],
  ['c_scale', 'f32'],
  ['dt_scale', 'f32'],
] as const);
export const SSM_SOURCE = source;

const F32_MAX = 3.4028234663852886e38; // time_step_limit's infinity: WGSL leaves infinities to the implementation

export interface SsmArgs {
  shape: SsmShape;
  rows: number; // the convolution ring's rows: kvCacheRows(taps, nCtx, maxBatch)
  slots: number; // the recurrent state's slots
  zxbcdt: GPUBuffer; // (T, in_proj): in_proj's output
  convWeight: GPUBuffer; // (conv_dim, taps) f32
  convBias: GPUBuffer; // (conv_dim) f32
  ring: GPUBuffer; // (rows, conv_dim) f32: x|B|C by position, kept across passes
  xbc: GPUBuffer; // (T, conv_dim): the convolution's output
  perHead: GPUBuffer; // (3, n_head) f32: dt_bias, A (= -exp(A_log)), D
  state: GPUBuffer; // (slots, d_state / 4, inner) vec4 of f32, kept across passes
  y: GPUBuffer; // (T, inner): (C.s + D x) SiLU(z), for the gated RMSNorm
  step: GPUBuffer;
  /** The scan that shares B and C by subgroup shuffles (default: where the adapter has subgroups and no subgroup spans two groups). */
  subgroups?: boolean;
}

/** A Mamba-2 mixer's convolution and selective scan for the pass's tokens at positions pos.. (two dispatches). */
export async function buildSsm(gpu: Gpu, alloc: Allocator, a: SsmArgs): Promise<Dispatch[]> {
  const s = a.shape, WG = 64;
  const inner = ssmInner(s), convDim = ssmConvDim(s);
  const values = {
    n_head: s.nHead, head_dim: s.headDim, d_state: s.dState, n_group: s.nGroup, inner, conv_dim: convDim, in_proj: ssmInProj(s),
    taps: s.convKernel, rows: a.rows, slots: a.slots, dt_min: s.dtMin, dt_max: Math.min(s.dtMax, F32_MAX),
    z_scale: s.inScales[0], x_scale: s.inScales[1], b_scale: s.inScales[2], c_scale: s.inScales[3], dt_scale: s.inScales[4],
  };
  const state4 = `const STATE4: u32 = ${s.dState / 4}u;`;
  const common = { code: shaderText(source, {}, state4), params: SSM_PARAMS, values, step: a.step };
  const constants = { WG, BC4: (2 * s.nGroup * s.dState) / 4 };
  // (lanes share B and C by shuffles only where a subgroup never spans two groups of heads)
  const groupWidth = (s.nHead / s.nGroup) * s.headDim;
  const sg = (a.subgroups ?? gpu.caps.subgroups) && gpu.caps.subgroups && (s.nGroup === 1 || groupWidth % (gpu.caps.subgroupMaxSize ?? WG) === 0);
  return [
    await buildSsmConv(gpu, alloc, {
      label: 'ssm/conv',
      inner,
      convDim,
      inProj: values.in_proj,
      taps: s.convKernel,
      rows: a.rows,
      segments: { nGroup: s.nGroup, dState: s.dState, scales: [s.inScales[1], s.inScales[2], s.inScales[3]] },
      input: a.zxbcdt,
      convWeight: a.convWeight,
      convBias: a.convBias,
      ring: a.ring,
      out: a.xbc,
      step: a.step,
    }),
    await buildKernel(gpu, alloc, sg ? {
      ...common, code: shaderText(source + subgroupScan, { subgroups: true }, state4), label: 'ssm/scan_sg', entry: 'scan_sg', constants,
      bindings: [a.zxbcdt, null, null, null, null, a.perHead, a.state, a.y, a.xbc],
      grid: () => [ceilDiv(inner, WG)],
    } : {
      ...common, label: 'ssm/scan', entry: 'scan', constants,
      bindings: [a.zxbcdt, null, null, null, a.xbc, a.perHead, a.state, a.y],
      grid: () => [ceilDiv(inner, WG)],
    }),
  ];
}

/**
 * ssm.wgsl's causal convolution on its own, for every mixer whose in-projection row is z, then the convolved channels
 * (Mamba-2's x|B|C, Gated DeltaNet's q|k|v), then per-head values it does not read.
 */
export interface SsmConvArgs {
  label: string; // the dispatch's: 'ssm/conv', or '<family>/conv' of a mixer that reuses it
  inner: number; // the channels in front of the convolved ones in a row of `input` (z's width)
  convDim: number; // the convolved channels
  inProj: number; // a row of `input`
  taps: number;
  rows: number; // the ring's rows: kvCacheRows(taps, nCtx, maxBatch)
  /** Mamba-2's x|B|C scaled by segment as read (x: inner channels, B and C: nGroup dState each); unscaled if absent. */
  segments?: { nGroup: number; dState: number; scales: readonly [number, number, number] };
  input: GPUBuffer; // (T, inProj)
  convWeight: GPUBuffer; // (convDim, taps) f32, oldest position first
  convBias: GPUBuffer; // (convDim) f32
  ring: GPUBuffer; // (rows, convDim) f32: the convolved channels by position, kept across passes
  out: GPUBuffer; // (T, convDim): convolved, SiLU
  step: GPUBuffer;
}

export async function buildSsmConv(gpu: Gpu, alloc: Allocator, a: SsmConvArgs): Promise<Dispatch> {
  const WG = 64;
  const seg = a.segments ?? { nGroup: 1, dState: 0, scales: [1, 1, 1] as const };
  // The fields the convolution reads; the scan's are zero (its own dispatch has its own Params).
  const values = {
    n_head: 0, head_dim: 0, d_state: seg.dState, n_group: seg.nGroup,
    inner: a.inner, conv_dim: a.convDim, in_proj: a.inProj, taps: a.taps, rows: a.rows, slots: 0, dt_min: 0, dt_max: 0,
    z_scale: 1, x_scale: seg.scales[0], b_scale: seg.scales[1], c_scale: seg.scales[2], dt_scale: 1,
  };
  return buildKernel(gpu, alloc, {
    // STATE4 sizes only the scan's registers: one text, so one pipeline, serves every shape's convolution
    code: shaderText(source, {}, 'const STATE4: u32 = 1u;'),
    label: a.label,
    entry: 'conv',
    constants: { WG },
    params: SSM_PARAMS,
    values,
    step: a.step,
    bindings: [a.input, a.convWeight, a.convBias, a.ring, a.out, null, null, null],
    grid: (n) => [ceilDiv(a.convDim, WG), n],
  });
}
