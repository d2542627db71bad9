import source from '../../shaders/shortconv.wgsl?raw';
import type { Gpu } from '../gpu/device.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { shaderText } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { buildKernel, ceilDiv, type Dispatch } from './dispatch.ts';

export const SHORTCONV_PARAMS = new UniformLayout('Params', [
  ['dim', 'u32'],
  ['taps', 'u32'],
  ['rows', 'u32'],
  ['pad', 'u32'],
] as const);
export const SHORTCONV_SOURCE = source;

export interface ShortConvArgs {
  dim: number; // D, the channels
  taps: number; // the kernel's length (LFM2's conv_L_cache)
  rows: number; // the state ring's rows: kvCacheRows(taps, nCtx, maxBatch)
  bcx: GPUBuffer; // (T, 3D): B, C, x (in_proj's output)
  kernel: GPUBuffer; // (D, taps) f32
  state: GPUBuffer; // (rows, D) f32: B * x by position, kept across passes
  y: GPUBuffer; // (T, D): C * conv(B * x)
  step: GPUBuffer;
}

/** LFM2's gated short convolution for the pass's tokens at positions pos..: writes their B * x into the ring and y. */
export function buildShortConv(gpu: Gpu, alloc: Allocator, a: ShortConvArgs): Promise<Dispatch> {
  const WG = 64;
  return buildKernel(gpu, alloc, {
    label: 'shortconv/main',
    code: shaderText(source),
    constants: { WG },
    params: SHORTCONV_PARAMS,
    values: { dim: a.dim, taps: a.taps, rows: a.rows, pad: 0 },
    step: a.step,
    bindings: [a.bcx, a.kernel, a.state, a.y],
    grid: (n) => [ceilDiv(a.dim, WG), n],
  });
}
