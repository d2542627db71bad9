/**
 * Side-by-side timing of matmul launch variants (MatmulTuning), interleaved in one process so that a
 * shared machine's load disturbs them alike: each variant is checked against the CPU reference, then
 * the variants take turns, `rounds` times, and each reports its least disturbed run (GPU timestamps, and
 * the process's CPU time, which on lavapipe is the work done and moves less with other processes' load).
 *
 *   npx tsx bench/matmul_ab.ts [--format q8,int8,fp8e4m3] [--shape 576x1536] [--tokens 128] [--rounds 5] [--iters 4]
 *     --variant 'gemm=rows,gemmR=2,gemmTT=4' --variant 'gemm=rows,gemmR=2,gemmTT=4,gemmFloat=1' ...
 *     --variant 'rowTile=1' --variant 'rowTile=16'   (the weights' row tiles, q8 and GGUF: uploaded once per tile)
 *     --variant 'halfScales=0' --variant 'halfScales=1'   (q8's scales as f32 or f16 pairs: uploaded once each)
 *     --variant 'wideCodes=0' --variant 'wideCodes=1'   (a GGUF format's 5-, 6- or 3-bit codes in planes or a byte each)
 *     --variant 'offsetCodes=0' --variant 'offsetCodes=1'   (q8's codes as they are or offset by 128: uploaded once each)
 *     --variant 'fp8Bits=0' --variant 'fp8Bits=1'   (FP8 E4M3 through f16 fields or straight into f32 bits)
 *     --variant 'iq4Selects=0' --variant 'iq4Selects=1'   (IQ4 values from an array or by selects)
 *
 * With --tokens 1 the GEMV list is timed, else the GEMM list.
 * NOCHECK=1 times a variant that disagrees with the reference too (for knock-out experiments).
 */
import { parseArgs } from 'node:util';
import { runUnderVite } from './run_under_vite.ts';
import type { GpuWeights, MatmulTuning } from '../src/kernels/matmul.ts';
import type { Dispatch } from '../src/kernels/dispatch.ts';
import { benchWeights, lcgUniform, type BenchFormat } from './matmul.ts';

function parseVariant(v: string): Partial<MatmulTuning> & { rowTile?: number; halfScales?: number; wideCodes?: number; offsetCodes?: number } {
  const t: Record<string, string | number | boolean> = {};
  for (const kv of v.split(',').filter(Boolean)) {
    const [k, val] = kv.split('=');
    t[k] = /^(gemm|gemv)$/.test(k) ? val : /Float$|^fp8Bits$|^iq4Selects$/.test(k) ? val === '1' : Number(val);
  }
  return t as Partial<MatmulTuning>;
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const { values: a } = parseArgs({
    args: argv,
    options: {
      format: { type: 'string', default: 'q8' }, shape: { type: 'string', default: '576x1536' }, tokens: { type: 'string', default: '128' },
      rounds: { type: 'string', default: '5' }, iters: { type: 'string', default: '4' }, variant: { type: 'string', multiple: true, default: [] },
      'no-subgroups': { type: 'boolean' },
    },
  });
  const variants = a.variant;
  await import('../src/node/host.ts');
  const { createGpu, waitSpins } = await import('../src/gpu/device.ts');
  const { SLEEP_SHARE, sleep } = await import('../src/model/map_pacer.ts');
  const { Allocator, readBuffer } = await import('../src/gpu/buffers.ts');
  const { buildMatmul, uploadWeights } = await import('../src/kernels/matmul.ts');
  const { STEP, STEP_DEFAULTS, encodeDispatches } = await import('../src/kernels/dispatch.ts');
  const ref = await import('../src/kernels/ref/matmul.ts');
  const { loadavg } = await import('node:os');
  const gpu = await createGpu({ disable: a['no-subgroups'] ? ['subgroups', 'shader-f16'] : [] });
  const formats = a.format.split(',') as BenchFormat[];
  const [K, N] = a.shape.split('x').map(Number);
  const T = Number(a.tokens);
  const rounds = Number(a.rounds);
  const iters = Number(a.iters);
  console.log(`load average: ${loadavg().map((v) => v.toFixed(2)).join(' ')}; K=${K} N=${N} T=${T}`);
  const alloc = new Allocator(gpu);
  const rand = lcgUniform(7);
  const x = rand(K * T, 1);
  const step = alloc.uniform('step', STEP.size);
  gpu.device.queue.writeBuffer(step, 0, STEP.pack({ ...STEP_DEFAULTS, n_tokens: T }));
  const xb = alloc.upload('x', x);
  const yb = alloc.storage('y', N * T * 4);
  const path = T === 1 ? 'gemv' : 'gemm';
  const lists: Dispatch[][] = [];
  const names: string[] = [];
  for (const format of formats) {
    const { w: wd, ref: refW } = await benchWeights(format, N, K, rand);
    const expected = ref.matmulRef(refW, x, T);
    const uploads = new Map<string, GpuWeights>();
    for (const v of variants) {
      const { rowTile, halfScales, wideCodes, offsetCodes, ...tuning } = parseVariant(v);
      const key = `${rowTile} ${halfScales} ${wideCodes} ${offsetCodes}`;
      const flag = (f?: number) => (f === undefined ? undefined : f !== 0);
      if (!uploads.has(key)) uploads.set(key, uploadWeights(alloc, `w.${format}`, wd, { rowTile, halfScales: flag(halfScales), wideCodes: flag(wideCodes), offsetCodes: flag(offsetCodes) }));
      const mm = await buildMatmul(gpu, alloc, { label: 'mm', w: uploads.get(key)!, x: xb, y: yb, step, maxTokens: T, tuning });
      const enc = gpu.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      encodeDispatches(pass, mm[path], T);
      pass.end();
      gpu.device.queue.submit([enc.finish()]);
      const y = new Float32Array(await readBuffer(gpu, yb, N * T * 4));
      let worst = 0;
      for (let i = 0; i < y.length; i++) worst = Math.max(worst, Math.abs(y[i] - expected[i]) / (1e-5 + 2e-5 * Math.abs(expected[i])));
      if (!(worst <= 1) && !process.env.NOCHECK) throw new Error(`${format} ${v}: disagrees with the CPU reference (worst error ratio ${worst})`);
      lists.push(mm[path]);
      names.push(`${format} ${v}`);
    }
  }
  const qs = gpu.device.createQuerySet({ type: 'timestamp', count: 2 });
  const resolve = gpu.device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const best = names.map(() => ({ gpu: Infinity, cpu: Infinity }));
  const expectUs = names.map(() => 0); // each variant's last time per token
  for (let round = 0; round <= rounds; round++) {
    for (let i = 0; i < lists.length; i++) {
      const enc = gpu.device.createCommandEncoder();
      const pass = enc.beginComputePass({ timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } });
      for (let k = 0; k < iters; k++) encodeDispatches(pass, lists[i], T);
      pass.end();
      enc.resolveQuerySet(qs, 0, 2, resolve, 0);
      const c0 = process.cpuUsage();
      gpu.device.queue.submit([enc.finish()]);
      // On a CPU adapter, sleep through most of the pass (as the engine's reads do: src/model/map_pacer.ts).
      if (waitSpins(gpu)) await sleep(SLEEP_SHARE * expectUs[i] * iters * T / 1e3);
      await gpu.device.queue.onSubmittedWorkDone();
      const c = process.cpuUsage(c0);
      const t = new BigUint64Array(await readBuffer(gpu, resolve, 16));
      expectUs[i] = Number(t[1] - t[0]) / 1e3 / iters / T;
      if (round === 0) continue; // warm-up
      best[i].gpu = Math.min(best[i].gpu, Number(t[1] - t[0]) / 1e3 / iters / T);
      best[i].cpu = Math.min(best[i].cpu, (c.user + c.system) / iters / T);
    }
  }
  names.forEach((v, i) => console.log(`${v.padEnd(56)} ${best[i].gpu.toFixed(1).padStart(8)} us/token GPU ${best[i].cpu.toFixed(1).padStart(8)} us/token CPU`));
  console.log(`load average: ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  alloc.destroyAll();
  gpu.device.destroy();
}

await runUnderVite(import.meta);
