import source from '../../shaders/disentangled.wgsl?raw';
import { EmberError } from '../errors.ts';
import type { Gpu } from '../gpu/device.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { shaderText } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { buildKernel, ceilDiv, type Dispatch } from './dispatch.ts';

export const DISENTANGLED_PARAMS = new UniformLayout('Params', [
  ['n_head', 'u32'],
  ['head_dim', 'u32'],
  ['rows', 'u32'],
  ['scale', 'f32'],
] as const);

export interface DisentangledArgs {
  nHead: number; // (as many kv heads: q_dim = k_dim)
  headDim: number;
  scale: number; // the attention's
  qkv: GPUBuffer; // (T, 3 q_dim) f32
  rel: GPUBuffer; // (rows, 2 q_dim) f32: Qr | Kr
  relAt: GPUBuffer; // (2R + 2) u32 (debertaRows)
  table: Uint32Array; // its values, on the CPU: the grid reads them
  c2p: GPUBuffer; // (T, n_head, rows) f32
  p2c: GPUBuffer;
  rows: number; // the relative rows: 2 buckets
  step: GPUBuffer;
}

/**
 * DeBERTa's c2p and p2c terms of a pass (shaders/disentangled.wgsl), for the layer's prefill attention to add to its
 * scores (AttentionArgs.disentangled): one invocation per TB relative rows the pass reaches, head and TT tokens.
 */
export function buildDisentangled(gpu: Gpu, alloc: Allocator, a: DisentangledArgs): Promise<Dispatch> {
  if (a.headDim % 4 !== 0) throw new EmberError('UNSUPPORTED', `DeBERTa's attention: head_dim ${a.headDim} is not a multiple of 4`);
  const WG = 64, TT = 4, TB = 4; // (shaders/disentangled.wgsl's: tokens and rows an invocation takes)
  const zero = 1 + a.table[0]; // (key - query = 0)
  // rows rel_at[zero + n - 1] to rel_at[zero - n + 1] (the table falls as key - query grows)
  const reached = (n: number) => a.table[zero + 1 - n] - a.table[zero + n - 1] + 1;
  return buildKernel(gpu, alloc, {
    label: 'disentangled/terms',
    code: shaderText(source, {}, `const MAXD4: u32 = ${a.headDim / 4}u;`),
    constants: { WG },
    params: DISENTANGLED_PARAMS,
    values: { n_head: a.nHead, head_dim: a.headDim, rows: a.rows, scale: a.scale },
    step: a.step,
    bindings: [a.qkv, a.rel, a.relAt, a.c2p, a.p2c],
    grid: (n) => [ceilDiv(reached(n), WG * TB), a.nHead, ceilDiv(n, TT)],
  });
}
