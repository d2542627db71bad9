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
    await buildKernel(gpu, alloc, {
      ...common, label: 'ssm/conv', entry: 'conv', constants,
      bindings: [a.zxbcdt, a.convWeight, a.convBias, a.ring, a.xbc, null, null, null],
      grid: (n) => [ceilDiv(convDim, WG), n],
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
