/**
 * GEMV (decode) bandwidth of the matmul kernels, in GB/s of weight bytes (codes + scales), next to a
 * streaming-read kernel measured on the same device.
 *
 *   npx tsx bench/matmul.ts [--iters 100] [--no-subgroups] [--layout rows|split|both] [--wg 64] [--r 2] [--prefill 64]
 *     [--gemm rows|tiled] [--gemm-wg 64] [--gemm-r 2] [--tt 4] [--xvec 1|4|8]
 *     [--formats f32,f16,q8,q4,int8,fp8e4m3,fp8e5m2,fp8e4m3-g32,fp8e5m2-g32,q4_1,q5_0,...,q4_k,q6_k,iq4_xs]
 *     [--shapes 576x1536,1536x576]   (K x N)
 *
 * Formats: the weight formats, plus int8 (q8 with one scale per row) and fp8*-g32 (one scale per 32;
 * plain fp8e4m3 / fp8e5m2 have one per row). The GGUF block formats get random valid ggml blocks
 * (ggmlRandomBlocks) and are skipped on shapes whose K is not whole blocks (K-quants: 256).
 * The default shapes are SmolLM2-135M's (576 -> 1536 for gate/up, 1536 -> 576 for down) and a
 * Llama-1B-sized one.
 *
 * --prefill T also times the prefill list (GEMM) for T tokens, in GFLOP/s and time per token.
 *
 * tsx starts this file, which re-imports itself through Vite's module runner (the kernels import their
 * WGSL with `?raw`); `benchMatmul` can also be called from any Vite-processed code (vitest, the app).
 * Like llm.c: every kernel is checked against the CPU reference before it is timed; then warm-up, then
 * GPU timestamps around `iters` back-to-back launches in one pass (wall clock where timestamps are missing).
 */
import type { Gpu } from '../src/gpu/device.ts';
import type { MatmulTuning, WeightData, WeightFormat, XVec } from '../src/kernels/matmul.ts';

import type { Dispatch } from '../src/kernels/dispatch.ts';
import { GGUF_LAYOUTS, type GgufFormat } from '../src/kernels/weight_layouts.ts';

const GGUF_BENCH = Object.keys(GGUF_LAYOUTS) as GgufFormat[];
export type BenchFormat = WeightFormat | 'int8' | 'fp8e4m3-g32' | 'fp8e5m2-g32';
export const BENCH_FORMATS: readonly BenchFormat[] = ['f32', 'f16', 'bf16', 'q8', 'q4', 'int8', 'fp8e4m3', 'fp8e5m2', 'fp8e4m3-g32', 'fp8e5m2-g32', ...GGUF_BENCH];

export interface BenchOptions {
  iters?: number;
  shapes?: readonly (readonly [K: number, N: number])[];
  formats?: readonly BenchFormat[];
  layouts?: readonly MatmulTuning['gemv'][]; // default: the one matmulTuning picks for the device
  tuning?: Partial<MatmulTuning>;
  prefillTokens?: number; // also time the GEMM list for this many tokens
  rowTile?: number; // the weights' row tiles (uploadWeights' rowTile; default rowTileFor the device)
  wideCodes?: boolean; // GGUF 5-, 6- and 3-bit codes a byte each (uploadWeights' wideCodes; default on CPU adapters)
  log?: (line: string) => void;
}

export interface BenchResult {
  format: BenchFormat | 'stream';
  layout: string;
  tokens: number;
  K: number;
  N: number;
  bytes: number;
  us: number; // per launch (all dispatches of the GEMV list, quantize_x included)
  gbps: number;
}

// Streaming read of a (N, K/16) vec4<u32> array in the GEMV's access pattern (a row per lane): the
// bandwidth the device gives this kind of kernel, to put the GEMV numbers next to.
const STREAM_WGSL = `
struct P { rows: u32, nv: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> a: array<vec4<u32>>; // (rows, nv)
@group(0) @binding(2) var<storage, read_write> o: array<u32>; // (rows)
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let row = min(g.x, p.rows - 1u);
  var acc = vec4<u32>();
  for (var v = 0u; v < p.nv; v++) { acc ^= a[row * p.nv + v]; }
  if (g.x < p.rows) { o[g.x] = acc.x ^ acc.y ^ acc.z ^ acc.w; }
}`;

/**
 * Process CPU microseconds per run of the least costly repeat of the last `timeList` (Node): on a CPU adapter
 * (lavapipe runs in this process) the work done, which other processes' load disturbs far less than elapsed time.
 */
let lastCpuUs = Infinity;
/** ', CPU <us><unit>' where the process CPU time was measured (Node), else nothing (the browser). */
const cpuNote = (us: number, unit: string) => (Number.isFinite(us) ? `, CPU ${us.toFixed(1)} ${unit}` : '');

/** Uniform values in [-scale, scale) from a seeded LCG: the benches' inputs, the same in every run. */
export function lcgUniform(seed: number): (n: number, scale: number) => Float32Array {
  return (n, scale) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      a[i] = ((seed / 2 ** 32) * 2 - 1) * scale;
    }
    return a;
  };
}

/**
 * A random (N, K) matrix in `format` (GGUF formats: valid random blocks), and the weights the CPU reference
 * multiplies: the same data, or for the GGUF formats (which take f32 x) ggml's dequantization of it.
 */
export async function benchWeights(
  format: BenchFormat, N: number, K: number, rand: (n: number, scale: number) => Float32Array,
): Promise<{ w: WeightData; ref: WeightData }> {
  const ref = await import('../src/kernels/ref/matmul.ts');
  const gguf = format in GGUF_LAYOUTS ? GGUF_LAYOUTS[format as GgufFormat] : null;
  if (gguf) {
    const { ggmlDequantize, ggmlRandomBlocks } = await import('../src/quant/ggml/index.ts');
    const data = ggmlRandomBlocks(gguf.ggml, N * K, () => rand(1, 0.5)[0] + 0.5);
    const w: WeightData = { format: format as GgufFormat, rows: N, cols: K, data };
    return { w, ref: { format: 'f32', rows: N, cols: K, data: ggmlDequantize(gguf.ggml, data, N * K) } };
  }
  const wf = rand(N * K, 0.05);
  const fp8 = /^fp8(e4m3|e5m2)(-g32)?$/.exec(format);
  const w: WeightData = fp8
    ? ref.packFp8(wf, N, K, fp8[1] as 'e4m3' | 'e5m2', fp8[2] ? 32 : K)
    : format === 'f32'
      ? { format, rows: N, cols: K, data: wf }
      : { f16: ref.packF16, bf16: ref.packBf16, q8: ref.packQ8, q4: ref.packQ4, int8: ref.packInt8Rows }[format as 'f16' | 'bf16' | 'q8' | 'q4' | 'int8'](wf, N, K);
  return { w, ref: w };
}

/** Runs `list` `iters` times in one pass; microseconds per run (GPU timestamps, else wall clock). */
export async function timeList(gpu: Gpu, list: readonly Dispatch[], iters: number, nTokens = 1): Promise<number> {
  const { encodeDispatches } = await import('../src/kernels/dispatch.ts');
  const dev = gpu.device;
  const ts = gpu.caps.timestamps;
  const qs = ts ? dev.createQuerySet({ type: 'timestamp', count: 2 }) : null;
  const resolve = dev.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const read = dev.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const once = async (n: number) => {
    const enc = dev.createCommandEncoder();
    const pass = enc.beginComputePass(qs ? { timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {});
    for (let i = 0; i < n; i++) encodeDispatches(pass, list, nTokens);
    pass.end();
    if (qs) {
      enc.resolveQuerySet(qs, 0, 2, resolve, 0);
      enc.copyBufferToBuffer(resolve, 0, read, 0, 16);
    }
    const t0 = performance.now();
    const c0 = typeof process === 'undefined' ? null : process.cpuUsage();
    dev.queue.submit([enc.finish()]);
    await dev.queue.onSubmittedWorkDone();
    const wall = (performance.now() - t0) * 1e3;
    if (c0) {
      const c = process.cpuUsage(c0);
      lastCpuUs = Math.min(lastCpuUs, (c.user + c.system) / n);
    }
    if (!qs) return wall / n;
    await read.mapAsync(GPUMapMode.READ);
    const t = new BigUint64Array(read.getMappedRange().slice(0));
    read.unmap();
    return Number(t[1] - t[0]) / 1e3 / n;
  };
  await once(Math.max(2, iters >> 3)); // warm-up
  lastCpuUs = Infinity;
  let best = Infinity;
  for (let rep = 0; rep < 3; rep++) best = Math.min(best, await once(iters)); // the least disturbed run
  qs?.destroy();
  resolve.destroy();
  read.destroy();
  return best;
}

export async function benchMatmul(gpu: Gpu, opt: BenchOptions = {}): Promise<BenchResult[]> {
  const { Allocator, readBuffer } = await import('../src/gpu/buffers.ts');
  const { buildMatmul, effectiveXVec, matmulTuning, uploadWeights } = await import('../src/kernels/matmul.ts');
  const ref = await import('../src/kernels/ref/matmul.ts');
  const { STEP, STEP_DEFAULTS } = await import('../src/kernels/dispatch.ts');
  const { getPipeline } = await import('../src/gpu/pipelines.ts');
  const iters = opt.iters ?? 100;
  const shapes = opt.shapes ?? [[576, 1536], [1536, 576], [2048, 5632]];
  const formats = opt.formats ?? BENCH_FORMATS;
  const layouts = opt.layouts ?? [matmulTuning(gpu.caps).gemv];
  const log = opt.log ?? console.log;
  const results: BenchResult[] = [];
  const alloc = new Allocator(gpu);
  const rand = lcgUniform(1);
  log(`adapter: ${gpu.caps.adapterName} (subgroups ${gpu.caps.subgroups}, dot4I8Packed ${gpu.caps.dot4I8}, timestamps ${gpu.caps.timestamps})`);
  try {
    const step = alloc.uniform('step', STEP.size);
    gpu.device.queue.writeBuffer(step, 0, STEP.pack(STEP_DEFAULTS));
    const streamPipe = await getPipeline(gpu, 'bench_stream', STREAM_WGSL);
    for (const [K, N] of shapes) {
      // The baseline: as many bytes as the q8 matrix of this shape.
      const nv = K / 16;
      const a = alloc.storage('stream.a', N * K);
      const params = alloc.uniform('stream.p', 16);
      gpu.device.queue.writeBuffer(params, 0, new Uint32Array([N, nv, 0, 0]));
      const bg = gpu.device.createBindGroup({
        layout: streamPipe.getBindGroupLayout(0),
        entries: [params, a, alloc.storage('stream.o', N * 4)].map((buffer, binding) => ({ binding, resource: { buffer } })),
      });
      const us = await timeList(gpu, [{ label: 'stream', pipeline: streamPipe, bindGroup: bg, grid: () => [Math.ceil(N / 64)] }], iters);
      const stream: BenchResult = { format: 'stream', layout: 'rows', tokens: 1, K, N, bytes: N * K, us, gbps: (N * K) / us / 1e3 };
      results.push(stream);
      log(`K=${String(K).padStart(5)} N=${String(N).padStart(5)} stream read                 ${us.toFixed(1).padStart(8)} us ${stream.gbps.toFixed(2).padStart(6)} GB/s`);

      const T = Math.max(1, opt.prefillTokens ?? 1);
      const x = rand(K * T, 1);
      const xb = alloc.upload('x', x);
      const yb = alloc.storage('y', N * 4 * T);
      for (const format of formats) {
        const gguf = format in GGUF_LAYOUTS ? GGUF_LAYOUTS[format as GgufFormat] : null;
        if (gguf && K % gguf.blockElems) {
          log(`K=${String(K).padStart(5)} N=${String(N).padStart(5)} ${format.padEnd(11)} n/a: K is not whole ${gguf.ggml} blocks of ${gguf.blockElems}`);
          continue;
        }
        const { w: wd, ref: refW } = await benchWeights(format, N, K, rand);
        const w = uploadWeights(alloc, `w.${format}`, wd, { ...(opt.rowTile ? { rowTile: opt.rowTile } : {}), wideCodes: opt.wideCodes });
        const expected = ref.matmulRef(refW, x.subarray(0, K), 1);
        for (const layout of layouts) {
          const mm = await buildMatmul(gpu, alloc, { label: `mm.${format}`, w, x: xb, y: yb, step, maxTokens: T, tuning: { ...opt.tuning, gemv: layout } });
          // Validate first.
          gpu.device.queue.writeBuffer(yb, 0, new Float32Array(N).fill(NaN));
          const enc = gpu.device.createCommandEncoder();
          const pass = enc.beginComputePass();
          (await import('../src/kernels/dispatch.ts')).encodeDispatches(pass, mm.gemv, 1);
          pass.end();
          gpu.device.queue.submit([enc.finish()]);
          const y = new Float32Array(await readBuffer(gpu, yb, N * 4));
          let worst = 0;
          for (let i = 0; i < N; i++) worst = Math.max(worst, Math.abs(y[i] - expected[i]) / (1e-4 + 1e-4 * Math.abs(expected[i])));
          if (!(worst <= 1)) throw new Error(`matmul_${format} ${layout} K=${K} N=${N} disagrees with the CPU reference (worst error ratio ${worst})`);
          const us = await timeList(gpu, mm.gemv, iters);
          const r: BenchResult = { format, layout, tokens: 1, K, N, bytes: w.bytes, us, gbps: w.bytes / us / 1e3 };
          results.push(r);
          // The GEMV's width of x loads (X_VEC, per-row layout only), as the matmul took it for this shape.
          const xVec = layout === 'rows' ? `X_VEC=${effectiveXVec(w.format, K, mm.tuning.gemvXVec, gpu.caps)}` : '';
          log(
            `K=${String(K).padStart(5)} N=${String(N).padStart(5)} ${format.padEnd(11)} gemv ${layout.padEnd(5)} ${xVec.padEnd(7)} ${(w.bytes / 1e6).toFixed(3).padStart(7)} MB ` +
              `${((8 * w.bytes) / (N * K)).toFixed(3)} bits/w ${us.toFixed(1).padStart(8)} us ${r.gbps.toFixed(2).padStart(6)} GB/s ` +
              `(${((100 * r.gbps) / stream.gbps).toFixed(0)}% of stream)${cpuNote(lastCpuUs, 'us')}`,
          );
          if (T > 1 && layout === layouts[0]) {
            // Prefill: step says T tokens for this list only (checked by the tests, timed here).
            gpu.device.queue.writeBuffer(step, 0, new Uint32Array([T]));
            const g = await timeList(gpu, mm.gemm, Math.max(2, iters >> 4), T);
            gpu.device.queue.writeBuffer(step, 0, new Uint32Array([1]));
            results.push({ format, layout: 'gemm', tokens: T, K, N, bytes: w.bytes, us: g, gbps: w.bytes / g / 1e3 });
            log(`K=${String(K).padStart(5)} N=${String(N).padStart(5)} ${format.padEnd(11)} gemm T=${T}  ${((2 * N * K * T) / g / 1e3).toFixed(2).padStart(6)} GFLOP/s, ${(g / T).toFixed(1)} us per token${cpuNote(lastCpuUs / T, 'us per token')}`);
          }
        }
      }
    }
  } finally {
    alloc.destroyAll();
  }
  return results;
}

function parseFormats(v: string): BenchFormat[] {
  const xs = v.split(',').map((f) => f.trim());
  for (const f of xs) if (!(BENCH_FORMATS as readonly string[]).includes(f)) throw new Error(`--formats: "${f}" is not one of ${BENCH_FORMATS.join(', ')}`);
  return xs as BenchFormat[];
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const str = { type: 'string' } as const;
  const { parseArgs } = await import('node:util');
  const { values: a } = parseArgs({
    args: argv,
    options: {
      iters: { type: 'string', default: '100' }, 'no-subgroups': { type: 'boolean' }, layout: str, wg: str, r: str, prefill: str,
      gemm: str, 'gemm-wg': str, 'gemm-r': str, tt: str, xvec: str, float: { type: 'boolean' }, formats: str, shapes: str,
    },
  });
  await import('../src/node/host.ts');
  const { createGpu } = await import('../src/gpu/device.ts');
  const { loadavg } = await import('node:os');
  const load = () => console.log(`load average: ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  load();
  const gpu = await createGpu({ disable: a['no-subgroups'] ? ['subgroups', 'shader-f16'] : [] });
  const layout = a.layout;
  const tuning: Partial<MatmulTuning> = {};
  if (a.wg) tuning.gemvWG = Number(a.wg);
  if (a.r) tuning.gemvR = Number(a.r);
  if (a.gemm) tuning.gemm = a.gemm as MatmulTuning['gemm'];
  if (a['gemm-wg']) tuning.gemmWG = Number(a['gemm-wg']);
  if (a['gemm-r']) tuning.gemmR = Number(a['gemm-r']);
  if (a.tt) tuning.gemmTT = Number(a.tt);
  if (a.xvec) tuning.gemvXVec = Number(a.xvec) as XVec;
  if (a.float) tuning.gemmFloat = tuning.gemvFloat = true;
  await benchMatmul(gpu, {
    iters: Number(a.iters),
    prefillTokens: a.prefill ? Number(a.prefill) : undefined,
    formats: a.formats ? parseFormats(a.formats) : undefined,
    layouts: layout === 'both' ? ['rows', 'split'] : layout ? [layout as MatmulTuning['gemv']] : undefined,
    shapes: a.shapes?.split(',').map((s) => s.split('x').map(Number) as [number, number]),
    tuning,
  });
  gpu.device.destroy();
}

// Node only: the bench page (bench/matmul_page) imports this module in the browser, where Vite defines import.meta.env.
if (typeof import.meta.env === 'undefined') await (await import('./run_under_vite.ts')).runUnderVite(import.meta);
