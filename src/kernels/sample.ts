import source from '../../shaders/sample.wgsl?raw';
import type { Gpu } from '../gpu/device.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { shaderText } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { buildKernel, type Dispatch } from './dispatch.ts';

export const SAMPLE_PARAMS = new UniformLayout('Params', [
  ['vocab', 'u32'],
  ['pad0', 'u32'],
  ['pad1', 'u32'],
  ['pad2', 'u32'],
] as const);
export const SAMPLE_SOURCE = source;

export interface SampleArgs {
  vocab: number;
  logits: GPUBuffer; // (vocab) f32
  result: GPUBuffer; // (1) u32
  step: GPUBuffer; // temperature, top_k, top_p, uniform_rand
}

export function buildSample(gpu: Gpu, alloc: Allocator, a: SampleArgs): Promise<Dispatch> {
  return buildKernel(gpu, alloc, {
    label: 'sample/pick',
    code: shaderText(source),
    constants: { WG: 256 },
    params: SAMPLE_PARAMS,
    values: { vocab: a.vocab, pad0: 0, pad1: 0, pad2: 0 },
    step: a.step,
    bindings: [a.logits, a.result],
    grid: () => [1],
  });
}
