import source from '../../shaders/moe.wgsl?raw';
import { EmberError } from '../errors.ts';
import type { Gpu } from '../gpu/device.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { shaderText } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { buildKernel, ceilDiv, type Binding, type Dispatch } from './dispatch.ts';
import { EXPERT_TILE, expertGroups } from './matmul_experts.ts';
import { MOE_MAX_SLOTS, type MoeGating } from '../model/moe_shape.ts';

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

export interface MoeRouteArgs {
  experts: number;
  slots: number; // experts a token takes
  normTopk: boolean; // the chosen weights renormalised to sum 1
  gating: MoeGating; // softmax over the logits, or each one's sigmoid
  bias?: GPUBuffer; // (experts) f32: sigmoid gating's selection bias (none: zeros)
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

/** One entry of shaders/moe.wgsl: its Params (what the entry does not read left 0, scale 1) and its bindings from 2. */
function moeKernel(
  gpu: Gpu, alloc: Allocator, entry: 'route' | 'combine' | 'group', a: { step: GPUBuffer }, constants: Record<string, number>,
  values: Partial<Record<(typeof MOE_PARAMS.fields)[number][0], number>>, bindings: Binding[], grid: Dispatch['grid'],
): Promise<Dispatch> {
  const params = { experts: 0, slots: 0, width: 0, scale: 1, tile: 0, tiles: 0, pad0: 0, pad1: 0, ...values };
  return buildKernel(gpu, alloc, { label: `moe/${entry}`, code: shaderText(source, {}), entry, constants: { WG, ...constants }, params: MOE_PARAMS, values: params, step: a.step, bindings, grid });
}

function checkShape(experts: number, slots: number): void {
  if (!(Number.isInteger(experts) && experts >= 1 && Number.isInteger(slots) && slots >= 1 && slots <= Math.min(experts, MOE_MAX_SLOTS))) {
    throw new EmberError('UNSUPPORTED', `a mixture of ${experts} experts, ${slots} a token: emberlm takes 1 to ${MOE_MAX_SLOTS} a token, no more than there are`);
  }
}

/**
 * Each token's experts and their weights: the `slots` largest router logits, softmax over all; or the `slots` largest
 * sigmoids plus bias, their sigmoids; renormalised where normTopk.
 */
export async function buildMoeRoute(gpu: Gpu, alloc: Allocator, a: MoeRouteArgs): Promise<Dispatch> {
  checkShape(a.experts, a.slots);
  const sigmoid = a.gating === 'sigmoid';
  if (a.bias && !sigmoid) throw new EmberError('BAD_ARGUMENT', 'moe/route: a selection bias goes with sigmoid gating');
  // (softmax never reads the bias binding: the logits stand in)
  const bias = a.bias ?? (sigmoid ? alloc.upload('moe.no_bias', new Float32Array(a.experts)) : a.logits);
  const values = { experts: a.experts, slots: a.slots };
  const bindings = [a.logits, a.ids, a.weights, null, null, null, null, null, bias];
  return moeKernel(gpu, alloc, 'route', a, { NORM_TOPK: +a.normTopk, SIGMOID: +sigmoid }, values, bindings, (n) => [ceilDiv(n, WG), 1]);
}

/** x += scale * (each token's slots' expert outputs, weighted and summed). */
export async function buildMoeCombine(gpu: Gpu, alloc: Allocator, a: MoeCombineArgs): Promise<Dispatch> {
  checkShape(a.slots, a.slots);
  const values = { slots: a.slots, width: a.width, scale: a.scale };
  return moeKernel(gpu, alloc, 'combine', a, {}, values, [null, null, null, a.weights, a.expertOut, a.x], (n) => [ceilDiv(a.width, WG), n]);
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
  const values = { experts: a.experts, slots: a.slots, tile: EXPERT_TILE, tiles };
  return moeKernel(gpu, alloc, 'group', a, { EXPERTS_MAX: a.experts }, values, [null, null, null, null, null, null, a.ids, a.groups], () => [1, 1]);
}
