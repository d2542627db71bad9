import type { Gpu } from '../src/gpu/device.ts';
import type { Dispatch } from '../src/kernels/dispatch.ts';

/**
 * Milliseconds a pass of `n` tokens at position `pos` through `list` takes: `times` passes encoded into one compute
 * pass and one submit, as a model's step is (the submit's own cost left out), awaited, divided.
 */
export async function timePass(gpu: Gpu, step: GPUBuffer, list: readonly Dispatch[], n: number, pos: number, times: number): Promise<number> {
  // (imported here, as the benches import the kernels: under tsx they load only once runUnderVite has started the script again)
  const { writeBuffer } = await import('../src/gpu/buffers.ts');
  const { encodeDispatches, STEP, STEP_DEFAULTS } = await import('../src/kernels/dispatch.ts');
  writeBuffer(gpu, step, STEP.pack({ ...STEP_DEFAULTS, n_tokens: n, pos }));
  const t0 = performance.now();
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  for (let i = 0; i < times; i++) encodeDispatches(pass, list as Dispatch[], n);
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
  await gpu.device.queue.onSubmittedWorkDone();
  return (performance.now() - t0) / times;
}
