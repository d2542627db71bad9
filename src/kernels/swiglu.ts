import source from '../../shaders/swiglu.wgsl?raw';
import type { Gpu } from '../gpu/device.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { shaderText } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { buildKernel, ceilDiv, type Dispatch } from './dispatch.ts';

export const SWIGLU_PARAMS = new UniformLayout('Params', [
  ['n_ff', 'u32'],
  ['pad0', 'u32'],
  ['pad1', 'u32'],
  ['pad2', 'u32'],
] as const);
export const SWIGLU_SOURCE = source;

export interface SwigluArgs {
  nFf: number;
  gateUp: GPUBuffer; // (T, 2*n_ff)
  h: GPUBuffer; // (T, n_ff)
  step: GPUBuffer;
}

export function buildSwiglu(gpu: Gpu, alloc: Allocator, a: SwigluArgs): Promise<Dispatch> {
  const WG = 64;
  return buildKernel(gpu, alloc, {
    label: 'swiglu/rows',
    code: shaderText(source),
    constants: { WG },
    params: SWIGLU_PARAMS,
    values: { n_ff: a.nFf, pad0: 0, pad1: 0, pad2: 0 },
    step: a.step,
    bindings: [a.gateUp, a.h],
    grid: (n) => [ceilDiv(a.nFf, WG), n],
  });
}
