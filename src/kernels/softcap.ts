import source from '../../shaders/softcap.wgsl?raw';
import type { Gpu } from '../gpu/device.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { shaderText } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { buildKernel, ceilDiv, type Dispatch } from './dispatch.ts';
import { TANH_LIB } from './wgsl_lib.ts';

export const SOFTCAP_PARAMS = new UniformLayout('Params', [
  ['n', 'u32'],
  ['cap', 'f32'],
  ['pad0', 'u32'],
  ['pad1', 'u32'],
] as const);
export const SOFTCAP_SOURCE = source;

export interface SoftcapArgs {
  n: number;
  cap: number; // > 0
  x: GPUBuffer; // (n) f32, capped in place
  step: GPUBuffer;
}

export function buildSoftcap(gpu: Gpu, alloc: Allocator, a: SoftcapArgs): Promise<Dispatch> {
  const WG = 64;
  return buildKernel(gpu, alloc, {
    label: 'softcap/logits',
    code: shaderText(source, {}, TANH_LIB),
    constants: { WG },
    params: SOFTCAP_PARAMS,
    values: { n: a.n, cap: a.cap, pad0: 0, pad1: 0 },
    step: a.step,
    bindings: [a.x],
    grid: () => [ceilDiv(a.n, WG)],
  });
}
