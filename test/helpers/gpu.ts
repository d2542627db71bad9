import { createGpu, type Gpu } from '../../src/gpu/device.ts';
import { Allocator, writeBuffer } from '../../src/gpu/buffers.ts';
import { STEP, STEP_DEFAULTS, type StepValues } from '../../src/kernels/dispatch.ts';
import { mulberry32 } from '../../src/util/rng.ts';

/** One device per variant per test file: 'f16' uses shader-f16 and subgroups where present, 'f32' disables both. */
const gpus = new Map<string, Promise<Gpu>>();
export function testGpu(variant: 'f16' | 'f32' = 'f16'): Promise<Gpu> {
  let g = gpus.get(variant);
  if (!g) gpus.set(variant, (g = createGpu({ disable: variant === 'f32' ? ['shader-f16', 'subgroups'] : [] })));
  return g;
}
export const VARIANTS = ['f16', 'f32'] as const;

export function stepBuffer(alloc: Allocator, values: Partial<StepValues> = {}): GPUBuffer {
  const buf = alloc.uniform('step', STEP.size);
  setStep(alloc, buf, values);
  return buf;
}
export function setStep(alloc: Allocator, buf: GPUBuffer, values: Partial<StepValues>): void {
  writeBuffer(alloc.gpu, buf, STEP.pack({ ...STEP_DEFAULTS, ...values }));
}

/** Seeded PRNG for test inputs (the sampler's own generator). */
export const rng = mulberry32;
export function randn(r: () => number, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  return out;
}

/** max |a-b| / (atol + rtol*|b|) over all elements: <= 1 means within tolerance. */
export function worstRatio(a: ArrayLike<number>, b: ArrayLike<number>, atol: number, rtol: number): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let w = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue;
    const r = Math.abs(a[i] - b[i]) / (atol + rtol * Math.abs(b[i]));
    if (!(r <= w)) w = Number.isNaN(r) ? Infinity : Math.max(w, r);
  }
  return w;
}

import type { Dispatch } from '../../src/kernels/dispatch.ts';
import { encodeDispatches } from '../../src/kernels/dispatch.ts';
import type { Gpu as GpuT } from '../../src/gpu/device.ts';

/** Encodes and submits dispatches for n tokens in one compute pass; true when one was its pipeline's first (encodeDispatches). */
export function run(gpu: GpuT, list: readonly Dispatch[], nTokens: number): boolean {
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  const first = encodeDispatches(pass, list, nTokens);
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
  return first;
}
