import source from '../../shaders/rmsnorm.wgsl?raw';
import type { Gpu } from '../gpu/device.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { getPipeline, shaderText } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { bindGroup, staticUniform, type Binding, type Dispatch } from './dispatch.ts';

export const RMSNORM_PARAMS = new UniformLayout('Params', [
  ['dim', 'u32'],
  ['eps', 'f32'],
  ['pad0', 'u32'],
  ['pad1', 'u32'],
] as const);
export const RMSNORM_SOURCE = source;

export interface RmsnormArgs {
  dim: number;
  eps: number;
  step: GPUBuffer;
  x: Binding; // (T, dim) f32
  weight: Binding; // (dim) f32
  y: Binding; // (T, dim) f32; may not alias x
}

export async function buildRmsnorm(gpu: Gpu, alloc: Allocator, label: string, a: RmsnormArgs): Promise<Dispatch> {
  const pipeline = await getPipeline(gpu, 'rmsnorm', shaderText(source), 'main', { WG: 64 });
  const params = staticUniform(alloc, `${label}.params`, RMSNORM_PARAMS, { dim: a.dim, eps: a.eps, pad0: 0, pad1: 0 });
  return { label: 'rmsnorm/row', pipeline, bindGroup: bindGroup(gpu, label, pipeline, [params, a.step, a.x, a.weight, a.y]), grid: (n) => [n] };
}
