/**
 * GPU time of decode's small kernels, each launched `iters` times in one pass (timeList), next to an empty
 * dispatch: what a launch costs on this device, and what each kernel adds to it.
 *
 *   npx tsx bench/small_kernels.ts [--iters 200] [--dim 576] [--ff 1536]
 */
import { parseArgs } from 'node:util';
import { runUnderVite } from './run_under_vite.ts';
import { timeList } from './matmul.ts';

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const { values: a } = parseArgs({ args: argv, options: { iters: { type: 'string', default: '200' }, dim: { type: 'string', default: '576' }, ff: { type: 'string', default: '1536' } } });
  await import('../src/node/host.ts');
  const { createGpu } = await import('../src/gpu/device.ts');
  const { Allocator } = await import('../src/gpu/buffers.ts');
  const { buildRmsnorm } = await import('../src/kernels/rmsnorm.ts');
  const { buildSwiglu } = await import('../src/kernels/swiglu.ts');
  const { STEP, STEP_DEFAULTS } = await import('../src/kernels/dispatch.ts');
  const { buildMatmul, uploadWeights } = await import('../src/kernels/matmul.ts');
  const { packQ8 } = await import('../src/kernels/ref/matmul.ts');
  const { loadavg } = await import('node:os');
  const gpu = await createGpu();
  const alloc = new Allocator(gpu);
  const [D, F, iters] = [Number(a.dim), Number(a.ff), Number(a.iters)];
  const step = alloc.uniform('step', STEP.size);
  gpu.device.queue.writeBuffer(step, 0, STEP.pack(STEP_DEFAULTS));
  const f32 = (label: string, n: number) => alloc.upload(label, Float32Array.from({ length: n }, (_, i) => Math.sin(i) + 0.5));
  const q8 = (label: string, k: number) => ({ codes: alloc.storage(`${label}.q`, k), scales: alloc.storage(`${label}.d`, k / 8) });
  const x = f32('x', D), nw = f32('nw', D), xn = alloc.storage('xn', D * 4), gateUp = f32('gu', 2 * F), h = alloc.storage('h', F * 4);
  // An empty kernel with one binding: the launch alone.
  const emptyPipe = gpu.device.createComputePipeline({
    layout: 'auto',
    compute: { module: gpu.device.createShaderModule({ code: '@group(0) @binding(0) var<storage, read_write> o: array<u32>;\n@compute @workgroup_size(64) fn main(@builtin(local_invocation_index) i: u32) { if (i == 9999u) { o[0] = 1u; } }' }), entryPoint: 'main' },
  });
  const empty = { label: 'empty', pipeline: emptyPipe, bindGroup: gpu.device.createBindGroup({ layout: emptyPipe.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: h } }] }), grid: () => [1] as [number] };
  const rows: [string, Awaited<ReturnType<typeof buildRmsnorm>>[]][] = [
    ['rmsnorm', [await buildRmsnorm(gpu, alloc, { dim: D, eps: 1e-5, step, x, weight: nw, y: xn })]],
    ['rmsnorm + Q8_0', [await buildRmsnorm(gpu, alloc, { dim: D, eps: 1e-5, step, x, weight: nw, y: xn, quantized: q8('xn', D) })]],
    ['swiglu + Q8_0', [await buildSwiglu(gpu, alloc, { nFf: F, act: 'silu', gateUp, h, step, quantized: q8('h', F), paired: false })]],
  ];
  // A GEMV's quantize dispatch alone: the first of a q8 GEMV list without quantizedX.
  const w = uploadWeights(alloc, 'w', packQ8(new Float32Array(16 * D).fill(0.01), 16, D));
  const mm = await buildMatmul(gpu, alloc, { label: 'mm', w, x, y: alloc.storage('y', 16 * 4), step, maxTokens: 1 });
  rows.push(['quantize_x', mm.gemv.slice(0, 1)], ['q8 GEMV 16 rows', mm.gemv.slice(1)]);
  rows.unshift(['empty', [empty]]);
  console.log(`load average: ${loadavg().map((v) => v.toFixed(2)).join(' ')}; ${gpu.caps.adapterName}; D=${D} F=${F}, ${iters} launches a timing`);
  for (let round = 0; round < 2; round++) {
    for (const [name, list] of rows) {
      let best = Infinity;
      for (let rep = 0; rep < 3; rep++) best = Math.min(best, await timeList(gpu, list, iters));
      if (round === 1) console.log(`${name.padEnd(18)} ${best.toFixed(1).padStart(7)} us`);
    }
  }
  console.log(`load average: ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  alloc.destroyAll();
  gpu.device.destroy();
}

await runUnderVite(import.meta);
