/**
 * GPU time of one layer's attention, decode and prefill, at a model's head shape: each case is checked against the
 * CPU reference first, then timed (GPU timestamps over `iters` back-to-back dispatches, least disturbed of
 * `rounds`; and the process CPU time, which on lavapipe is the work done and moves less with other processes' load).
 *
 *   npx tsx bench/attention.ts [--kv f16] [--heads 9/3] [--head-dim 64] [--ctx 128,2048] [--prefill 128]
 *     [--n-ctx 2064] [--rounds 5] [--iters 8] [--splits N] [--decode keys,dims,dims1,flat,wide] [--prefill-by keys,dims,dims1,dims@N,bias,dims-bias]
 *     [--both-ways] [--wg N] [--no-subgroups]
 *   npx tsx bench/browser.ts attention_page 'ctx=32,512&prefill=0&wg=4'   (the same in chromium, on SwiftShader)
 *
 * Decode at context c: one token at position c - 1 over a cache of n_ctx rows (the splits follow n_ctx, as a
 * model's do). Prefill: `--prefill` tokens from position 0. `--decode`: the decode entry points to time, in
 * turn within each round: keys (decode), dims (decode_dims, which needs subgroups of the workgroup's size; dims1: its
 * keys one at a time, not in blocks of the workgroup's size) and flat
 * (decode_flat, subgroups of 4: SwiftShader) and wide (decode_wide, a key a lane, splits of 64 keys: for GPUs); the
 * default has each where the adapter can run it; `--prefill-by` likewise for the prefill (main, prefill_dims; dims@N: N
 * tokens a workgroup; bias: prefill_bias, MPNet's, with a random relative bias over the pass; dims-bias: prefill_dims_bias,
 * the same by head dimensions). --both-ways: the prefill
 * attends both ways within its tokens (an encoder's), as prefill_bias always does.
 * NOCHECK=1 times a case that disagrees with the reference too (for knock-out experiments: a part of a kernel removed).
 */

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const { parseArgs } = await import('node:util');
  const { values: a } = parseArgs({
    args: argv,
    options: {
      kv: { type: 'string', default: 'f16' }, heads: { type: 'string', default: '9/3' },
      'head-dim': { type: 'string', default: '64' }, ctx: { type: 'string', default: '128,2048' },
      prefill: { type: 'string', default: '128' }, 'n-ctx': { type: 'string' }, rounds: { type: 'string', default: '5' },
      iters: { type: 'string', default: '8' }, splits: { type: 'string' }, decode: { type: 'string' }, 'prefill-by': { type: 'string' },
      wg: { type: 'string' }, 'no-subgroups': { type: 'boolean' }, 'both-ways': { type: 'boolean' },
    },
  });
  await import('../src/node/host.ts');
  const { createGpu } = await import('../src/gpu/device.ts');
  const { loadavg } = await import('node:os');
  const load = () => loadavg().map((v) => v.toFixed(2)).join(' ');
  const gpu = await createGpu({ disable: a['no-subgroups'] ? ['subgroups', 'shader-f16'] : [] });
  console.log(`load average ${load()}`);
  await benchAttention(gpu, {
    kv: a.kv, heads: a.heads, headDim: Number(a['head-dim']), ctx: a.ctx.split(',').map(Number), prefill: Number(a.prefill),
    nCtx: a['n-ctx'] ? Number(a['n-ctx']) : undefined, rounds: Number(a.rounds), iters: Number(a.iters),
    splits: a.splits ? Number(a.splits) : undefined, decode: a.decode?.split(','), prefillBy: a['prefill-by']?.split(','),
    wg: a.wg ? Number(a.wg) : undefined, bothWays: a['both-ways'],
  }, console.log, () => { const c = process.cpuUsage(); return (c.user + c.system); });
  console.log(`load average ${load()}`);
  gpu.device.destroy();
}

export interface AttentionBenchOptions {
  kv: string; // K/V cache type
  heads: string; // 'n_head/n_kv'
  headDim: number;
  ctx: number[]; // decode contexts
  prefill: number; // prefill tokens (0: none)
  nCtx?: number; // cache rows (default the largest context + 16)
  rounds: number;
  iters: number;
  splits?: number;
  decode?: string[]; // keys, dims
  prefillBy?: string[]; // keys, dims
  wg?: number; // the attention workgroup (default attentionWorkgroup of the adapter)
  bothWays?: boolean; // the prefill attends both ways (an encoder's)
  noCheck?: boolean; // time a case that disagrees with the reference too
}

/**
 * The timing itself, for Node (main) and the browser (bench/attention_page): `cpuUs` reads the process's CPU time
 * where there is one (Node), for a second column.
 */
export async function benchAttention(gpu: import('../src/gpu/device.ts').Gpu, o: AttentionBenchOptions, log: (s: string) => void, cpuUs?: () => number): Promise<string[]> {
  const { Allocator, readBuffer } = await import('../src/gpu/buffers.ts');
  const { attentionWorkgroup, buildAttention, canDecodeByDims, canDecodeFlat, canDecodeWide, decodeSplits } = await import('../src/kernels/attention.ts');
  const { ONE_TABLE } = await import('../src/kernels/rope.ts');
  const { STEP, STEP_DEFAULTS, encodeDispatches } = await import('../src/kernels/dispatch.ts');
  const { attentionRef } = await import('../src/kernels/ref/layers.ts');
  const { packInputs } = await import('../src/model/pass_inputs.ts');
  const { kvPack, kvUnpack } = await import('../src/kernels/ref/kv_cache.ts');
  const { quantizeQ8_0 } = await import('../src/kernels/ref/matmul.ts');
  const { mulberry32 } = await import('../src/util/rng.ts');
  type KvCacheType = import('../src/kernels/kv_layout.ts').KvCacheType;

  const onCpu = gpu.caps.cpu;
  const kvType = o.kv as KvCacheType;
  const [nHead, nKv] = o.heads.split('/').map(Number);
  const headDim = o.headDim;
  const contexts = o.ctx;
  const prefillT = o.prefill;
  const nCtx = o.nCtx ?? Math.max(...contexts) + 16;
  const rounds = o.rounds;
  const iters = o.iters;
  const wg = o.wg ?? attentionWorkgroup(onCpu);
  log(`${gpu.caps.adapterName}; heads ${nHead}/${nKv} x ${headDim}, K/V ${kvType}, n_ctx ${nCtx}, workgroup ${wg}`);
  const alloc = new Allocator(gpu);
  const r = mulberry32(5);
  const rand = (n: number) => Float32Array.from({ length: n }, () => r() * 2 - 1);
  const kvDim = nKv * headDim, qDim = nHead * headDim, row = qDim + 2 * kvDim;
  const kCache = rand(nCtx * kvDim), vCache = rand(nCtx * kvDim);
  const packed = kvPack(kvType, kCache, vCache, nKv, headDim);
  const stored = kvUnpack(kvType, packed, nCtx, nKv, headDim);
  const nRot = headDim;
  const invFreq = Float32Array.from({ length: nRot / 2 }, (_, i) => Math.pow(10000, (-2 * i) / nRot));
  const rope = { nRot, neox: false, invFreq: alloc.upload('inv', invFreq), longFrom: ONE_TABLE, mscale: 1 };
  const scale = 1 / Math.sqrt(headDim);

  interface Case { name: string; run: (pass: GPUComputePassEncoder) => void; check: () => Promise<number> }
  const cases: Case[] = [];
  const build = async (T: number, pos: number, by = 'keys') => {
    const byDims = by.startsWith('dims');
    const tokensAt = /^dims@(\d+)$/.exec(by); // dims@N: prefill_dims with N tokens a workgroup
    const qkv = rand(T * row).map((v) => v * 4); // scores of a few units: a peaked softmax, as in a model
    const step = alloc.uniform('step', STEP.size);
    gpu.device.queue.writeBuffer(step, 0, STEP.pack({ ...STEP_DEFAULTS, n_tokens: T, pos }));
    const kv = alloc.upload('kv', packed);
    const out = alloc.storage('out', T * qDim * 4);
    // The decode's output in Q8_0 too, as a model with q8 weights asks for it (written where the entry point can).
    const outQ8 = { codes: alloc.storage('out_q', qDim), scales: alloc.storage('out_d', qDim / 8) };
    // prefill_bias: a bias by relative position over the pass, within its one input (an encoder's pass), both ways
    const biased = by.endsWith('bias'); // bias: prefill_bias; dims-bias: prefill_dims_bias
    const bias = biased ? { relBias: rand(nHead * (2 * T - 1)), inputs: [{ length: T }], bidirectional: true } : {};
    const both = o.bothWays || biased ? { bidirectional: true } : {};
    const d = await buildAttention(gpu, alloc, {
      ...both, ...(biased ? { relBias: alloc.upload('bias', bias.relBias!), inputs: alloc.upload('inputs', packInputs(bias.inputs!)) } : {}),
      nHead, nKv, headDim, scale, window: 0, softcap: 0, kvType, cacheLen: nCtx, kv, rope: { ...rope, nRot: 0 },
      nSplit: o.splits ?? decodeSplits(nCtx, onCpu, by === 'wide'), qkv: alloc.upload('qkv', qkv), out, step,
      decodeDims: byDims, prefillDims: byDims, wg, flat: by === 'flat', wide: by === 'wide', outQ8: T === 1 ? outQ8 : undefined,
      keyBlocks: by === 'dims1' ? false : undefined, prefillDimsTokens: tokensAt ? Number(tokensAt[1]) : undefined,
    });
    const list = T === 1 ? d.decode : [d.prefill];
    // The reference reads the queries unrotated (prefill: RoPE ran before; decode: n_rot 0 rotates nothing) and
    // the decode's new key as the cache holds it (the kernel writes it rounded, so pos's row is what it reads).
    const k = stored.k.slice(), v = stored.v.slice();
    if (T === 1) {
      const { k: k1, v: v1 } = kvUnpack(kvType, kvPack(kvType, qkv.slice(qDim, qDim + kvDim), qkv.slice(qDim + kvDim), nKv, headDim), 1, nKv, headDim);
      k.set(k1, pos * kvDim);
      v.set(v1, pos * kvDim);
    }
    const want = attentionRef({ nHead, nKv, headDim }, qkv, T, pos, k, v, { scale, ...both, ...bias });
    const check = async () => {
      const got = new Float32Array(await readBuffer(gpu, out, T * qDim * 4));
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1e-4 + 1e-3 * Math.abs(want[i])));
      if (d.decodeQ8) { // exactly what quantize_x makes of the f32 output: else not a ratio at all
        const ref = quantizeQ8_0(got, 1, qDim);
        const codes = new Int8Array(await readBuffer(gpu, outQ8.codes, qDim));
        const scales = new Float32Array(await readBuffer(gpu, outQ8.scales, qDim / 8));
        if (codes.some((c, i) => c !== ref.q[i]) || scales.some((x, i) => x !== ref.d[i])) return Infinity;
      }
      return worst;
    };
    return { run: (pass: GPUComputePassEncoder) => encodeDispatches(pass, list, T), check };
  };
  const dimsOk = canDecodeByDims(gpu.caps, wg);
  const decodes = o.decode ?? [
    ...(dimsOk ? ['keys', 'dims'] : ['keys']), ...(canDecodeFlat(gpu.caps, headDim) ? ['flat'] : []),
    ...(canDecodeWide(gpu.caps, nHead / nKv, headDim) ? ['wide'] : []),
  ];
  for (const c of contexts) {
    for (const e of decodes) cases.push({ name: `decode ${e} ctx ${c}`, ...(await build(1, c - 1, e)) });
  }
  for (const e of prefillT > 0 ? (o.prefillBy ?? (dimsOk ? ['keys', 'dims'] : ['keys'])) : []) {
    cases.push({ name: `prefill ${e} ${prefillT} tokens`, ...(await build(prefillT, 0, e)) });
  }

  const qs = gpu.device.createQuerySet({ type: 'timestamp', count: 2 });
  const resolve = gpu.device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const best = cases.map(() => ({ gpu: Infinity, cpu: Infinity }));
  for (let round = 0; round <= rounds; round++) {
    for (const [i, c] of cases.entries()) {
      const n = round === 0 ? 1 : iters;
      const enc = gpu.device.createCommandEncoder();
      const pass = enc.beginComputePass({ timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } });
      for (let k = 0; k < n; k++) c.run(pass);
      pass.end();
      enc.resolveQuerySet(qs, 0, 2, resolve, 0);
      const c0 = cpuUs?.() ?? 0;
      gpu.device.queue.submit([enc.finish()]);
      await gpu.device.queue.onSubmittedWorkDone();
      const cpu = (cpuUs?.() ?? 0) - c0;
      const t = new BigUint64Array(await readBuffer(gpu, resolve, 16));
      if (round === 0) {
        const worst = await c.check(); // validate before timing
        if (!(worst <= 1) && !(o.noCheck ?? globalThis.process?.env?.NOCHECK)) throw new Error(`${c.name}: disagrees with the CPU reference (worst error ratio ${worst})`);
        continue;
      }
      best[i].gpu = Math.min(best[i].gpu, Number(t[1] - t[0]) / 1e3 / n);
      best[i].cpu = Math.min(best[i].cpu, cpu / n);
    }
  }
  const g = (i: number) => best[i].gpu.toFixed(0).padStart(8);
  const cpu = (i: number) => best[i].cpu.toFixed(0).padStart(8);
  const lines = cases.map((c, i) => `${c.name.padEnd(26)} ${g(i)} us GPU${cpuUs ? ` ${cpu(i)} us CPU` : ''} (one layer)`);
  lines.forEach((l) => log(l));
  alloc.destroyAll();
  return lines;
}

// Under tsx: run main through Vite (the kernels import WGSL with ?raw); imported by the browser page, nothing.
if (typeof import.meta.env === 'undefined') await (await import('./run_under_vite.ts')).runUnderVite(import.meta);
