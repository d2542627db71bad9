/**
 * How this machine's lavapipe compiles a storage-buffer load whose address differs between lanes: the x86 code
 * llvmpipe generates (Mesa's GALLIVM_DEBUG=asm) for a kernel of 16 such loads outside any loop, summarised as the
 * instructions that matter: vector gathers, scalar loads, conditional jumps. Mesa 25.0.7 (LLVM 15) issues each lane's
 * 32-bit load on its own, behind a branch on the lane's mask bit and one on the buffer's bound, the buffer's address and
 * size read again per lane: 145 instructions and 23 conditional jumps per 8-lane load here, which is why the CPU kernels
 * count loads, not bytes. A Mesa that gathers (llvm.masked.gather for a uniform buffer index, newer llvmpipe) shows
 * vpgatherdd instead, and the CPU layouts would be worth measuring again.
 *
 * --uniform: the same words read at addresses every lane shares (the subgroup's 8 words loaded by each lane, then
 * lane l keeps word l by selects): whether this Mesa loads a uniform address once (it does not: each lane loads it).
 * --width vec2|vec4|mat4: 64 words a lane read as 32 vec2<u32>, 16 vec4<u32> or 4 mat4x4<f32> loads (Mesa 25.0.7:
 * 7,140, 6,326 and 6,351 instructions, 99-112 a word against 145 for u32 loads: a wider load saves little).
 *
 *   npx tsx bench/lavapipe_loads.ts [--uniform | --width vec2|vec4|mat4]  (runs itself again with GALLIVM_DEBUG=asm LP_NUM_THREADS=0)
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const UNIFORM = process.argv.includes('--uniform') || process.env.EMBERLM_LOADS_UNIFORM === '1';
const widthAt = process.argv.indexOf('--width');
const WIDTH = process.env.EMBERLM_LOADS_WIDTH ?? (widthAt >= 0 ? process.argv[widthAt + 1] : undefined);
// The wide loads' element type, its words, and how its words are folded into a vec4<u32>.
const WIDE: Record<string, { type: string; words: number; fold: (e: string) => string }> = {
  vec2: { type: 'vec2<u32>', words: 2, fold: (e) => `vec4<u32>(${e}, 0u, 0u)` },
  vec4: { type: 'vec4<u32>', words: 4, fold: (e) => e },
  mat4: { type: 'mat4x4<f32>', words: 16, fold: (e) => `bitcast<vec4<u32>>((${e})[0] + (${e})[1] + (${e})[2] + (${e})[3])` },
};
const wide = WIDTH === undefined ? undefined : WIDE[WIDTH];
if (WIDTH !== undefined && !wide) throw new Error(`--width: vec2, vec4 or mat4, not '${WIDTH}'`);
const LOADS = wide ? 64 / wide.words : 16;
// Lane l's word of 8 read uniformly: all 8 words at addresses the lanes share, then lane l's picked by selects.
const pick = (i: number) =>
  Array.from({ length: 8 }, (_, k) => `w[base + ${i * 8 + k}u]`).reduce((a, v, k) => (k === 0 ? v : `select(${a}, ${v}, lane == ${k}u)`));
const KERNEL = wide
  ? /* wgsl */ `
@group(0) @binding(0) var<storage, read> w: array<${wide.type}>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@compute @workgroup_size(8)
fn main(@builtin(global_invocation_id) g: vec3u) {
  var acc = vec4<u32>();
${Array.from({ length: LOADS }, (_, i) => `  acc ^= ${wide.fold(`w[g.x * ${LOADS}u + ${i}u]`)};`).join('\n')}
  y[g.x] = acc.x ^ acc.y ^ acc.z ^ acc.w;
}`
  : UNIFORM
  ? /* wgsl */ `enable subgroups;
@group(0) @binding(0) var<storage, read> w: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let base = wg.x * ${LOADS * 8}u;
  var acc = 0u;
${Array.from({ length: LOADS }, (_, i) => `  acc ^= ${pick(i)} * 0x9E3779B1u;`).join('\n')}
  y[wg.x * 8u + lane] = acc;
}`
  : /* wgsl */ `
@group(0) @binding(0) var<storage, read> w: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@compute @workgroup_size(8)
fn main(@builtin(global_invocation_id) g: vec3u) {
  var acc = 0u;
${Array.from({ length: LOADS }, (_, i) => `  acc ^= w[g.x * ${LOADS}u + ${i}u] * 0x9E3779B1u;`).join('\n')}
  y[g.x] = acc;
}`;

/** The child: compile and run the kernel once (lavapipe compiles at the first dispatch), so Mesa prints its code. */
async function child(): Promise<void> {
  const { create, globals } = (await import('webgpu')) as unknown as { create: (o: string[]) => GPU; globals: object };
  Object.assign(globalThis, globals);
  const gpu = create([]);
  const adapter = (await gpu.requestAdapter())!;
  console.log(`adapter: ${adapter.info.description}`);
  const device = await adapter.requestDevice({ requiredFeatures: UNIFORM ? ['subgroups' as GPUFeatureName] : [] });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: KERNEL }), entryPoint: 'main' } });
  const buffer = (size: number) => device.createBuffer({ size, usage: GPUBufferUsage.STORAGE });
  const entries = [buffer(8 * LOADS * (UNIFORM ? 8 : 1) * 4 * (wide?.words ?? 1)), buffer(8 * 4)].map((b, binding) => ({ binding, resource: { buffer: b } }));
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }));
  pass.dispatchWorkgroups(1);
  pass.end();
  device.queue.submit([enc.finish()]);
  await device.queue.onSubmittedWorkDone();
  process.exit(0);
}

function parent(): void {
  // The shader cache off: a cached shader is not compiled again, so Mesa would print nothing.
  const env = {
    ...process.env, GALLIVM_DEBUG: 'asm', LP_NUM_THREADS: '0', MESA_SHADER_CACHE_DISABLE: 'true', EMBERLM_LOADS_CHILD: '1',
    EMBERLM_LOADS_UNIFORM: UNIFORM ? '1' : '0', ...(wide ? { EMBERLM_LOADS_WIDTH: WIDTH } : {}),
  };
  // The child's output goes to a file: Mesa writes the code with C stdio, and into a pipe that Node has made
  // non-blocking a long listing (--uniform) lost whatever did not fit when the pipe was full.
  const file = join(mkdtempSync(join(tmpdir(), 'emberlm-loads-')), 'asm.txt');
  const fd = openSync(file, 'w');
  spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], { env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const text = readFileSync(file, 'utf8');
  rmSync(dirname(file), { recursive: true });
  // The compute shader's body: from its label to the coroutine's resume stub.
  const body = /^cs_co_variant:$([\s\S]*?)^cs_co_variant\.resume:/m.exec(text)?.[1];
  if (!body) throw new Error(`no compute shader code in Mesa's output (is this lavapipe? GALLIVM_DEBUG=asm needs llvmpipe):\n${text.slice(0, 2000)}`);
  const count = (re: RegExp) => body.match(re)?.length ?? 0;
  const lines = body.split('\n').filter((l) => /^\s+[0-9a-f]+:\s/.test(l)).length;
  const gathers = count(/\bv(p)?gather\w*/g);
  const jumps = count(/\sj(?!mp)[a-z]+\s/g);
  const scalarLoads = count(/\(%r\w+,%r\w+,4\)/g); // indexed 4-byte accesses: the lanes' loads
  const mesa = /^adapter: (.*)$/m.exec(text)?.[1] ?? 'an adapter that did not say';
  const what = wide ? `${LOADS} lane-varying ${wide.type} loads of 8 lanes (64 words a lane)`
    : UNIFORM ? `${LOADS} groups of 8 u32 loads at addresses the 8 lanes share (lane l keeps word l)` : `${LOADS} lane-varying u32 loads of 8 lanes`;
  console.log(`${mesa}: ${what}, outside any loop:`);
  console.log(`  ${lines} instructions, ${gathers} vector gathers, ${scalarLoads} indexed 4-byte loads, ${jumps} conditional jumps`);
  console.log(`  per ${UNIFORM ? 'group of 8 words' : 'load'}: ${(lines / LOADS).toFixed(0)} instructions, ${(jumps / LOADS).toFixed(1)} conditional jumps`);
  if (wide) console.log(`  per word a lane: ${(lines / 64).toFixed(0)} instructions`);
  console.log(gathers > 0 ? '  this Mesa gathers: re-measure the CPU layouts (bench/gemv_parts.ts, bench/matmul_ab.ts)' : '  lane by lane: each load costs per lane, whatever its width');
}

if (process.env.EMBERLM_LOADS_CHILD) await child();
else parent();
