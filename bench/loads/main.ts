/**
 * Which way of streaming weights is fastest on this page's adapter: a storage buffer read per lane
 * (vec4<u32>, or u32 words: "buffer words"), or an rgba32uint texture read with textureLoad, each with every invocation on its own
 * run (CPU SIMD) or neighbours on neighbouring addresses (GPU). Software adapters differ here:
 * lavapipe and SwiftShader issue buffer loads lane by lane, with a branch per lane under robustness,
 * while a texel fetch is one 16-byte load per lane. Results go to the page and to window.__bench.
 *
 *   npx tsx bench/browser.ts loads            (chromium on SwiftShader; prints the table)
 */
import { asJson, reportPage, showInOut } from '../page_result.ts';
import { BUFFER_SOURCE, LOADS, streamKernel, TEX_W, TEXTURE_ROW_SOURCE, TEXTURE_SOURCE, wordSource, atomicWordSource } from './kernel.ts';

const MIB = 2 ** 20;
const BYTES = 64 * MIB;
const WG = 64;

const BUFFER = streamKernel(...BUFFER_SOURCE, WG);
const TEXTURE = streamKernel(...TEXTURE_SOURCE, WG);
const WORDS = streamKernel(...wordSource(WG), WG);
const ATOMIC_WORDS = streamKernel(...atomicWordSource(WG), WG);
const TEXTURE_ROW = streamKernel(TEXTURE_ROW_SOURCE[0], TEXTURE_ROW_SOURCE[1], WG, TEXTURE_ROW_SOURCE[2]);

interface Row { path: string; layout: string; gb_s: number; ms: number[] }

async function main(): Promise<{ adapter: string; rows: Row[] }> {
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter');
  const device = await adapter.requestDevice({ requiredLimits: { maxStorageBufferBindingSize: BYTES, maxBufferSize: BYTES } });
  const n = BYTES / 16;
  const data = new Uint32Array(BYTES / 4);
  for (let i = 0; i < data.length; i++) data[i] = Math.imul(i, 0x9e3779b1) >>> 0;
  const buf = device.createBuffer({ size: BYTES, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(buf, 0, data);
  const tex = device.createTexture({ size: [TEX_W, n / TEX_W], format: 'rgba32uint', usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST });
  device.queue.writeTexture({ texture: tex }, data, { bytesPerRow: TEX_W * 16 }, [TEX_W, n / TEX_W]);
  const invocations = n / LOADS;
  const out = device.createBuffer({ size: invocations * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const groups = invocations / WG;
  const gx = Math.min(groups, 32768);
  const rows: Row[] = [];
  for (const [path, code, resource] of [['buffer', BUFFER, { buffer: buf }], ['buffer words', WORDS, { buffer: buf }], ['atomic words', ATOMIC_WORDS, { buffer: buf }], ['texture', TEXTURE, tex.createView()], ['texture rows', TEXTURE_ROW, tex.createView()]] as const) {
    for (const contiguous of path === 'texture rows' ? [true] : [true, false]) {
      const pipeline = device.createComputePipeline({
        layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main', constants: { CONTIGUOUS: contiguous ? 1 : 0 } },
      });
      const bg = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource }, { binding: 1, resource: { buffer: out } }] });
      const ms: number[] = [];
      for (let r = 0; r < 6; r++) {
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bg);
        pass.dispatchWorkgroups(gx, groups / gx);
        pass.end();
        const t0 = performance.now();
        device.queue.submit([enc.finish()]);
        await device.queue.onSubmittedWorkDone();
        if (r > 0) ms.push(performance.now() - t0); // the first run compiles
      }
      const best = Math.min(...ms);
      rows.push({ path, layout: contiguous ? 'contiguous' : 'coalesced', gb_s: BYTES / best / 1e6, ms: ms.map((m) => Math.round(m * 10) / 10) });
    }
  }
  const info = adapter.info;
  return { adapter: `${info.vendor} ${info.architecture} ${info.description}`.trim(), rows };
}

reportPage(main(), showInOut, asJson);
