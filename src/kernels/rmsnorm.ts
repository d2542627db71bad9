import source from '../../shaders/rmsnorm.wgsl?raw';
import wordsSource from '../../shaders/rmsnorm_words.wgsl?raw';
import { Q8_BLOCK_LIB, RMS_LIB } from './wgsl_lib.ts';
import type { Gpu } from '../gpu/device.ts';
import { EmberError } from '../errors.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { shaderText } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { buildKernel, type Binding, type Dispatch } from './dispatch.ts';
import { subgroupsOf8 } from './matmul_tuning.ts';

export const RMSNORM_PARAMS = new UniformLayout('Params', [
  ['dim', 'u32'],
  ['eps', 'f32'],
  ['last_only', 'u32'],
  ['add', 'u32'],
] as const);
export const RMSNORM_SOURCE = source;

/**
 * Invocations per workgroup: on CPU adapters one SIMD group (8), whose barriers cost no switches between
 * groups: a 128-token pass's RMSNorm + Q8_0 (D = 576) took 531-537 us against 1045-1075 with 64 on lavapipe
 * (the same bits; one process, load ~3.6).
 */
export const rmsnormWorkgroup = (cpu: boolean) => (cpu ? 8 : 64);

export interface RmsnormArgs {
  dim: number;
  eps: number;
  step: GPUBuffer;
  x: Binding; // (T, dim) f32
  weight: Binding; // (dim) f32
  y: Binding; // (T, dim) f32, or (1, dim) with lastOnly; may not alias x
  lastOnly?: boolean;
  /** y += norm(x) * w (a residual add); not with lastOnly or quantized. */
  add?: boolean;
  /** Also write y in Q8_0 for a q8/q4 matmul: codes (T, dim/4) u32, scales (T, dim/32) f32. dim % 32 == 0. */
  quantized?: { codes: GPUBuffer; scales: GPUBuffer };
  wg?: number; // invocations per workgroup (default rmsnormWorkgroup of the adapter)
  /**
   * How main_q8 lays out the Q8_0 work, the same bits every way: 'blocks' (main_q8: a block a lane, scalar loads; GPUs'
   * default), 'quads' (a block a lane, x, w and y by vec4; CPU adapters'), 'words' (a word a lane, by vec4,
   * shaders/rmsnorm_words.wgsl; CPU adapters' with subgroups of 8).
   */
  layout?: RmsnormQ8Layout;
}

export type RmsnormQ8Layout = 'blocks' | 'quads' | 'words';
const Q8_ENTRY: Record<RmsnormQ8Layout, string> = { blocks: 'main_q8', quads: 'main_q8_quads', words: 'main_q8_words' };

export async function buildRmsnorm(gpu: Gpu, alloc: Allocator, a: RmsnormArgs): Promise<Dispatch> {
  const { cpu } = gpu.caps;
  const layout = a.layout ?? (cpu ? (subgroupsOf8(gpu.caps) ? 'words' : 'quads') : 'blocks');
  const words = !!a.quantized && layout === 'words';
  const wg = a.wg ?? rmsnormWorkgroup(cpu);
  if (words && (!subgroupsOf8(gpu.caps) || wg % 8)) throw new EmberError('BAD_ARGUMENT', `rmsnorm: Q8_0 a word a lane needs subgroups of 8 and workgroups of a multiple of 8, got ${wg}`);
  return buildKernel(gpu, alloc, {
    label: a.lastOnly ? 'rmsnorm/last' : a.quantized ? 'rmsnorm/rows_q8' : a.add ? 'rmsnorm/rows_add' : 'rmsnorm/rows',
    code: words ? shaderText(`${source}\n${wordsSource}`, { subgroups: true }, Q8_BLOCK_LIB, RMS_LIB) : shaderText(source, {}, Q8_BLOCK_LIB, RMS_LIB),
    entry: a.quantized ? Q8_ENTRY[layout] : 'main',
    constants: { WG: wg },
    params: RMSNORM_PARAMS,
    values: { dim: a.dim, eps: a.eps, last_only: a.lastOnly ? 1 : 0, add: a.add ? 1 : 0 },
    step: a.step,
    bindings: a.quantized ? [a.x, a.weight, a.y, a.quantized.codes, a.quantized.scales] : [a.x, a.weight, a.y],
    grid: (n) => [a.lastOnly ? 1 : n],
  });
}
