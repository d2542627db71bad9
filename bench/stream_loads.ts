/**
 * bench/loads (the browser page) in Node, on lavapipe: 64 MiB streamed by 8-lane workgroups as a storage buffer read
 * a vec4<u32> per load, as 4 u32 loads, or as an rgba32uint texture (textureLoad), each with every invocation on its own
 * run (contig) or neighbours on neighbouring vec4s (coalesced). lavapipe compiles a texel fetch to a call per lane
 * (53 instructions per 8-lane load in the shader's body, against 411 for a vec4 buffer load), but it streamed no faster.
 *
 *   npx tsx bench/stream_loads.ts   (LP_NUM_THREADS=0 unless set; 3 rounds, best of 3 each)
 */
import { loadavg } from 'node:os';
import { BUFFER_SOURCE, LOADS, streamKernel, TEX_W, TEXTURE_SOURCE } from './loads/kernel.ts';

process.env.LP_NUM_THREADS ??= '0';
const { create, globals } = (await import('webgpu')) as unknown as { create: (o: string[]) => GPU; globals: object };
Object.assign(globalThis, globals);
const gpu = create([]);
const adapter = (await gpu.requestAdapter())!;
const device = await adapter.requestDevice();
const BYTES = 64 * 2 ** 20;
const WG = 8;
const invocations = BYTES / 16 / LOADS;
const buffer = device.createBuffer({ size: BYTES, usage: GPUBufferUsage.STORAGE });
const texture = device.createTexture({ size: [TEX_W, BYTES / 16 / TEX_W], format: 'rgba32uint', usage: GPUTextureUsage.TEXTURE_BINDING });
const out = device.createBuffer({ size: invocations * 4, usage: GPUBufferUsage.STORAGE });
// The 4 x u32 read: the same words as the vec4 one, a load each.
const U32_SOURCE = ['vec4<u32>(src[4u * i], src[4u * i + 1u], src[4u * i + 2u], src[4u * i + 3u])', '@group(0) @binding(0) var<storage, read> src: array<u32>;'] as const;
const reads = [['buffer vec4', ...BUFFER_SOURCE], ['buffer 4 x u32', ...U32_SOURCE], ['texture', ...TEXTURE_SOURCE]] as const;
const groups = invocations / WG;
console.log(`adapter: ${adapter.info.description}; load average ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
for (let round = 0; round < 3; round++) {
  for (const contiguous of [true, false]) {
    for (const [name, read, decl] of reads) {
      const module = device.createShaderModule({ code: streamKernel(read, decl, WG) });
      const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main', constants: { CONTIGUOUS: +contiguous } } });
      const source = name === 'texture' ? texture.createView() : { buffer };
      const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: source }, { binding: 1, resource: { buffer: out } }] });
      const run = async () => {
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(Math.min(groups, 65535), Math.ceil(groups / 65535));
        pass.end();
        device.queue.submit([enc.finish()]);
        await device.queue.onSubmittedWorkDone();
      };
      await run(); // compiles
      let best = Infinity;
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        await run();
        best = Math.min(best, performance.now() - t0);
      }
      console.log(`${`${name} ${contiguous ? 'contiguous' : 'coalesced'}`.padEnd(28)} ${(BYTES / best / 1e6).toFixed(2)} GB/s`);
    }
  }
}
console.log(`load average ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
process.exit(0);
