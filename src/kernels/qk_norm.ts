import source from '../../shaders/qk_norm.wgsl?raw';
import type { Gpu } from '../gpu/device.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { shaderText } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { buildKernel, type Dispatch } from './dispatch.ts';
import { RMS_LIB } from './wgsl_lib.ts';
import { rmsnormWorkgroup } from './rmsnorm.ts';
import { qkNormSpans } from './qk_norm_spans.ts';

export const QK_NORM_PARAMS = new UniformLayout('Params', [
  ['q_dim', 'u32'],
  ['kv_dim', 'u32'],
  ['q_span', 'u32'],
  ['k_span', 'u32'],
  ['eps', 'f32'],
] as const);
export const QK_NORM_SOURCE = source;

export interface QkNormArgs {
  nHead: number;
  nKv: number;
  headDim: number;
  eps: number;
  qkv: GPUBuffer; // (T, q_dim + 2*kv_dim), normalised in place (Q and K heads)
  qWeight: GPUBuffer; // (head_dim), or (q_dim) with allHeads
  kWeight: GPUBuffer; // (head_dim), or (kv_dim) with allHeads
  step: GPUBuffer;
  /** One norm over all Q heads and one over all K heads (OLMo 2), not one a head. */
  allHeads?: boolean;
}

export function buildQkNorm(gpu: Gpu, alloc: Allocator, a: QkNormArgs): Promise<Dispatch> {
  const qDim = a.nHead * a.headDim, kvDim = a.nKv * a.headDim;
  const [qSpan, kSpan] = qkNormSpans(a, a.allHeads);
  return buildKernel(gpu, alloc, {
    label: a.allHeads ? 'qk_norm/all_heads' : 'qk_norm/heads',
    code: shaderText(source, {}, RMS_LIB),
    constants: { WG: rmsnormWorkgroup(gpu.caps.cpu) },
    params: QK_NORM_PARAMS,
    values: { q_dim: qDim, kv_dim: kvDim, q_span: qSpan, k_span: kSpan, eps: a.eps },
    step: a.step,
    bindings: [a.qkv, a.qWeight, a.kWeight],
    grid: (n) => [qDim / qSpan + kvDim / kSpan, n],
  });
}
