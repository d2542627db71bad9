import source from '../../shaders/attention.wgsl?raw';
import type { Gpu } from '../gpu/device.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { shaderText } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { EmberError } from '../errors.ts';
import { buildKernel, type Dispatch } from './dispatch.ts';
import { TANH_LIB } from './wgsl_lib.ts';

export const ATTENTION_PARAMS = new UniformLayout('Params', [
  ['n_head', 'u32'],
  ['n_kv', 'u32'],
  ['head_dim', 'u32'],
  ['scale', 'f32'],
  ['window', 'u32'],
  ['cache_len', 'u32'],
  ['softcap', 'f32'],
  ['pad0', 'u32'],
] as const);
export const ATTENTION_SOURCE = source;
export const MAX_HEAD_DIM = 256;
/** The kernel's workgroup storage is WG * head_dim / 2 vec4s (16 KiB at most, WebGPU's default limit). */
const workgroupSize = (headDim: number) => (headDim > 128 ? 16 : 32);

export interface AttentionArgs {
  nHead: number;
  nKv: number;
  headDim: number;
  scale: number; // multiplies q.k
  window: number; // keys pos-window+1..pos; 0 = all
  cacheLen: number; // rows of the K/V ring
  softcap: number; // 0 = off
  qkv: GPUBuffer; // (T, q_dim + 2*kv_dim): q read
  kCache: GPUBuffer; // (cacheLen, kv_dim)
  vCache: GPUBuffer; // (cacheLen, kv_dim)
  out: GPUBuffer; // (T, q_dim)
  step: GPUBuffer;
}

export function buildAttention(gpu: Gpu, alloc: Allocator, a: AttentionArgs): Promise<Dispatch> {
  if (a.headDim > MAX_HEAD_DIM || a.headDim % 4 !== 0) {
    throw new EmberError('UNSUPPORTED', `head_dim ${a.headDim} is not supported by the attention kernel (a multiple of 4, at most ${MAX_HEAD_DIM})`);
  }
  if (a.nHead % a.nKv !== 0) throw new EmberError('BAD_MODEL', `head_count ${a.nHead} is not a multiple of head_count_kv ${a.nKv}`);
  return buildKernel(gpu, alloc, {
    label: a.window > 0 ? 'attention/window' : 'attention/causal',
    code: shaderText(source, {}, TANH_LIB, `const MAXD4: u32 = ${a.headDim / 4}u;`),
    constants: { WG: workgroupSize(a.headDim) },
    params: ATTENTION_PARAMS,
    values: { n_head: a.nHead, n_kv: a.nKv, head_dim: a.headDim, scale: a.scale, window: a.window, cache_len: a.cacheLen, softcap: a.softcap, pad0: 0 },
    step: a.step,
    bindings: [a.qkv, a.kCache, a.vCache, a.out],
    grid: (n) => [a.nHead, n],
  });
}
