/**
 * What one more dispatch costs on this page's adapter: N launches of a kernel in one compute pass against one launch,
 * by wall clock (submit to onSubmittedWorkDone), median of 7; the difference over N - 1 is the cost per launch. Kernels:
 * an empty one (one workgroup), and one that reads and writes 576 floats in a workgroup of 64 (the size of decode's
 * RMSNorm and SwiGLU on SmolLM2). bench/small_kernels.ts measures the same in Node with the model's own kernels.
 *
 *   npx tsx bench/browser.ts dispatch            (chromium on SwiftShader; prints the table)
 */
import { asJson, reportPage, showInOut } from '../page_result.ts';

const N = 200;
const D = 576;

const EMPTY = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> buf: array<f32>;
@compute @workgroup_size(1)
fn main() {}`;

// The same work (576 floats) in workgroups of `wg` invocations, `groups` of them.
const small = (wg: number, groups: number) => /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> buf: array<f32>;
@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  for (var i = gid.x; i < ${D}u; i += ${wg * groups}u) { buf[i] = buf[i] * 0.5 + 1.0; }
}`;

// One float per invocation, workgroups of `wg`: what a workgroup costs with next to no work.
const touch = (wg: number) => /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> buf: array<f32>;
@compute @workgroup_size(${wg})
fn main(@builtin(local_invocation_index) lid: u32) { buf[lid] += 1.0; }`;

// [name, shader, workgroups]
const KERNELS: [string, string, number][] = [
  ['empty', EMPTY, 1],
  ['576 floats, 1 x 64', small(64, 1), 1],
  ['576 floats, 16 x 4', small(4, 16), 16],
  ['576 floats, 4 x 16', small(16, 4), 4],
  ['576 floats, 1 x 4', small(4, 1), 1],
  ['a float each, 1 x 4', touch(4), 1],
  ['a float each, 1 x 64', touch(64), 1],
  ['a float each, 16 x 4', touch(4), 16],
  ['a float each, 64 x 4', touch(4), 64],
];

interface Row { kernel: string; us_per_dispatch: number; one_ms: number; many_ms: number }

async function main(): Promise<{ adapter: string; rows: Row[] }> {
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter');
  const device = await adapter.requestDevice();
  const buf = device.createBuffer({ size: D * 4, usage: GPUBufferUsage.STORAGE });
  const rows: Row[] = [];
  for (const [kernel, code, groups] of KERNELS) {
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
    const bg = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: buf } }] });
    const run = async (n: number) => {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bg);
      for (let i = 0; i < n; i++) pass.dispatchWorkgroups(groups);
      pass.end();
      const t0 = performance.now();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
      return performance.now() - t0;
    };
    const median = async (n: number) => {
      const ms: number[] = [];
      for (let r = 0; r < 8; r++) ms.push(await run(n));
      ms.shift(); // the first run compiles
      return ms.sort((a, b) => a - b)[ms.length >> 1];
    };
    const one = await median(1);
    const many = await median(N);
    rows.push({ kernel, us_per_dispatch: ((many - one) * 1e3) / (N - 1), one_ms: one, many_ms: many });
  }
  const info = adapter.info;
  return { adapter: `${info.vendor} ${info.architecture} ${info.description}`.trim(), rows };
}

reportPage(main(), showInOut, asJson);
