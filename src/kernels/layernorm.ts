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
  ['stride', 'u32'],
  ['offset', 'u32'],
  ['pad1', 'u32'],
  ['pad2', 'u32'],
  ['pad3', 'u32'],
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
   * What is added to x before the norm: nothing (y = LN(x): a pre-norm), 'residual', y's own row (y = LN(x + y), in
   * place: a post-norm residual add), or a table of absolute position embeddings, each summed with a token type's
   * ((types, positions, dim)): y = LN(x + table[type, position]), each token's position in its input and its type from
   * `inputs` ((T) vec4<u32>: its input's first token, one past its last, its type: src/model/pass_inputs.ts). With
   * `positions` 0 the table holds a row a token type alone ((types, dim)): y = LN(x + table[type]). `{ rows }`: y = LN(x + rows[t]),
   * a (T, dim) buffer of its own.
   */
  add?: 'residual' | { table: Binding; positions: number; inputs: GPUBuffer } | { rows: Binding };
  y: Binding; // (T, dim) f32; may not alias x
  /** y = LN(y) in place on dim values of each row of y from `offset`, rows of `stride` (x not read: null; the weight stands in). */
  inRows?: { stride: number; offset: number };
  /** y = LN(x) of the pass's last row alone, into y's row 0 ((1, dim): the LM head's input); nothing added. */
  lastOnly?: boolean;
}

/** BERT's LayerNorm, one workgroup a row (shaders/layernorm.wgsl); workgroups of one SIMD group on CPU adapters, as RMSNorm's. */
export function buildLayernorm(gpu: Gpu, alloc: Allocator, a: LayernormArgs): Promise<Dispatch> {
  const add = typeof a.add === 'object' && 'table' in a.add ? a.add : null;
  const rows = typeof a.add === 'object' && 'rows' in a.add ? a.add.rows : null;
  const entry = a.lastOnly ? 'last' : a.inRows ? 'in_rows' : add ? (add.positions > 0 ? 'positions' : 'types') : rows ? 'rows' : a.add === 'residual' ? 'residual' : 'plain';
  // (the residual and plain entry points read no table: the weight's buffer stands in for it)
  const extra = add ? [add.table, a.y, add.inputs] : [rows ?? a.weight, a.y];
  return buildKernel(gpu, alloc, {
    label: `layernorm/${entry}`,
    code: shaderText(source, {}),
    entry,
    constants: { WG: rmsnormWorkgroup(gpu.caps.cpu) },
    params: LAYERNORM_PARAMS,
    values: { dim: a.dim, eps: a.eps, positions: add?.positions ?? 0, stride: a.inRows?.stride ?? a.dim, offset: a.inRows?.offset ?? 0, pad1: 0, pad2: 0, pad3: 0 },
    step: a.step,
    bindings: [a.inRows ? a.weight : a.x, a.weight, a.bias, ...extra], // (value() reads x and table in other modes: bound, never read)
    grid: (n) => [a.lastOnly ? 1 : n],
  });
}
