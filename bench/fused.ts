/**
 * One decode layer's matmuls, fused (src/kernels/matmul.ts gemvX / glu) against the separate kernels they
 * replace, side by side on the same device and weights, in GPU time per layer (timeList: many launches in
 * one pass, the least disturbed of 3 runs) and dispatches:
 *   attn in  RMSNorm (+ Q8_0) -> qkv GEMV          vs  qkv GEMV normalising (and quantizing) x itself
 *   o        quantize_x -> o GEMV (+=)             vs  o GEMV quantizing x itself (q8/q4)
 *   ffn in   RMSNorm (+ Q8_0) -> gate|up -> SwiGLU  vs  gate/up-pair GEMV with the norm and SwiGLU fused
 *   down     down GEMV (+=) on SwiGLU's Q8_0 h     vs  down GEMV quantizing h itself
 * plus "qkv raw": the fused qkv GEMV without the norm (x only quantized), whose difference to "attn in"
 * is what the norm's statistics cost when every workgroup computes them.
 *
 *   npx tsx bench/fused.ts [--iters 50] [--repeats 3] [--format q8|q4|f16|f32] [--shape 576,1536,960] [--no-subgroups]
 *     [--layout rows|split] [--wg 64] [--r 2]
 *
 * Shape: D, F, qkv rows (default SmolLM2-135M's). Each pair is checked bit for bit before it is timed.
 */
import { parseArgs } from 'node:util';
import type { Gpu } from '../src/gpu/device.ts';
import type { Dispatch } from '../src/kernels/dispatch.ts';
import type { MatmulTuning, WeightFormat } from '../src/kernels/matmul.ts';
import { timeList } from './matmul.ts';

export interface FusedBenchRow {
  stage: string;
  separate: { us: number; dispatches: number };
  fused: { us: number; dispatches: number };
}

export interface FusedBenchOptions {
  iters?: number; // launches per timing
  repeats?: number; // timings per list, the least disturbed kept
  format?: WeightFormat;
  D?: number;
  F?: number;
  qkvRows?: number;
  tuning?: Partial<MatmulTuning>;
  log?: (s: string) => void;
}

export async function benchFused(gpu: Gpu, o: FusedBenchOptions = {}): Promise<FusedBenchRow[]> {
  const { Allocator, readBuffer } = await import('../src/gpu/buffers.ts');
  const { buildMatmul, uploadWeights } = await import('../src/kernels/matmul.ts');
  const { buildRmsnorm } = await import('../src/kernels/rmsnorm.ts');
  const { buildSwiglu } = await import('../src/kernels/swiglu.ts');
  const { STEP, STEP_DEFAULTS, encodeDispatches } = await import('../src/kernels/dispatch.ts');
  const { pairRows } = await import('../src/model/host_weights.ts');
  const ref = await import('../src/kernels/ref/matmul.ts');
  const { mulberry32 } = await import('../src/util/rng.ts');
  const iters = o.iters ?? 50;
  const format = o.format ?? 'q8';
  const [D, F, Q] = [o.D ?? 576, o.F ?? 1536, o.qkvRows ?? 960];
  const log = o.log ?? console.log;
  const q8 = format === 'q8' || format === 'q4';
  const r = mulberry32(1);
  const rand = (n: number, s: number) => Float32Array.from({ length: n }, () => (2 * r() - 1) * s);
  const pack = (n: number, k: number) => {
    const v = rand(n * k, 0.05);
    return format === 'f32' ? { format, rows: n, cols: k, data: v } : { f16: ref.packF16, q8: ref.packQ8, q4: ref.packQ4 }[format as 'f16' | 'q8' | 'q4'](v, n, k);
  };
  const alloc = new Allocator(gpu);
  const rows: FusedBenchRow[] = [];
  try {
    const step = alloc.uniform('step', STEP.size);
    gpu.device.queue.writeBuffer(step, 0, STEP.pack(STEP_DEFAULTS));
    const buf = (label: string, n: number, s = 1) => alloc.upload(label, rand(n, s));
    const x = buf('x', D, 3), nw = buf('nw', D, 1), attn = buf('attn', D), h = buf('h', F);
    const out = (label: string, n: number) => alloc.storage(label, n * 4);
    const q8x = (label: string, k: number) => (q8 ? { codes: alloc.storage(`${label}.q`, k), scales: alloc.storage(`${label}.d`, k / 8) } : undefined);
    const xn = out('xn', D), xnQ = q8x('xn', D);
    let hQ = q8x('h', F);
    const norm = { weight: nw, eps: 1e-5 };
    const mm = async (label: string, w: ReturnType<typeof uploadWeights>, xin: GPUBuffer, y: GPUBuffer, extra = {}) =>
      (await buildMatmul(gpu, alloc, { label, w, x: xin, y, step, maxTokens: 1, tuning: o.tuning, ...extra })).gemv;
    const rms = () => buildRmsnorm(gpu, alloc, { dim: D, eps: 1e-5, step, x, weight: nw, y: xn, quantized: xnQ });
    const wQkv = uploadWeights(alloc, 'qkv', pack(Q, D));
    const wO = uploadWeights(alloc, 'o', pack(D, D));
    const gu = pack(2 * F, D);
    const wGu = uploadWeights(alloc, 'gate_up', gu);
    const wGuPairs = uploadWeights(alloc, 'gate_up.pairs', pairRows(gu), { rowAlign: 2 });
    const wDown = uploadWeights(alloc, 'down', pack(D, F));
    const raw = (xin: GPUBuffer) => (q8 ? { gemvX: { x: xin } } : {});
    const stages: [string, () => Promise<[Dispatch[], Dispatch[], GPUBuffer, GPUBuffer, number]>][] = [
      ['attn in', async () => {
        const [a, b] = [out('qkv.a', Q), out('qkv.b', Q)];
        return [[await rms(), ...(await mm('qkv.a', wQkv, xn, a, { quantizedX: xnQ }))], await mm('qkv.b', wQkv, xn, b, { gemvX: { x, norm } }), a, b, Q];
      }],
      ['qkv raw', async () => {
        const [a, b] = [out('raw.a', Q), out('raw.b', Q)];
        return [await mm('raw.a', wQkv, x, a), await mm('raw.b', wQkv, x, b, raw(x)), a, b, Q];
      }],
      ['o', async () => {
        const [a, b] = [out('o.a', D), out('o.b', D)];
        return [await mm('o.a', wO, attn, a, { accumulate: true }), await mm('o.b', wO, attn, b, { accumulate: true, ...raw(attn) }), a, b, D];
      }],
      ['ffn in', async () => {
        const [a, b, g] = [out('h.a', F), out('h.b', F), out('gate_up', 2 * F)];
        const swiglu = await buildSwiglu(gpu, alloc, { nFf: F, gateUp: g, h: a, step, quantized: q8x('h2', F) });
        const sep = [await rms(), ...(await mm('gu.a', wGu, xn, g, { quantizedX: xnQ })), swiglu];
        return [sep, await mm('gu.b', wGuPairs, xn, g, { gemvX: { x, norm }, glu: { h: b, act: 'silu' } }), a, b, F];
      }],
      ['down', async () => {
        const [a, b] = [out('down.a', D), out('down.b', D)];
        return [await mm('down.a', wDown, h, a, { accumulate: true, quantizedX: hQ }), await mm('down.b', wDown, h, b, { accumulate: true, ...raw(h) }), a, b, D];
      }],
    ];
    // The separate down GEMV reads h in Q8_0 as SwiGLU leaves it: quantize h once (a q8 GEMV's own pass).
    if (q8) {
      const fill = await buildMatmul(gpu, alloc, { label: 'fill_h', w: wDown, x: h, y: out('fill', D), step, maxTokens: 1 });
      const enc = gpu.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      encodeDispatches(pass, fill.gemv, 1);
      pass.end();
      gpu.device.queue.submit([enc.finish()]);
      hQ = fill.quantizedX;
    }
    log(`adapter: ${gpu.caps.adapterName} (subgroups ${gpu.caps.subgroups}); ${format} weights, D=${D} F=${F} qkv=${Q}, ${iters} launches per timing`);
    log('stage      separate: us (dispatches)   fused: us (dispatches)');
    for (const [stage, make] of stages) {
      const [sep, fused, ya, yb, n] = await make();
      for (const list of [sep, fused]) {
        const enc = gpu.device.createCommandEncoder();
        const pass = enc.beginComputePass();
        encodeDispatches(pass, list, 1);
        pass.end();
        gpu.device.queue.submit([enc.finish()]);
      }
      const [a, b] = [new Float32Array(await readBuffer(gpu, ya, n * 4)), new Float32Array(await readBuffer(gpu, yb, n * 4))];
      if (!process.env.FUSED_NO_CHECK && stage !== 'qkv raw' && a.some((v, i) => !Object.is(v, b[i]))) throw new Error(`${stage}: the fused GEMV's output differs from the separate kernels'`);
      // Alternate the two lists so that a burst of load on the machine hits both alike.
      const best = [Infinity, Infinity];
      for (let i = 0; i < (o.repeats ?? 3); i++) {
        for (const [j, list] of [sep, fused].entries()) best[j] = Math.min(best[j], await timeList(gpu, list, iters));
      }
      const row = { stage, separate: { us: best[0], dispatches: sep.length }, fused: { us: best[1], dispatches: fused.length } };
      rows.push(row);
      log(`${stage.padEnd(10)} ${row.separate.us.toFixed(1).padStart(9)} (${row.separate.dispatches})   ${row.fused.us.toFixed(1).padStart(17)} (${row.fused.dispatches})`);
    }
    const layer = rows.filter((x) => x.stage !== 'qkv raw');
    const sum = (k: 'separate' | 'fused') => layer.reduce((s, x) => s + x[k].us, 0);
    const count = (k: 'separate' | 'fused') => layer.reduce((s, x) => s + x[k].dispatches, 0);
    log(`layer      ${sum('separate').toFixed(1).padStart(9)} (${count('separate')})   ${sum('fused').toFixed(1).padStart(17)} (${count('fused')})`);
  } finally {
    alloc.destroyAll();
  }
  return rows;
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const { values: a } = parseArgs({
    args: argv,
    options: {
      shape: { type: 'string', default: '576,1536,960' }, layout: { type: 'string' }, wg: { type: 'string' }, r: { type: 'string' },
      format: { type: 'string', default: 'q8' }, iters: { type: 'string', default: '50' }, repeats: { type: 'string', default: '3' },
      'no-subgroups': { type: 'boolean' },
    },
  });
  await import('../src/node/host.ts');
  const { createGpu } = await import('../src/gpu/device.ts');
  const { loadavg } = await import('node:os');
  const load = () => console.log(`load average: ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  load();
  const gpu = await createGpu({ disable: a['no-subgroups'] ? ['subgroups', 'shader-f16'] : [] });
  const [D, F, qkvRows] = a.shape.split(',').map(Number);
  const tuning: Partial<MatmulTuning> = {};
  if (a.layout) tuning.gemv = a.layout as MatmulTuning['gemv'];
  if (a.wg) tuning.gemvWG = Number(a.wg);
  if (a.r) tuning.gemvR = Number(a.r);
  const format = a.format as WeightFormat;
  await benchFused(gpu, { iters: Number(a.iters), repeats: Number(a.repeats), format, D, F, qkvRows, tuning });
  load();
  gpu.device.destroy();
}

// Node only: under a bundle (bench/gpu/tools.ts) Vite defines import.meta.env.
if (typeof import.meta.env === 'undefined') await (await import('./run_under_vite.ts')).runUnderVite(import.meta);
