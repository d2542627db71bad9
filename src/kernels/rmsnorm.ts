import source from '../../shaders/rmsnorm.wgsl?raw';
import type { Gpu } from '../gpu/device.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { shaderText } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { buildKernel, type Binding, type Dispatch } from './dispatch.ts';

export const RMSNORM_PARAMS = new UniformLayout('Params', [
  ['dim', 'u32'],
  ['eps', 'f32'],
  ['last_only', 'u32'],
  ['pad0', 'u32'],
] as const);
export const RMSNORM_SOURCE = source;

export interface RmsnormArgs {
  dim: number;
  eps: number;
  step: GPUBuffer;
  x: Binding; // (T, dim) f32
  weight: Binding; // (dim) f32
  y: Binding; // (T, dim) f32, or (1, dim) with lastOnly; may not alias x
  lastOnly?: boolean;
}

export function buildRmsnorm(gpu: Gpu, alloc: Allocator, a: RmsnormArgs): Promise<Dispatch> {
  return buildKernel(gpu, alloc, {
    label: a.lastOnly ? 'rmsnorm/last' : 'rmsnorm/rows',
    code: shaderText(source),
    constants: { WG: 64 },
    params: RMSNORM_PARAMS,
    values: { dim: a.dim, eps: a.eps, last_only: a.lastOnly ? 1 : 0, pad0: 0 },
    step: a.step,
    bindings: [a.x, a.weight, a.y],
    grid: (n) => [a.lastOnly ? 1 : n],
  });
}
