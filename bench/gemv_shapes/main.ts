/**
 * Experiment: which way of writing the q8 x Q8_0 GEMV suits this page's adapter. Each variant reads the same
 * weights (row-major int8 codes as vec4<u32>, an f32 scale per 32) and Q8_0 x, and must give the CPU's sums.
 *   npx tsx bench/browser.ts gemv_shapes 'K=576&N=1536'
 */
import { reportPage, showInOut } from '../page_result.ts';

const q = new URLSearchParams(location.search);
const K = Number(q.get('K') ?? 576);
const N = Number(q.get('N') ?? 1536);
const ITERS = Number(q.get('iters') ?? 20);
const NB = K / 32;

const HEAD = /* wgsl */ `
@group(0) @binding(0) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> wd: array<f32>;
@group(0) @binding(2) var<storage, read> xq: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> xd: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
const NB: u32 = ${NB}u;
const N: u32 = ${N}u;
fn d4(a: vec4<u32>, b: vec4<u32>) -> i32 {
  return dot4I8Packed(a.x, b.x) + dot4I8Packed(a.y, b.y) + dot4I8Packed(a.z, b.z) + dot4I8Packed(a.w, b.w);
}
fn u4(a: vec4<u32>, b: vec4<u32>) -> i32 {
  return dot(unpack4xI8(a.x), unpack4xI8(b.x)) + dot(unpack4xI8(a.y), unpack4xI8(b.y)) + dot(unpack4xI8(a.z), unpack4xI8(b.z)) + dot(unpack4xI8(a.w), unpack4xI8(b.w));
}
fn x4(a: vec4<u32>, b: vec4<u32>) -> i32 { // loads only: not a product (timing)
  let c = a ^ b;
  return bitcast<i32>(c.x ^ c.y ^ c.z ^ c.w);
}
fn sx(v: u32) -> vec4<f32> { return vec4<f32>((vec4<i32>(bitcast<i32>(v)) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u)); }
fn f4(a: vec4<u32>, b: vec4<u32>) -> i32 {
  return i32((dot(sx(a.x), sx(b.x)) + dot(sx(a.y), sx(b.y))) + (dot(sx(a.z), sx(b.z)) + dot(sx(a.w), sx(b.w))));
}
`;

// One row per lane.
const R1 = (dot: string) => HEAD + /* wgsl */ `
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let r = min(g.x, N - 1u);
  var acc = 0.0;
  for (var b = 0u; b < NB; b++) {
    let wi = (r * NB + b) * 2u;
    let s = ${dot}(w[wi], xq[2u * b]) + ${dot}(w[wi + 1u], xq[2u * b + 1u]);
    acc += f32(s) * (wd[r * NB + b] * xd[b]);
  }
  if (g.x < N) { y[g.x] += acc; }
}`;

// Four rows per lane, written out (no arrays: SwiftShader does not unroll loops, so an array indexed
// by a loop counter stays in memory and every access is a per-lane gather). `sums` sets block b's 4 sums s (vec4<f32>)
// from the rows' vec4 indices wi of its codes; `lib` adds functions.
const rows4 = (sums: string, lib = '') => HEAD + lib + /* wgsl */ `
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let r0 = g.x * 4u;
  let r = min(vec4<u32>(r0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(N - 1u));
  var acc = vec4<f32>();
  for (var b = 0u; b < NB; b++) {
    let wi = (r * NB + b) * 2u;
    ${sums}
    let gi = r * NB + b;
    acc += s * vec4<f32>(wd[gi.x], wd[gi.y], wd[gi.z], wd[gi.w]) * xd[b];
  }
  for (var i = 0u; i < 4u; i++) { if (r0 + i < N) { y[r0 + i] += acc[i]; } }
}`;

// The products by `dot` (d4, u4, f4 or x4 in HEAD), x's two pieces loaded once for the 4 rows.
const R4 = (dot: string) => rows4(/* wgsl */ `let xa = xq[2u * b];
    let xb = xq[2u * b + 1u];
    let s = vec4<f32>(vec4<i32>(
      ${dot}(w[wi.x], xa) + ${dot}(w[wi.x + 1u], xb),
      ${dot}(w[wi.y], xa) + ${dot}(w[wi.y + 1u], xb),
      ${dot}(w[wi.z], xa) + ${dot}(w[wi.z + 1u], xb),
      ${dot}(w[wi.w], xa) + ${dot}(w[wi.w + 1u], xb)));`);

// x's codes widened to f32 once per piece for the 4 rows.
const R4X = rows4(/* wgsl */ `var s = vec4<f32>();
    for (var v = 0u; v < 2u; v++) {
      let xv = xq[2u * b + v];
      let x0 = sx(xv.x);
      let x1 = sx(xv.y);
      let x2 = sx(xv.z);
      let x3 = sx(xv.w);
      s += vec4<f32>(wdot(w[wi.x + v], x0, x1, x2, x3), wdot(w[wi.y + v], x0, x1, x2, x3), wdot(w[wi.z + v], x0, x1, x2, x3), wdot(w[wi.w + v], x0, x1, x2, x3));
    }`, /* wgsl */ `
fn wdot(w: vec4<u32>, x0: vec4<f32>, x1: vec4<f32>, x2: vec4<f32>, x3: vec4<f32>) -> f32 {
  return (dot(sx(w.x), x0) + dot(sx(w.y), x1)) + (dot(sx(w.z), x2) + dot(sx(w.w), x3));
}`);

const VARIANTS: [string, string, number][] = [
  ['r1 dot4I8Packed', R1('d4'), 1], ['r1 f32', R1('f4'), 1],
  ['r4 dot4I8Packed', R4('d4'), 4], ['r4 f32', R4('f4'), 4], ['r4 unpack4xI8', R4('u4'), 4], ['r4 f32, x widened once', R4X, 4], ['r4 xor (no dot)', R4('x4'), 4],
];

async function main(): Promise<{ text: string }> {
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter');
  const device = await adapter.requestDevice();
  let seed = 1;
  const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) >>> 0);
  const codes = new Int8Array(N * K).map(() => (rnd() % 255) - 127);
  const xc = new Int8Array(K).map(() => (rnd() % 255) - 127);
  const wd = new Float32Array(N * NB).map(() => (rnd() % 1000) / 1e5);
  const xd = new Float32Array(NB).map(() => (rnd() % 1000) / 1e3);
  const expect = new Float32Array(N);
  for (let r = 0; r < N; r++) {
    let acc = 0;
    for (let b = 0; b < NB; b++) {
      let s = 0;
      for (let k = 0; k < 32; k++) s += codes[r * K + b * 32 + k] * xc[b * 32 + k];
      acc += s * (wd[r * NB + b] * xd[b]);
    }
    expect[r] = acc;
  }
  const buf = (data: ArrayBufferView, usage = GPUBufferUsage.STORAGE) => {
    const b = device.createBuffer({ size: data.byteLength, usage: usage | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
    return b;
  };
  const bufs = [buf(codes), buf(wd), buf(xc), buf(xd), device.createBuffer({ size: N * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST })];
  const read = device.createBuffer({ size: N * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const lines = [`adapter ${adapter.info.vendor} ${adapter.info.architecture}, K=${K} N=${N}, ${(N * K * 1.125 / 1e6).toFixed(2)} MB`];
  for (const [name, code, rows] of VARIANTS) {
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
    const bg = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: bufs.map((buffer, binding) => ({ binding, resource: { buffer } })) });
    const run = async (n: number) => {
      device.queue.writeBuffer(bufs[4], 0, new Float32Array(N));
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bg);
      for (let i = 0; i < n; i++) pass.dispatchWorkgroups(Math.ceil(N / rows / 64));
      pass.end();
      enc.copyBufferToBuffer(bufs[4], 0, read, 0, N * 4);
      const t0 = performance.now();
      device.queue.submit([enc.finish()]);
      await read.mapAsync(GPUMapMode.READ);
      const ms = performance.now() - t0;
      const y = new Float32Array(read.getMappedRange().slice(0));
      read.unmap();
      return { ms, y };
    };
    const { y } = await run(1);
    let worst = 0;
    for (let i = 0; i < N; i++) worst = Math.max(worst, Math.abs(y[i] - expect[i]) / (1e-4 + 1e-4 * Math.abs(expect[i])));
    if (!(worst <= 1) && !name.includes('xor')) throw new Error(`${name}: wrong (worst error ratio ${worst})`);
    let best = Infinity;
    for (let r = 0; r < 3; r++) {
      const t = await run(ITERS);
      if (!name.includes('xor') && t.y.some((v, i) => Math.abs(v - ITERS * y[i]) > 1e-3 * ITERS * Math.abs(y[i]) + 1e-3)) throw new Error(`${name}: ${ITERS} runs did not add up (${t.y[0]} against ${y[0]})`);
      best = Math.min(best, t.ms / ITERS);
    }
    lines.push(`${name.padEnd(20)} ${(best * 1e3).toFixed(0).padStart(7)} us  ${(N * K * 1.125 / best / 1e6).toFixed(2)} GB/s`);
    document.getElementById('out')!.textContent = lines.join('\n');
  }
  return { text: lines.join('\n') };
}

reportPage(main(), showInOut); // main shows its lines as they come
