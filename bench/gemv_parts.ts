/**
 * Where a CPU adapter's Q8_0 GEMV spends its time: the shape of the per-row GEMV ('rows', R = 2 rows a lane,
 * 32-blocks of two vec4s of codes and an f32 scale), stripped part by part and timed in turns in one process.
 *   x       uniform: every lane loads the block's 8 words of x itself; shared: each lane one word, broadcast
 *   product none: the codes xor-ed with x (loads only); dot4: dot4I8Packed (the engine's GEMV); f32: codes widened
 *   options no-w-scale / no-x-scale: the block's scale loaded once before the loop instead of per block;
 *           w-scale-pairs: the weight scales as f16 pairs, a word per two blocks (GpuWeights.halfScales)
 *           w-scale-quads: the weight scales as f32 vec4s, one load per four blocks, block b's picked by b & 3
 * Times only (no result is checked: most variants compute nothing meaningful).
 *
 *   npx tsx bench/gemv_parts.ts [--rows 3072] [--k 4608] [--rounds 6]
 *     [--variants shared:dot4,shared:none,uniform:dot4,shared:dot4:no-w-scale,shared:dot4:w-scale-pairs]
 */
import { parseArgs } from 'node:util';
import { cpuUsage } from 'node:process';
import { loadavg } from 'node:os';
import { runUnderVite } from './run_under_vite.ts';

const PRODUCTS: Record<string, string> = {
  none: 'let c = c0 ^ c1 ^ vec4<u32>(xv[0] ^ xv[4], xv[1] ^ xv[5], xv[2] ^ xv[6], xv[3] ^ xv[7]);\n      let s = f32(c.x ^ c.y ^ c.z ^ c.w);',
  dot4: 'let s = f32(dot4I8Packed(c0.x, xv[0]) + dot4I8Packed(c0.y, xv[1]) + dot4I8Packed(c0.z, xv[2]) + dot4I8Packed(c0.w, xv[3])\n        + dot4I8Packed(c1.x, xv[4]) + dot4I8Packed(c1.y, xv[5]) + dot4I8Packed(c1.z, xv[6]) + dot4I8Packed(c1.w, xv[7]));',
  f32: 'let s = dot(sx(c0.x), sx(xv[0])) + dot(sx(c0.y), sx(xv[1])) + dot(sx(c0.z), sx(xv[2])) + dot(sx(c0.w), sx(xv[3]))\n        + dot(sx(c1.x), sx(xv[4])) + dot(sx(c1.y), sx(xv[5])) + dot(sx(c1.z), sx(xv[6])) + dot(sx(c1.w), sx(xv[7]));',
};

function kernel(nb: number, x: string, product: string, opts: string[]): string {
  const has = (o: string) => opts.includes(o);
  const xLoad = x === 'uniform'
    ? 'for (var j = 0u; j < 8u; j++) { xv[j] = xq[b * 8u + j]; }'
    : 'let mine = xq[b * 8u + lane % 8u];\n    for (var j = 0u; j < 8u; j++) { xv[j] = subgroupShuffle(mine, j); }';
  const wScale = has('no-w-scale') ? 'wd0'
    : has('w-scale-pairs') ? 'select(pair[r].x, pair[r].y, (b & 1u) == 1u)'
    : has('w-scale-quads') ? 'quad[r][b & 3u]'
    : 'wd[(r0 + r) * NB + b]';
  return /* wgsl */ `
enable subgroups;
@group(0) @binding(0) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> wd: array<f32>;
@group(0) @binding(2) var<storage, read> wdh: array<u32>;
@group(0) @binding(3) var<storage, read> xq: array<u32>;
@group(0) @binding(4) var<storage, read> xd: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<storage, read> wd4: array<vec4<f32>>;
const NB: u32 = ${nb}u;
fn sx(v: u32) -> vec4<f32> { return vec4<f32>((vec4<i32>(bitcast<i32>(v)) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u)); }
@compute @workgroup_size(32)
fn main(@builtin(global_invocation_id) g: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let r0 = g.x * 2u;
  let wd0 = wd[g.x & 7u] + f32(wdh[g.x & 7u]) + wd4[g.x & 7u].x; // keeps every binding used
  let xs0 = xd[g.x & 7u];
  var pair: array<vec2<f32>, 2>;
  var quad: array<vec4<f32>, 2>;
  var acc = vec2<f32>();
  for (var b = 0u; b < NB; b++) {
    ${has('w-scale-quads') ? 'if ((b & 3u) == 0u) { for (var r = 0u; r < 2u; r++) { quad[r] = wd4[(r0 + r) * (NB / 4u) + b / 4u]; } }' : ''}
    ${has('w-scale-pairs') ? 'if ((b & 1u) == 0u) { for (var r = 0u; r < 2u; r++) { pair[r] = unpack2x16float(wdh[(r0 + r) * (NB / 2u) + b / 2u]); } }' : ''}
    var xv: array<u32, 8>;
    ${xLoad}
    let xs = ${has('no-x-scale') ? 'xs0' : 'xd[b]'};
    for (var r = 0u; r < 2u; r++) {
      let i = ((r0 + r) * NB + b) * 2u;
      let c0 = w[i];
      let c1 = w[i + 1u];
      ${PRODUCTS[product]}
      acc[r] += ${wScale} * xs * s;
    }
  }
  y[r0] = acc.x;
  y[r0 + 1u] = acc.y;
}`;
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const { values: a } = parseArgs({
    args: argv,
    options: {
      rows: { type: 'string', default: '3072' }, k: { type: 'string', default: '4608' }, rounds: { type: 'string', default: '6' },
      variants: { type: 'string', default: 'shared:dot4,shared:none,uniform:dot4,shared:f32,shared:dot4:no-w-scale,shared:dot4:no-x-scale,shared:dot4:w-scale-pairs' },
    },
  });
  await import('../src/node/host.ts');
  const { createGpu } = await import('../src/gpu/device.ts');
  const gpu = await createGpu();
  if (!gpu.caps.subgroups) throw new Error('bench/gemv_parts.ts needs subgroups');
  const device = gpu.device;
  const [N, K] = [Number(a.rows), Number(a.k)];
  const nb = K / 32;
  const buf = (size: number) => device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const buffers = [buf(N * K), buf(N * nb * 4), buf(N * nb * 2), buf(K), buf(nb * 4), buf(N * 4), buf(N * nb * 4)];
  const runs = a.variants.split(',').map((name) => {
    const [x, product, ...opts] = name.split(':');
    if (!(product in PRODUCTS) || (x !== 'uniform' && x !== 'shared')) throw new Error(`variant ${name}: x uniform|shared, product ${Object.keys(PRODUCTS).join('|')}`);
    const module = device.createShaderModule({ code: kernel(nb, x, product, opts) });
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const entries = buffers.map((buffer, binding) => ({ binding, resource: { buffer } }));
    return { name, pipeline, bindGroup: device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }), ms: Infinity, cpuMs: Infinity };
  });
  const time = async (r: (typeof runs)[number], iters: number) => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(r.pipeline);
    pass.setBindGroup(0, r.bindGroup);
    for (let i = 0; i < iters; i++) pass.dispatchWorkgroups(Math.ceil(N / 64));
    pass.end();
    const [t0, c0] = [performance.now(), cpuUsage()];
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    const c = cpuUsage(c0);
    return [(performance.now() - t0) / iters, (c.user + c.system) / 1e3 / iters];
  };
  console.log(`load average: ${loadavg().map((v) => v.toFixed(2)).join(' ')}; ${gpu.caps.adapterName}; ${N} rows x ${K}, ${((N * K * 1.125) / 1e6).toFixed(1)} MB of Q8_0`);
  for (const r of runs) await time(r, 1); // compiles
  for (let round = 0; round < Number(a.rounds); round++) {
    for (const r of runs) {
      const [ms, cpuMs] = await time(r, 4);
      r.ms = Math.min(r.ms, ms);
      r.cpuMs = Math.min(r.cpuMs, cpuMs);
    }
  }
  for (const r of runs) console.log(`${r.name.padEnd(28)} ${r.ms.toFixed(2)} ms (${((N * K * 1.125) / r.ms / 1e6).toFixed(2)} GB/s), CPU ${r.cpuMs.toFixed(2)} ms`);
  console.log(`load average: ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  process.exit(0);
}

await runUnderVite(import.meta);
