import source from '../../shaders/delta_net.wgsl?raw';
import subgroupScan from '../../shaders/delta_net_sg.wgsl?raw';
import type { Gpu } from '../gpu/device.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { shaderText } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { EmberError } from '../errors.ts';
import { buildKernel, ceilDiv, type Dispatch } from './dispatch.ts';
import { buildSsmConv } from './ssm.ts';
import { deltaConvDim, deltaInProj, deltaKeyDim, deltaValueDim, type DeltaShape } from '../model/delta_shape.ts';

export const DELTA_NET_PARAMS = new UniformLayout('Params', [
  ['n_k_head', 'u32'],
  ['n_v_head', 'u32'],
  ['head_k', 'u32'],
  ['head_v', 'u32'],
  ['key_dim', 'u32'],
  ['value_dim', 'u32'],
  ['conv_dim', 'u32'],
  ['in_proj', 'u32'],
  ['slots', 'u32'],
  ['eps', 'f32'],
  ['v_tiled', 'u32'],
] as const);
export const DELTA_NET_SOURCE = source;

export interface DeltaNetArgs {
  shape: DeltaShape;
  eps: number; // the gated RMSNorm's (the model's rms_norm_eps)
  rows: number; // the convolution ring's rows: kvCacheRows(taps, nCtx, maxBatch)
  slots: number; // the recurrent state's slots
  inProj: GPUBuffer; // (T, deltaInProj): z | q|k|v | b | a
  convWeight: GPUBuffer; // (convDim, taps) f32, oldest position first
  ring: GPUBuffer; // (rows, convDim) f32: q|k|v by position, kept across passes
  qkv: GPUBuffer; // (T, convDim): the convolution's output
  perHead: GPUBuffer; // (2, nVHead) f32: A (= -exp(A_log)), dt_bias (deltaPerHead)
  normWeight: GPUBuffer; // (headVDim) f32: the gated norm's weight as is (not 1 + w), shared by every head
  state: GPUBuffer; // (slots, headKDim / 4, valueDim) vec4 of f32: slots * deltaStateSize floats, kept across passes
  y: GPUBuffer; // (T, valueDim): normed and gated, for out_proj
  step: GPUBuffer;
  /** The scan that shares q and k by subgroup shuffles (default: where the adapter has subgroups that fit a head). */
  subgroups?: boolean;
}

/**
 * A Gated DeltaNet mixer from in_proj's output to the gated norm's, for the pass's tokens at positions pos..: the
 * causal convolution over q|k|v (shaders/ssm.wgsl's, unbiased), the delta-rule scan, the gated norm (three dispatches).
 */
export async function buildDeltaNet(gpu: Gpu, alloc: Allocator, a: DeltaNetArgs): Promise<Dispatch[]> {
  const s = a.shape;
  const keyDim = deltaKeyDim(s), valueDim = deltaValueDim(s);
  const convDim = deltaConvDim(s), inProj = deltaInProj(s);
  const wg = s.headVDim; // a lane per column of a head's state
  const unsupported = (what: string) => new EmberError('UNSUPPORTED', `delta_net: ${what}`);
  if (s.headKDim % 4 !== 0) {
    throw unsupported(`linear_key_head_dim ${s.headKDim} is not a multiple of 4 (the scan holds a column in vec4s)`);
  }
  const lanes = gpu.caps.maxWorkgroupInvocations;
  if (wg % 4 !== 0 || wg > lanes) {
    throw unsupported(`linear_value_head_dim ${wg} is not a multiple of 4 up to the device's ${lanes} invocations per workgroup`);
  }
  if (s.nVHead % s.nKHead !== 0) {
    throw new EmberError(
      'BAD_MODEL',
      `delta_net: linear_num_value_heads ${s.nVHead} is not a multiple of linear_num_key_heads ${s.nKHead}`,
    );
  }
  const values = {
    n_k_head: s.nKHead, n_v_head: s.nVHead, head_k: s.headKDim, head_v: wg, key_dim: keyDim, value_dim: valueDim,
    conv_dim: convDim, in_proj: inProj, slots: a.slots, eps: a.eps, v_tiled: s.vTiled ? 1 : 0,
  };
  const k4 = `const K4: u32 = ${s.headKDim / 4}u;`;
  // (lanes share q and k by shuffles only where a head's lanes are whole subgroups)
  const caps = gpu.caps;
  const sg = (a.subgroups ?? caps.subgroups) && caps.subgroups && wg % (caps.subgroupMaxSize ?? wg) === 0;
  // (the subgroup size as a constant where the adapter has only one)
  const oneSize = sg && !!caps.subgroupMinSize && caps.subgroupMinSize === caps.subgroupMaxSize;
  return [
    await buildSsmConv(gpu, alloc, {
      label: 'delta_net/conv',
      inner: valueDim, // z in front of q|k|v
      convDim,
      inProj,
      taps: s.convKernel,
      rows: a.rows,
      input: a.inProj,
      convWeight: a.convWeight,
      // (convDim) zeros: Qwen3.5's convolution has no bias
      convBias: alloc.upload('delta_net.conv_b', new Float32Array(convDim)),
      ring: a.ring,
      out: a.qkv,
      step: a.step,
    }),
    await buildKernel(gpu, alloc, {
      code: sg ? shaderText(source + subgroupScan, { subgroups: true }, k4) : shaderText(source, {}, k4),
      label: sg ? 'delta_net/scan_sg' : 'delta_net/scan',
      entry: sg ? 'scan_sg' : 'scan',
      constants: oneSize ? { WG: wg, SG: caps.subgroupMinSize! } : { WG: wg },
      params: DELTA_NET_PARAMS,
      values,
      step: a.step,
      bindings: [a.inProj, a.qkv, a.perHead, null, a.state, a.y],
      grid: () => [s.nVHead],
    }),
    await buildKernel(gpu, alloc, {
      code: shaderText(source, {}, k4),
      label: 'delta_net/norm',
      entry: 'norm',
      params: DELTA_NET_PARAMS,
      values,
      step: a.step,
      bindings: [a.inProj, null, null, a.normWeight, null, a.y],
      grid: (n) => [ceilDiv(n * s.nVHead, 64)],
    }),
  ];
}
