import source from '../../shaders/attention.wgsl?raw';
import type { Gpu } from '../gpu/device.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { shaderText } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { EmberError } from '../errors.ts';
import { buildKernel, type Dispatch } from './dispatch.ts';

export const ATTENTION_PARAMS = new UniformLayout('Params', [
  ['n_head', 'u32'],
  ['n_kv', 'u32'],
  ['head_dim', 'u32'],
  ['scale', 'f32'],
] as const);
export const ATTENTION_SOURCE = source;
const WG = 32;
const MAX_HEAD_DIM = 128; // keep in step with the shader's MAXD4

export interface AttentionArgs {
  nHead: number;
  nKv: number;
  headDim: number;
  qkv: GPUBuffer; // (T, q_dim + 2*kv_dim): q read
  kCache: GPUBuffer; // (n_ctx, kv_dim)
  vCache: GPUBuffer; // (n_ctx, kv_dim)
  out: GPUBuffer; // (T, q_dim)
  step: GPUBuffer;
}

export function buildAttention(gpu: Gpu, alloc: Allocator, a: AttentionArgs): Promise<Dispatch> {
  if (a.headDim > MAX_HEAD_DIM || a.headDim % 4 !== 0) {
    throw new EmberError('UNSUPPORTED', `head_dim ${a.headDim} is not supported by the attention kernel (a multiple of 4, at most ${MAX_HEAD_DIM})`);
  }
  if (a.nHead % a.nKv !== 0) throw new EmberError('BAD_MODEL', `head_count ${a.nHead} is not a multiple of head_count_kv ${a.nKv}`);
  return buildKernel(gpu, alloc, {
    label: 'attention/causal',
    code: shaderText(source),
    constants: { WG },
    params: ATTENTION_PARAMS,
    values: { n_head: a.nHead, n_kv: a.nKv, head_dim: a.headDim, scale: 1 / Math.sqrt(a.headDim) },
    step: a.step,
    bindings: [a.qkv, a.kCache, a.vCache, a.out],
    grid: (n) => [a.nHead, n],
  });
}
