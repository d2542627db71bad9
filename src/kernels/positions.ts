import source from '../../shaders/positions.wgsl?raw';
import type { Gpu } from '../gpu/device.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { shaderText } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { buildKernel, ceilDiv, type Dispatch } from './dispatch.ts';

export const POSITIONS_PARAMS = new UniformLayout('Params', [
  ['dim', 'u32'],
  ['pad0', 'u32'],
  ['pad1', 'u32'],
  ['pad2', 'u32'],
] as const);
export const POSITIONS_SOURCE = source;

export interface PositionsArgs {
  dim: number;
  table: GPUBuffer; // (positions, dim) f32: a row per position the context reaches
  x: GPUBuffer; // (T, dim) f32: the embeddings, the pass's positions' rows added in place
  step: GPUBuffer;
}

/** GPT-2's learned positions: x[t] += table[pos + t] for the pass's tokens (the context is at most the table's rows: load.ts). */
export function buildPositions(gpu: Gpu, alloc: Allocator, a: PositionsArgs): Promise<Dispatch> {
  const WG = 64;
  return buildKernel(gpu, alloc, {
    label: 'positions/add',
    code: shaderText(source, {}),
    constants: { WG },
    params: POSITIONS_PARAMS,
    values: { dim: a.dim, pad0: 0, pad1: 0, pad2: 0 },
    step: a.step,
    bindings: [a.table, a.x],
    grid: (n) => [ceilDiv(a.dim, WG), n],
  });
}
