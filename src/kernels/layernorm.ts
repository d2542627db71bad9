import source from '../../shaders/layernorm.wgsl?raw';
import type { Gpu } from '../gpu/device.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { shaderText } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { buildKernel, type Binding, type Dispatch } from './dispatch.ts';
import { rmsnormWorkgroup } from './rmsnorm.ts';

export const LAYERNORM_PARAMS = new UniformLayout('Params', [
  ['dim', 'u32'],
  ['eps', 'f32'],
  ['positions', 'u32'],
  ['pad1', 'u32'],
] as const);
export const LAYERNORM_SOURCE = source;

export interface LayernormArgs {
  dim: number;
  eps: number;
  step: GPUBuffer;
  x: Binding; // (T, dim) f32
  weight: Binding; // (dim) f32
  bias: Binding; // (dim) f32
  /**
   * What is added to x before the norm: 'residual', y's own row (y = LN(x + y), in place: a post-norm residual add), or
   * a table of absolute position embeddings, each summed with a token type's ((types, positions, dim)): row pos + t,
   * type 0's, or type 1's from Step.segment_b on (y = LN(x + table[type, pos + t])).
   */
  add: 'residual' | { table: Binding; positions: number };
  y: Binding; // (T, dim) f32; may not alias x
}

/** BERT's LayerNorm, one workgroup a row (shaders/layernorm.wgsl); workgroups of one SIMD group on CPU adapters, as RMSNorm's. */
export function buildLayernorm(gpu: Gpu, alloc: Allocator, a: LayernormArgs): Promise<Dispatch> {
  const residual = a.add === 'residual';
  return buildKernel(gpu, alloc, {
    label: residual ? 'layernorm/residual' : 'layernorm/positions',
    code: shaderText(source, {}),
    entry: residual ? 'residual' : 'positions',
    constants: { WG: rmsnormWorkgroup(gpu.caps.cpu) },
    params: LAYERNORM_PARAMS,
    values: { dim: a.dim, eps: a.eps, positions: residual ? 0 : (a.add as { positions: number }).positions, pad1: 0 },
    step: a.step,
    // (the residual entry point reads no table: the weight's buffer stands in for it)
    bindings: [a.x, a.weight, a.bias, residual ? a.weight : (a.add as { table: Binding }).table, a.y],
    grid: (n) => [n],
  });
}
