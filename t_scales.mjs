import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const gpu = create([]);
const adapter = await gpu.requestAdapter();
const device = await adapter.requestDevice({ requiredLimits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize } });
const N = 3072, K = 4608, NB = K / 32; // 14 MB of codes
const head = `
@group(0) @binding(0) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> wd: array<f32>;
@group(0) @binding(2) var<storage, read> wd4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
const NB: u32 = ${NB}u;`;
const A = head + `
@compute @workgroup_size(32)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let r = g.x;
  var acc = 0.0; var h = vec4<u32>();
  for (var b = 0u; b < NB; b++) {
    let d = wd[r * NB + b];
    let c = w[(r * NB + b) * 2u] ^ w[(r * NB + b) * 2u + 1u];
    acc += d * f32(c.x ^ c.y ^ c.z ^ c.w);
  }
  y[r] = acc;
}`;
const B = head + `
@compute @workgroup_size(32)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let r = g.x;
  var acc = 0.0;
  for (var b4 = 0u; b4 < NB / 4u; b4++) {
    let d = wd4[r * (NB / 4u) + b4];
    let i = (r * NB + b4 * 4u) * 2u;
    let c0 = w[i] ^ w[i + 1u];
    let c1 = w[i + 2u] ^ w[i + 3u];
    let c2 = w[i + 4u] ^ w[i + 5u];
    let c3 = w[i + 6u] ^ w[i + 7u];
    acc += dot(d, vec4<f32>(f32(c0.x ^ c0.y ^ c0.z ^ c0.w), f32(c1.x ^ c1.y ^ c1.z ^ c1.w), f32(c2.x ^ c2.y ^ c2.z ^ c2.w), f32(c3.x ^ c3.y ^ c3.z ^ c3.w)));
  }
  y[r] = acc;
}`;
const C = head + `
@compute @workgroup_size(32)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let r = g.x;
  var acc = 0.0;
  for (var b = 0u; b < NB; b++) {
    let c = w[(r * NB + b) * 2u] ^ w[(r * NB + b) * 2u + 1u];
    acc += f32(c.x ^ c.y ^ c.z ^ c.w);
  }
  y[r] = acc;
}`;
const D = head + `
@compute @workgroup_size(32)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let r = g.x;
  var acc = 0.0;
  for (var b4 = 0u; b4 < NB / 4u; b4++) {
    let j = r * NB + b4 * 4u;
    let d = vec4<f32>(wd[j], wd[j + 1u], wd[j + 2u], wd[j + 3u]);
    let i = j * 2u;
    let c0 = w[i] ^ w[i + 1u];
    let c1 = w[i + 2u] ^ w[i + 3u];
    let c2 = w[i + 4u] ^ w[i + 5u];
    let c3 = w[i + 6u] ^ w[i + 7u];
    acc += dot(d, vec4<f32>(f32(c0.x ^ c0.y ^ c0.z ^ c0.w), f32(c1.x ^ c1.y ^ c1.z ^ c1.w), f32(c2.x ^ c2.y ^ c2.z ^ c2.w), f32(c3.x ^ c3.y ^ c3.z ^ c3.w)));
  }
  y[r] = acc;
}`;
const E = head + `
@compute @workgroup_size(32)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let r = g.x;
  var acc = 0.0;
  var d4 = vec4<f32>();
  for (var b = 0u; b < NB; b++) {
    if ((b & 3u) == 0u) { d4 = wd4[r * (NB / 4u) + b / 4u]; }
    let d = d4[b & 3u];
    let c = w[(r * NB + b) * 2u] ^ w[(r * NB + b) * 2u + 1u];
    acc += d * f32(c.x ^ c.y ^ c.z ^ c.w);
  }
  y[r] = acc;
}`;
const F = head + `
@compute @workgroup_size(32)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let r = g.x;
  var acc = 0.0;
  var d4 = vec4<f32>();
  for (var b = 0u; b < NB; b++) {
    if ((b & 3u) == 0u) { d4 = wd4[r * (NB / 4u) + b / 4u]; }
    let c = w[(r * NB + b) * 2u] ^ w[(r * NB + b) * 2u + 1u];
    acc += d4.x * f32(c.x ^ c.y ^ c.z ^ c.w);
    d4 = d4.yzwx;
  }
  y[r] = acc;
}`;
const G = head + `
@group(0) @binding(4) var<storage, read> wdh: array<u32>;
@compute @workgroup_size(32)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let r = g.x;
  var acc = 0.0;
  for (var b2 = 0u; b2 < NB / 2u; b2++) {
    let d = unpack2x16float(wdh[r * (NB / 2u) + b2]);
    let i = (r * NB + 2u * b2) * 2u;
    let c0 = w[i] ^ w[i + 1u];
    acc += d.x * f32(c0.x ^ c0.y ^ c0.z ^ c0.w);
    let c1 = w[i + 2u] ^ w[i + 3u];
    acc += d.y * f32(c1.x ^ c1.y ^ c1.z ^ c1.w);
  }
  y[r] = acc;
}`;
const H = head + `
@compute @workgroup_size(32)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let r = g.x;
  var acc = 0.0;
  for (var b2 = 0u; b2 < NB / 2u; b2++) {
    let j = r * NB + 2u * b2;
    let i = j * 2u;
    let c0 = w[i] ^ w[i + 1u];
    acc += wd[j] * f32(c0.x ^ c0.y ^ c0.z ^ c0.w);
    let c1 = w[i + 2u] ^ w[i + 3u];
    acc += wd[j + 1u] * f32(c1.x ^ c1.y ^ c1.z ^ c1.w);
  }
  y[r] = acc;
}`;
const buf = (size) => device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
const bufs = [buf(N * K), buf(N * NB * 4), buf(N * NB * 4), buf(N * 4), buf(N * NB * 2)];
const pipes = [['f32 scale per block', A], ['vec4 scales per 4 blocks', B], ['no scales', C], ['f16 pair per 2 blocks', G], ['f32 per block, 2 unrolled', H]].map(([n, code]) => {
  const p = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
  const bg = device.createBindGroup({ layout: p.getBindGroupLayout(0), entries: bufs.map((buffer, binding) => ({ binding, resource: { buffer } })).filter((e) => code.includes(['w[', 'wd[', 'wd4[', 'y[', 'wdh['][e.binding])) });
  return { n, p, bg, best: Infinity };
});
async function run(x, iters) {
  const e = device.createCommandEncoder(); const ps = e.beginComputePass(); ps.setPipeline(x.p); ps.setBindGroup(0, x.bg);
  for (let i = 0; i < iters; i++) ps.dispatchWorkgroups(N / 32);
  ps.end(); const t0 = performance.now(); device.queue.submit([e.finish()]); await device.queue.onSubmittedWorkDone(); return (performance.now() - t0) / iters;
}
for (const x of pipes) await run(x, 1);
for (let r = 0; r < 6; r++) for (const x of pipes) x.best = Math.min(x.best, await run(x, 4));
for (const x of pipes) console.log(`${x.n.padEnd(26)} ${x.best.toFixed(2)} ms  ${(N * K * 1.125 / x.best / 1e6).toFixed(2)} GB/s (Q8_0 bytes)`);
process.exit(0);
