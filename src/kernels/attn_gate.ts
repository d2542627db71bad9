import source from '../../shaders/attn_gate.wgsl?raw';
import type { Gpu } from '../gpu/device.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { shaderText } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { buildKernel, ceilDiv, type Dispatch } from './dispatch.ts';

export const ATTN_GATE_PARAMS = new UniformLayout('Params', [
  ['width', 'u32'],
  ['pad0', 'u32'],
  ['pad1', 'u32'],
  ['pad2', 'u32'],
] as const);
export const ATTN_GATE_SOURCE = source;

export interface AttnGateArgs {
  width: number; // q_dim
  gate: GPUBuffer; // (T, width) f32
  out: GPUBuffer; // (T, width) f32: the attention's output, times sigmoid(gate) in place
  step: GPUBuffer;
}

/** Qwen3.5's gated attention output: out *= sigmoid(gate) for the pass's tokens. */
export function buildAttnGate(gpu: Gpu, alloc: Allocator, a: AttnGateArgs): Promise<Dispatch> {
  const WG = 64;
  return buildKernel(gpu, alloc, {
    label: 'attn_gate/sigmoid',
    code: shaderText(source, {}),
    constants: { WG },
    params: ATTN_GATE_PARAMS,
    values: { width: a.width, pad0: 0, pad1: 0, pad2: 0 },
    step: a.step,
    bindings: [a.gate, a.out],
    grid: (n) => [ceilDiv(a.width, WG), n],
  });
}

