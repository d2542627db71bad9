import source from '../../shaders/qk_norm.wgsl?raw';
import type { Gpu } from '../gpu/device.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { shaderText } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { buildKernel, type Dispatch } from './dispatch.ts';

export const QK_NORM_PARAMS = new UniformLayout('Params', [
  ['n_head', 'u32'],
  ['n_kv', 'u32'],
  ['head_dim', 'u32'],
  ['eps', 'f32'],
] as const);
export const QK_NORM_SOURCE = source;

export interface QkNormArgs {
  nHead: number;
  nKv: number;
  headDim: number;
  eps: number;
  qkv: GPUBuffer; // (T, q_dim + 2*kv_dim), normalised in place (Q and K heads)
  qWeight: GPUBuffer; // (head_dim)
  kWeight: GPUBuffer; // (head_dim)
  step: GPUBuffer;
}

export function buildQkNorm(gpu: Gpu, alloc: Allocator, a: QkNormArgs): Promise<Dispatch> {
  return buildKernel(gpu, alloc, {
    label: 'qk_norm/heads',
    code: shaderText(source),
    constants: { WG: 64 },
    params: QK_NORM_PARAMS,
    values: { n_head: a.nHead, n_kv: a.nKv, head_dim: a.headDim, eps: a.eps },
    step: a.step,
    bindings: [a.qkv, a.qWeight, a.kWeight],
    grid: (n) => [a.nHead + a.nKv, n],
  });
}
