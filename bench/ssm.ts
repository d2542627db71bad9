/**
 * Time of one Mamba-2 layer's convolution and scan (shaders/ssm.wgsl) at a model's shape: a decode step (one token
 * after the prefill's tokens) and a prefill pass, each checked against the CPU reference first, then timed as `iters`
 * runs in one submit, the least disturbed of `rounds` (wall ms a run; on lavapipe the work is the CPU's).
 * NOCHECK=1 times a kernel that disagrees with the reference too (knock-out experiments).
 *
 *   npx tsx bench/ssm.ts [--heads 48] [--head-dim 32] [--state 128] [--taps 4] [--prefill 128] [--rounds 5] [--iters 20] [--scan sg,plain]
 *   npx tsx bench/browser.ts ssm_page 'scan=sg,plain&prefill=32'   (the same in chromium, on SwiftShader)
 * --scan: the scans to time, alternating within each round: sg (B and C shared by subgroup shuffles), plain (through
 * workgroup memory); default: the adapter's.
 */
import type { Gpu } from '../src/gpu/device.ts';
import type { Dispatch } from '../src/kernels/dispatch.ts';
import { timePass } from './time_pass.ts';

export interface SsmBenchOptions {
  heads: number;
  headDim: number;
  state: number;
  taps: number;
  prefill: number; // the prefill pass's tokens (the decode step follows them)
  rounds: number;
  iters: number;
  scans?: string[]; // sg, plain
  noCheck?: boolean;
}

export async function benchSsm(gpu: Gpu, o: SsmBenchOptions, log: (line: string) => void): Promise<void> {
  // (imported here: under tsx the kernels' WGSL loads only once runUnderVite has started the script again)
  const { Allocator, readBuffer } = await import('../src/gpu/buffers.ts');
  const { buildSsm } = await import('../src/kernels/ssm.ts');
  const { STEP } = await import('../src/kernels/dispatch.ts');
  const { ssmRef } = await import('../src/kernels/ref/layers.ts');
  const { ssmConvDim, ssmInner, ssmInProj, ssmStateSize, UNIT_SCALES } = await import('../src/model/ssm_shape.ts');
  const { kvCacheRows, SSM_SLOTS } = await import('../src/model/kv_rings.ts');
  const { mulberry32 } = await import('../src/util/rng.ts');
  const shape = { nHead: o.heads, headDim: o.headDim, dState: o.state, nGroup: 1, convKernel: o.taps, dtMin: 0, dtMax: Infinity, inScales: UNIT_SCALES, gatedNorm: true };
  const T = o.prefill;
  const alloc = new Allocator(gpu);
  const inProj = ssmInProj(shape), convDim = ssmConvDim(shape), inner = ssmInner(shape);
  const r = mulberry32(1);
  const randn = (n: number, scale: number) => Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
  const zxbcdt = randn(T * inProj, 1), convW = randn(convDim * shape.convKernel, 0.5), convB = randn(convDim, 0.3);
  const perHead = new Float32Array(3 * shape.nHead).map((_, i) => (i < shape.nHead ? r() - 0.5 : i < 2 * shape.nHead ? -0.5 - r() : 1));
  const rows = kvCacheRows(shape.convKernel, 4096, T);
  const step = alloc.uniform('step', STEP.size);
  const b = {
    zxbcdt: alloc.upload('zxbcdt', zxbcdt), xbc: alloc.storage('xbc', T * convDim * 4), y: alloc.storage('y', T * inner * 4),
    ring: alloc.storage('ring', rows * convDim * 4), state: alloc.storage('state', SSM_SLOTS * ssmStateSize(shape) * 4),
    convWeight: alloc.upload('conv_w', convW), convBias: alloc.upload('conv_b', convB), perHead: alloc.upload('per_head', perHead),
  };
  const lists = new Map<string, Dispatch[]>();
  for (const v of o.scans ?? [gpu.caps.subgroups ? 'sg' : 'plain']) lists.set(v, await buildSsm(gpu, alloc, { shape, rows, slots: SSM_SLOTS, ...b, step, subgroups: v === 'sg' }));
  const runPass = (list: Dispatch[], n: number, pos: number, times: number) => timePass(gpu, step, list, n, pos, times);
  // Checked: the prefill from position 0 against the reference
  const ref = ssmRef(shape, zxbcdt, T, convW, convB, perHead).y;
  for (const [v, list] of lists) {
    await runPass(list, T, 0, 1);
    const got = new Float32Array(await readBuffer(gpu, b.y, T * inner * 4));
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - ref[i]) / (1e-4 + Math.abs(ref[i])));
    if (!(worst < 1e-2) && !o.noCheck) throw new Error(`${v}: the scan disagrees with its reference (worst relative error ${worst})`);
    log(`${v}: checked (${worst.toExponential(1)})`);
  }
  log(`${shape.nHead} heads of ${shape.headDim}, state ${shape.dState}, ${shape.convKernel} taps`);
  const best = new Map([...lists.keys()].map((v) => [v, { decode: Infinity, prefill: Infinity }]));
  for (let i = 0; i < o.rounds; i++) {
    for (const [v, list] of lists) {
      const m = best.get(v)!;
      m.decode = Math.min(m.decode, await runPass(list, 1, T, o.iters));
      m.prefill = Math.min(m.prefill, await runPass(list, T, 0, Math.max(1, o.iters >> 3)));
    }
  }
  for (const [v, m] of best) {
    log(`${v}: decode step (1 token at position ${T}) ${m.decode.toFixed(3)} ms; prefill pass (${T} tokens) ${m.prefill.toFixed(3)} ms, ${(m.prefill / T).toFixed(4)} ms a token`);
  }
  await alloc.destroyAll();
}

/** Node: the adapter Dawn finds (lavapipe here), the load average beside the times. */
export async function main(argv = process.argv.slice(2)): Promise<void> {
  const { parseArgs } = await import('node:util');
  const { loadavg } = await import('node:os');
  const { values: a } = parseArgs({
    args: argv,
    options: {
      heads: { type: 'string', default: '48' }, 'head-dim': { type: 'string', default: '32' }, state: { type: 'string', default: '128' },
      taps: { type: 'string', default: '4' }, prefill: { type: 'string', default: '128' }, rounds: { type: 'string', default: '5' }, iters: { type: 'string', default: '20' },
      scan: { type: 'string' },
    },
  });
  await import('../src/node/host.ts');
  const { createGpu } = await import('../src/gpu/device.ts');
  const load = () => loadavg().map((v) => v.toFixed(2)).join(' ');
  const gpu = await createGpu();
  console.log(`load average ${load()}`);
  await benchSsm(gpu, {
    heads: Number(a.heads), headDim: Number(a['head-dim']), state: Number(a.state), taps: Number(a.taps), prefill: Number(a.prefill),
    rounds: Number(a.rounds), iters: Number(a.iters), scans: a.scan?.split(','), noCheck: !!process.env.NOCHECK,
  }, console.log);
  console.log(`load average ${load()}`);
  gpu.device.destroy();
}

// Under tsx: run main through Vite (the kernels import WGSL with ?raw); imported by the browser page, nothing.
if (typeof import.meta.env === 'undefined') await (await import('./run_under_vite.ts')).runUnderVite(import.meta);
