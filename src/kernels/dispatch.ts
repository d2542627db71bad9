import type { Gpu } from '../gpu/device.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { writeBuffer } from '../gpu/buffers.ts';

/**
 * One recorded kernel launch: pipeline and bind group are made at load; only the grid depends on
 * how many tokens this forward pass runs (read on the GPU side from the Step uniform).
 */
export interface Dispatch {
  readonly label: string; // "<family>/<variant>", e.g. "matmul_q8/gemv"; the family is the text before '/'
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly grid: (nTokens: number) => readonly [number, number?, number?];
}

export function encodeDispatches(pass: GPUComputePassEncoder, list: readonly Dispatch[], nTokens: number): void {
  for (const d of list) {
    const [x, y = 1, z = 1] = d.grid(nTokens);
    if (x === 0 || y === 0 || z === 0) continue;
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    pass.dispatchWorkgroups(x, y, z);
  }
}

export type Binding = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

/** Bind group whose binding i is entries[i]. */
export function bindGroup(gpu: Gpu, label: string, pipeline: GPUComputePipeline, entries: readonly Binding[]): GPUBindGroup {
  return gpu.device.createBindGroup({
    label,
    layout: pipeline.getBindGroupLayout(0),
    entries: entries.map((e, i) => ({ binding: i, resource: 'usage' in e ? { buffer: e } : e })),
  });
}

/** A uniform buffer holding one packed struct, created at load. */
export function staticUniform<F extends string>(alloc: Allocator, label: string, layout: UniformLayout<F>, values: Record<F, number>): GPUBuffer {
  const buf = alloc.uniform(label, layout.size);
  writeBuffer(alloc.gpu, buf, layout.pack(values));
  return buf;
}

/**
 * Per-forward-pass values every kernel may read (binding 1 where used): written once per forward
 * with a single writeBuffer, so a decode step changes no other uniform.
 */
export const STEP = new UniformLayout('Step', [
  ['n_tokens', 'u32'], // tokens in this pass (1 for decode)
  ['pos', 'u32'], // position of the first of them
  ['seed', 'u32'], // sampling: per-step random seed
  ['temperature', 'f32'], // sampling: 0 = greedy
  ['top_k', 'u32'], // sampling: 0 = off
  ['top_p', 'f32'], // sampling: 1 = off
  ['uniform_rand', 'f32'], // sampling: a uniform random number in [0,1) drawn on the CPU from the seeded generator
  ['pad0', 'u32'],
] as const);
export type StepValues = Parameters<typeof STEP.pack>[0];

export const ceilDiv = (a: number, b: number) => Math.ceil(a / b);
