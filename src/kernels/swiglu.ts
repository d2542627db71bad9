import source from '../../shaders/swiglu.wgsl?raw';
import { GLU_LIB, Q8_BLOCK_LIB } from './wgsl_lib.ts';
import type { Gpu } from '../gpu/device.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { shaderText } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { buildKernel, ceilDiv, type Dispatch } from './dispatch.ts';
import { rmsnormWorkgroup } from './rmsnorm.ts';
import { GLU_ACTS } from './matmul.ts';

/** The FFN activations by swiglu's act code: the gated ones (GLU_ACTS, glu_act's), GELU by erf, and ReLU (T5's, ungated). */
export const FFN_ACTS = { ...GLU_ACTS, gelu: 2, relu: 3 } as const;
export type FfnAct = keyof typeof FFN_ACTS;

export const SWIGLU_PARAMS = new UniformLayout('Params', [
  ['n_ff', 'u32'],
  ['act', 'u32'],
  ['paired', 'u32'],
  ['pad2', 'u32'],
] as const);
export const SWIGLU_SOURCE = source;

export interface SwigluArgs {
  nFf: number;
  act?: FfnAct; // default silu
  gateUp: GPUBuffer; // (T, 2*n_ff): [gate | up] per token, or gate/up pairs with `paired`; (T, n_ff) `ungated`
  /** gate j and up j side by side (rows of a GLU matmul's weights, pairRows), not [gate | up]. */
  paired?: boolean;
  /** No gate: h = act(up), gateUp's rows n_ff long (BERT's FFN). */
  ungated?: boolean;
  h: GPUBuffer; // (T, n_ff)
  step: GPUBuffer;
  /** Also write h in Q8_0 for a q8/q4 ffn_down: codes (T, n_ff/4) u32, scales (T, n_ff/32) f32. n_ff % 32 == 0. */
  quantized?: { codes: GPUBuffer; scales: GPUBuffer };
}

export function buildSwiglu(gpu: Gpu, alloc: Allocator, a: SwigluArgs): Promise<Dispatch> {
  // main_q8 (an invocation a block) in workgroups of 8 on CPU adapters, as RMSNorm: on SwiftShader one workgroup of 64
  // took 4.6-5.5 ms a token for SmolLM2's 30 layers, 6 of 8 took 3.4-3.7 (whole model, alternating twice).
  const WG = a.quantized ? rmsnormWorkgroup(gpu.caps.cpu) : 64;
  return buildKernel(gpu, alloc, {
    label: `${a.ungated ? a.act ?? 'silu' : a.act === 'gelu_tanh' ? 'geglu' : 'swiglu'}/${a.quantized ? 'rows_q8' : 'rows'}`,
    code: shaderText(source, {}, Q8_BLOCK_LIB, GLU_LIB),
    entry: a.quantized ? 'main_q8' : 'main',
    constants: { WG },
    params: SWIGLU_PARAMS,
    values: { n_ff: a.nFf, act: FFN_ACTS[a.act ?? 'silu'], paired: a.ungated ? 2 : a.paired ? 1 : 0, pad2: 0 },
    step: a.step,
    bindings: a.quantized ? [a.gateUp, a.h, a.quantized.codes, a.quantized.scales] : [a.gateUp, a.h],
    grid: (n) => [ceilDiv(a.quantized ? a.nFf / 32 : a.nFf, WG), n],
  });
}
