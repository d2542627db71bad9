import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const gpu = create([]);
const adapter = await gpu.requestAdapter();
const device = await adapter.requestDevice({ requiredFeatures: ['subgroups'].filter((f) => adapter.features.has(f)), requiredLimits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize } });
const N = 3072, K = 4608, NB = K / 32;
const head = `
enable subgroups;
@group(0) @binding(0) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> wd: array<f32>;
@group(0) @binding(2) var<storage, read> xq: array<u32>;
@group(0) @binding(3) var<storage, read> xd: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> wdh: array<u32>;
const NB: u32 = ${NB}u;
fn sx(v: u32) -> vec4<f32> { return vec4<f32>((vec4<i32>(bitcast<i32>(v)) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u)); }
fn swar(w: u32, xa: i32, xb: i32) -> i32 {
  let a = bitcast<i32>((w & 0x00FF00FFu) ^ 0x00800080u) - 0x00800080;
  let b = bitcast<i32>(((w >> 8u) & 0x00FF00FFu) ^ 0x00800080u) - 0x00800080;
  return ((a * xa + 32768) >> 16u) + ((b * xb + 32768) >> 16u);
}
`;
// body(prod): per block, 2 rows (r0, r1); x words xv0..xv7 (loaded per XMODE)
const kernel = (xmode, prod, opt = '') => head + `
@compute @workgroup_size(32)
fn main(@builtin(global_invocation_id) g: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let r0 = g.x * 2u;
  var acc = vec2<f32>();
  var xsh = 0.0;
  var pw: array<vec2<f32>, 2>;
  let xs0 = xd[g.x & 7u];
  let wd0 = wd[g.x & 7u];
  for (var b = 0u; b < NB; b++) {
    ${opt.includes('shxs') ? 'if ((b & 7u) == 0u) { xsh = xd[b + lane]; }' : ''}
    ${opt.includes('pairw') ? 'if ((b & 1u) == 0u) { for (var r = 0u; r < 2u; r++) { pw[r] = unpack2x16float(wdh[(r0 + r) * (NB / 2u) + b / 2u]); } }' : ''}
    var xv: array<u32, 8>;
    ${xmode === 'uniform'
      ? 'for (var j = 0u; j < 8u; j++) { xv[j] = xq[b * 8u + j]; }'
      : 'let mine = xq[b * 8u + lane];\n    xv = array<u32, 8>(subgroupBroadcast(mine, 0u), subgroupBroadcast(mine, 1u), subgroupBroadcast(mine, 2u), subgroupBroadcast(mine, 3u), subgroupBroadcast(mine, 4u), subgroupBroadcast(mine, 5u), subgroupBroadcast(mine, 6u), subgroupBroadcast(mine, 7u));'}
    let xs = ${opt.includes('noxs') ? 'xs0' : opt.includes('shxs') ? 'subgroupShuffle(xsh, b & 7u)' : 'xd[b]'};
    ${opt.includes('shxs') ? '' : ''}
    for (var r = 0u; r < 2u; r++) {
      let i = ((r0 + r) * NB + b) * 2u;
      let c0 = w[i];
      let c1 = w[i + 1u];
      let d = ${opt.includes('nowd') ? 'wd0' : opt.includes('pairw') ? 'select(pw[r].x, pw[r].y, (b & 1u) == 1u)' : 'wd[(r0 + r) * NB + b]'};
      ${prod}
      acc[r] += d * xs * s;
    }
  }
  y[r0] = acc.x; y[r0 + 1u] = acc.y;
}`;
const P = {
  xor: 'let c = c0 ^ c1 ^ vec4<u32>(xv[0] ^ xv[4], xv[1] ^ xv[5], xv[2] ^ xv[6], xv[3] ^ xv[7]); let s = f32(c.x ^ c.y ^ c.z ^ c.w);',
  dot4: 'let s = f32(dot4I8Packed(c0.x, xv[0]) + dot4I8Packed(c0.y, xv[1]) + dot4I8Packed(c0.z, xv[2]) + dot4I8Packed(c0.w, xv[3]) + dot4I8Packed(c1.x, xv[4]) + dot4I8Packed(c1.y, xv[5]) + dot4I8Packed(c1.z, xv[6]) + dot4I8Packed(c1.w, xv[7]));',
  f32: 'let s = dot(sx(c0.x), sx(xv[0])) + dot(sx(c0.y), sx(xv[1])) + dot(sx(c0.z), sx(xv[2])) + dot(sx(c0.w), sx(xv[3])) + dot(sx(c1.x), sx(xv[4])) + dot(sx(c1.y), sx(xv[5])) + dot(sx(c1.z), sx(xv[6])) + dot(sx(c1.w), sx(xv[7]));',
  swar: `var si = 0;
      for (var j = 0u; j < 8u; j++) {
        let xw = bitcast<i32>(xv[j]);
        let xa = ((xw << 8u) >> 24u) + ((xw << 24u) >> 24u) * 65536;
        let xb = (xw >> 24u) + ((xw << 16u) >> 24u) * 65536;
        let cw = select(c1[j & 3u], c0[j & 3u], j < 4u);
        si += swar(cw, xa, xb);
      }
      let s = f32(si);`,
};
const buf = (size) => device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
const bufs = [buf(N * K), buf(N * NB * 4), buf(K), buf(NB * 4), buf(N * 4), buf(N * NB * 2)];
const names = process.argv.slice(2);
const pipes = names.map((n) => {
  const [xmode, prod, opt] = n.split(':');
  const code = kernel(xmode, P[prod], opt);
  const p = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
  const bg = device.createBindGroup({ layout: p.getBindGroupLayout(0), entries: bufs.map((buffer, binding) => ({ binding, resource: { buffer } })).filter((e) => e.binding !== 5 || code.includes('wdh[')) });
  return { n, p, bg, best: Infinity };
});
async function run(x, iters) {
  const e = device.createCommandEncoder(); const ps = e.beginComputePass(); ps.setPipeline(x.p); ps.setBindGroup(0, x.bg);
  for (let i = 0; i < iters; i++) ps.dispatchWorkgroups(N / 64);
  ps.end(); const t0 = performance.now(); device.queue.submit([e.finish()]); await device.queue.onSubmittedWorkDone(); return (performance.now() - t0) / iters;
}
for (const x of pipes) await run(x, 1);
for (let r = 0; r < 6; r++) for (const x of pipes) x.best = Math.min(x.best, await run(x, 4));
for (const x of pipes) console.log(`${x.n.padEnd(20)} ${x.best.toFixed(2)} ms  ${(N * K * 1.125 / x.best / 1e6).toFixed(2)} GB/s`);
process.exit(0);
