import source from '../../shaders/moe.wgsl?raw';
import { EmberError } from '../errors.ts';
import type { Gpu } from '../gpu/device.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { shaderText } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { buildKernel, ceilDiv, type Dispatch } from './dispatch.ts';
import { EXPERT_TILE, expertGroups } from './matmul_experts.ts';

export const MOE_PARAMS = new UniformLayout('Params', [
  ['experts', 'u32'],
  ['slots', 'u32'],
  ['width', 'u32'],
  ['scale', 'f32'],
  ['tile', 'u32'],
  ['tiles', 'u32'],
  ['pad0', 'u32'],
  ['pad1', 'u32'],
] as const);
export const MOE_SOURCE = source;
/** The most experts a token may take (MAX_SLOTS in shaders/moe.wgsl). */
export const MOE_MAX_SLOTS = 16;

export interface MoeRouteArgs {
  experts: number;
  slots: number; // experts a token takes
  normTopk: boolean; // the chosen weights renormalised to sum 1
  logits: GPUBuffer; // (T, experts) f32: the router's
  ids: GPUBuffer; // (T, slots) u32: written
  weights: GPUBuffer; // (T, slots) f32: written
  step: GPUBuffer;
}

export interface MoeCombineArgs {
  slots: number;
  width: number; // D
  scale: number; // the sum's multiplier (Granite's residual one), else 1
  weights: GPUBuffer; // (T, slots) f32
  expertOut: GPUBuffer; // (T * slots, width) f32
  x: GPUBuffer; // (T, width) f32: added to
  step: GPUBuffer;
}

const WG = 64;
const NO_GROUPS = { tile: 0, tiles: 0, pad0: 0, pad1: 0 };

function checkShape(experts: number, slots: number): void {
  if (!(Number.isInteger(experts) && experts >= 1 && Number.isInteger(slots) && slots >= 1 && slots <= Math.min(experts, MOE_MAX_SLOTS))) {
    throw new EmberError('UNSUPPORTED', `a mixture of ${experts} experts, ${slots} a token: emberlm takes 1 to ${MOE_MAX_SLOTS} a token, no more than there are`);
  }
}

/** Each token's experts (the `slots` largest router logits) and their weights (softmax over all, renormalised where normTopk). */
export async function buildMoeRoute(gpu: Gpu, alloc: Allocator, a: MoeRouteArgs): Promise<Dispatch> {
  checkShape(a.experts, a.slots);
  return buildKernel(gpu, alloc, {
    label: 'moe/route',
    code: shaderText(source, {}),
    entry: 'route',
    constants: { WG, NORM_TOPK: +a.normTopk },
    params: MOE_PARAMS,
    values: { ...NO_GROUPS, experts: a.experts, slots: a.slots, width: 0, scale: 1 },
    step: a.step,
    bindings: [a.logits, a.ids, a.weights],
    grid: (n) => [ceilDiv(n, WG), 1],
  });
}

/** x += scale * (each token's slots' expert outputs, weighted and summed). */
export async function buildMoeCombine(gpu: Gpu, alloc: Allocator, a: MoeCombineArgs): Promise<Dispatch> {
  checkShape(a.slots, a.slots);
  return buildKernel(gpu, alloc, {
    label: 'moe/combine',
    code: shaderText(source, {}),
    entry: 'combine',
    constants: { WG },
    params: MOE_PARAMS,
    values: { ...NO_GROUPS, experts: 0, slots: a.slots, width: a.width, scale: a.scale },
    step: a.step,
    bindings: [null, null, null, a.weights, a.expertOut, a.x],
    grid: (n) => [ceilDiv(a.width, WG), n],
  });
}

export interface MoeGroupArgs {
  experts: number;
  slots: number;
  maxTokens: number; // the most tokens a pass runs (sizes `groups`)
  ids: GPUBuffer; // (T, slots) u32: route's
  groups: GPUBuffer; // expertGroups(maxTokens, slots, experts).words u32: written
  step: GPUBuffer;
}

/**
 * The prefill's sort of a pass's slots by expert, for the expert GEMM (MatmulArgs.experts.groups): each expert's run of
 * slots padded to whole tiles of EXPERT_TILE, each tile's expert. One workgroup a pass.
 */
export async function buildMoeGroup(gpu: Gpu, alloc: Allocator, a: MoeGroupArgs): Promise<Dispatch> {
  checkShape(a.experts, a.slots);
  const { tiles, words } = expertGroups(a.maxTokens, a.slots, a.experts);
  if (a.groups.size < words * 4) throw new EmberError('BAD_ARGUMENT', `moe/group: groups needs ${words * 4} bytes, the buffer has ${a.groups.size}`);
  return buildKernel(gpu, alloc, {
    label: 'moe/group',
    code: shaderText(source, {}),
    entry: 'group',
    constants: { WG, EXPERTS_MAX: a.experts },
    params: MOE_PARAMS,
    values: { experts: a.experts, slots: a.slots, width: 0, scale: 1, tile: EXPERT_TILE, tiles, pad0: 0, pad1: 0 },
    step: a.step,
    bindings: [null, null, null, null, null, null, a.ids, a.groups],
    grid: () => [1, 1],
  });
}
