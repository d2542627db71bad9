/**
 * A lab for GPU GEMV layouts (bench/gemv_lab.wgsl), Q8_0 weights and x, apart from the engine's skeleton: every layout
 * is checked against a CPU reference, then timed by GPU timestamps (ITERS back-to-back dispatches in a pass, least of
 * `rounds`), with a read-only ceiling of the same pattern (MODE 1) beside it.
 *
 *   npx tsx bench/gemv_lab.ts [--shapes 2048x2048,2048x16384] [--pair 0,1] [--xsrc 0,1,2] [--r 1,2,4] [--u 1,2,4]
 *     [--iters-rows 1,4] [--wg 256] [--rounds 5] [--iters 20] [--flags disable_robustness,...] [--engine split,split-warp,...]
 *
 * --engine: the engine's own GEMV (shaders/matmul.wgsl's gemv_split as src/kernels/matmul_shader.ts assembles it for
 * q8 weights and Q8_0 x from a buffer) on the same data, bound here: 'split' (f32 scales, WG=256 R=4 LANES=32),
 * 'split-half' (f16 scale pairs), 'split-warp' (WARP: each lane group one subgroup), 'split-local' (x RMS-normed and
 * quantized in the prologue, as decode's fused GEMVs), to set the skeleton beside the lab.
 *
 * --flags: Dawn toggles to enable (disable_robustness, disable_workgroup_init, skip_validation), beside
 * timestamp_quantization off. On a lent GPU: TOOL=lab bash bench/gpu/run.sh (bench/gpu/tools.ts).
 */

interface Variant {
  WG: number;
  R: number;
  U: number;
  ITERS: number;
  PAIR: boolean;
  XSRC: number;
  MODE: number;
}

const name = (v: Variant) => `${v.MODE ? 'read' : 'gemv'} ${v.PAIR ? 'pair' : 'block'} x${v.XSRC} WG=${v.WG} R=${v.R} U=${v.U} IT=${v.ITERS}`;
const list = (s: string) => s.split(',').filter(Boolean).map(Number);

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

// f32 to the nearest f16 value (ties to even), normal range only: the lab's scales are far from its edges.
function roundF16Value(v: number): number {
  if (v === 0) return 0;
  const e = Math.floor(Math.log2(Math.abs(v)));
  const q = 2 ** (e - 10);
  const m = v / q;
  const r = Math.abs(m - Math.trunc(m)) === 0.5 ? 2 * Math.round(m / 2) : Math.round(m);
  return r * q;
}

/** x RMS-normalised and quantized to Q8_0 as the prologue does (its reference up to f32 rounding of the norm). */
function quantizeX(xf: Float32Array, nw: Float32Array, eps: number) {
  const K = xf.length;
  let ss = 0;
  for (const a of xf) ss += a * a;
  const scale = 1 / Math.sqrt(ss / K + eps);
  const codes = new Int8Array(K);
  const xd = new Float32Array(K / 32);
  for (let b = 0; b < K / 32; b++) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(xf[32 * b + i] * scale * nw[32 * b + i]));
    const dd = Math.fround(amax / 127);
    const id = dd ? Math.fround(1 / dd) : 0;
    for (let i = 0; i < 32; i++) {
      const v = Math.fround(xf[32 * b + i] * scale * nw[32 * b + i]) * id;
      codes[32 * b + i] = Math.sign(v) * Math.round(Math.abs(v));
    }
    xd[b] = roundF16Value(dd);
  }
  return { codes, xd };
}

const keep: unknown[] = [];

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const { parseArgs } = await import('node:util');
  const { loadavg } = await import('node:os');
  const { values: a } = parseArgs({
    args: argv,
    options: {
      shapes: { type: 'string', default: '2048x2048,2048x3072,2048x16384,8192x2048,2048x128256' },
      pair: { type: 'string', default: '0,1' }, xsrc: { type: 'string', default: '0,2' }, r: { type: 'string', default: '1,2,4' },
      u: { type: 'string', default: '1,2,4' }, 'iters-rows': { type: 'string', default: '1,4' }, wg: { type: 'string', default: '256' },
      rounds: { type: 'string', default: '5' }, iters: { type: 'string', default: '20' }, flags: { type: 'string', default: '' },
      engine: { type: 'string', default: '' },
    },
  });
  const mod = (await import('webgpu')) as unknown as { create: (o: string[]) => GPU; globals: object };
  Object.assign(globalThis, mod.globals);
  const flags = ['disable-dawn-features=timestamp_quantization', ...(a.flags ? [`enable-dawn-features=${a.flags}`] : [])];
  const gpuEntry = mod.create(flags);
  keep.push(gpuEntry); // Dawn's instance must outlive every wait (a collected one crashed lavapipe runs)
  const adapter = await gpuEntry.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('no adapter');
  const lim = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: ['subgroups', 'timestamp-query'] as GPUFeatureName[],
    requiredLimits: { maxStorageBufferBindingSize: lim.maxStorageBufferBindingSize, maxBufferSize: lim.maxBufferSize, maxStorageBuffersPerShaderStage: lim.maxStorageBuffersPerShaderStage },
  });
  device.addEventListener('uncapturederror', (e) => console.error('WebGPU error:', (e as GPUUncapturedErrorEvent).error.message));
  const info = adapter.info;
  const sg = (info as unknown as { subgroupMaxSize?: number }).subgroupMaxSize ?? 32;
  console.log(`adapter ${info.vendor} ${info.architecture} ${info.description}, subgroups of ${sg}; flags ${flags.join(' ')}; load ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  const [labWgsl, roundF16, q8Block, rmsLib] = (await Promise.all([
    import('./gemv_lab.wgsl?raw'), import('../shaders/round_f16.wgsl?raw'), import('../shaders/q8_block.wgsl?raw'), import('../shaders/rms_lib.wgsl?raw'),
  ])).map((m) => m.default as string);
  const code = `enable subgroups;\n${roundF16}\n${q8Block}\n${rmsLib}\n${labWgsl.replace('enable subgroups;', '')}`;
  const shader = device.createShaderModule({ code });
  const pipelines = new Map<string, GPUComputePipeline>();
  const pipeline = async (v: Variant) => {
    const key = name(v);
    let pl = pipelines.get(key);
    if (!pl) {
      const constants = { SG: sg, WG: v.WG, R: v.R, U: v.U, ITERS: v.ITERS, PAIR: v.PAIR ? 1 : 0, XSRC: v.XSRC, MODE: v.MODE };
      pl = await device.createComputePipelineAsync({ layout: 'auto', compute: { module: shader, entryPoint: 'main', constants } });
      pipelines.set(key, pl);
    }
    return pl;
  };
  const variants: Variant[] = [];
  for (const WG of list(a.wg)) for (const PAIR of list(a.pair)) for (const R of list(a.r)) for (const U of list(a.u)) {
    for (const ITERS of list(a['iters-rows'])) for (const XSRC of list(a.xsrc)) variants.push({ WG, R, U, ITERS, PAIR: PAIR === 1, XSRC, MODE: 0 });
    if (U !== 2) variants.push({ WG, R, U, ITERS: 1, PAIR: PAIR === 1, XSRC: 0, MODE: 1 });
  }
  const engines = a.engine ? a.engine.split(',') : [];
  const engineCode = new Map<string, GPUShaderModule>();
  const engineShader = async (half: boolean, local: boolean) => {
    let m = engineCode.get(`${half} ${local}`);
    if (!m) {
      const { decoderShader, matmulSkeleton } = await import('../src/kernels/matmul_shader.ts');
      const text = decoderShader({ subgroups: true, dot4I8: true }, { format: 'q8', halfScales: half } as never, matmulSkeleton(), local ? 'q8_local' : 'q8', 1);
      m = device.createShaderModule({ code: text });
      engineCode.set(`${half} ${local}`, m);
    }
    return m;
  };
  const rounds = Number(a.rounds);
  const iters = Number(a.iters);
  const results: { shape: string; variant: string; us: number; gbs: number }[] = [];
  for (const shape of a.shapes.split(',')) {
    const [K, N] = shape.split('x').map(Number);
    const wordBytes = N * K;
    if (wordBytes > lim.maxStorageBufferBindingSize) {
      console.log(`${shape}: skipped (${wordBytes} B of codes > the binding limit ${lim.maxStorageBufferBindingSize})`);
      continue;
    }
    const rand = lcg(K * 31 + N);
    const w = new Uint32Array(N * K / 4).map(() => (rand() * 2 ** 32) >>> 0);
    // Scales exact in f16 (k * 2^-16, k < 1024), so that f16 scale pairs carry the same values as f32 scales.
    const dw = new Float32Array(N * K / 32).map(() => (64 + Math.floor(640 * rand())) / 65536);
    const xf = new Float32Array(K).map(() => rand() * 2 - 1);
    const nw = new Float32Array(K).map(() => 0.5 + rand());
    const eps = 1e-5;
    const { codes, xd } = quantizeX(xf, nw, eps);
    const xq = new Uint32Array(codes.buffer);
    const wc = new Int8Array(w.buffer);
    const ref = new Float64Array(N);
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let b = 0; b < K / 32; b++) {
        let s = 0;
        for (let i = 0; i < 32; i++) s += wc[n * K + 32 * b + i] * codes[32 * b + i];
        acc += s * dw[n * K / 32 + b] * xd[b];
      }
      ref[n] = acc;
    }
    const maxRef = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const buf = (data: ArrayBufferView, usage = GPUBufferUsage.STORAGE) => {
      const b = device.createBuffer({ size: Math.max(16, data.byteLength), usage: usage | GPUBufferUsage.COPY_DST });
      device.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
      return b;
    };
    const uni = buf(new Uint32Array([K, N, new Uint32Array(new Float32Array([eps]).buffer)[0], 0]), GPUBufferUsage.UNIFORM);
    const bufs = [uni, buf(w), buf(dw), buf(xq), buf(xd), buf(xf), buf(nw)];
    const y = device.createBuffer({ size: N * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const read = device.createBuffer({ size: N * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const qs = device.createQuerySet({ type: 'timestamp', count: 2 * rounds });
    const qbuf = device.createBuffer({ size: 16 * rounds, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    const qread = device.createBuffer({ size: 16 * rounds, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const bytes = N * K + N * K / 32 * 4;
    // One dispatch checked (its largest error against the reference), then `rounds` passes of `iters` timed.
    const timeOne = async (pl: GPUComputePipeline, bg: GPUBindGroup, groups: number) => {
      let enc = device.createCommandEncoder();
      let pass = enc.beginComputePass();
      pass.setPipeline(pl);
      pass.setBindGroup(0, bg);
      pass.dispatchWorkgroups(groups);
      pass.end();
      enc.copyBufferToBuffer(y, 0, read, 0, N * 4);
      device.queue.submit([enc.finish()]);
      await read.mapAsync(GPUMapMode.READ);
      const got = new Float32Array(read.getMappedRange().slice(0));
      read.unmap();
      let err = 0;
      for (let n = 0; n < N; n++) err = Math.max(err, Math.abs(got[n] - ref[n]));
      enc = device.createCommandEncoder();
      for (let r = 0; r < rounds; r++) {
        pass = enc.beginComputePass({ timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 2 * r, endOfPassWriteIndex: 2 * r + 1 } });
        pass.setPipeline(pl);
        pass.setBindGroup(0, bg);
        for (let i = 0; i < iters; i++) pass.dispatchWorkgroups(groups);
        pass.end();
      }
      enc.resolveQuerySet(qs, 0, 2 * rounds, qbuf, 0);
      enc.copyBufferToBuffer(qbuf, 0, qread, 0, 16 * rounds);
      device.queue.submit([enc.finish()]);
      await qread.mapAsync(GPUMapMode.READ);
      const t = new BigUint64Array(qread.getMappedRange().slice(0));
      qread.unmap();
      let us = Infinity;
      for (let r = 0; r < rounds; r++) us = Math.min(us, Number(t[2 * r + 1] - t[2 * r]) / 1000 / iters);
      return { us, err: Number.isNaN(err) ? Infinity : err };
    };
    for (const v of variants) {
      const pl = await pipeline(v);
      const bg = device.createBindGroup({ layout: pl.getBindGroupLayout(0), entries: [...bufs, y].map((b, i) => ({ binding: i, resource: { buffer: b } })) });
      const groups = Math.ceil(N / (v.R * (v.WG / sg) * v.ITERS));
      if (groups > 65535) continue;
      const { us: best, err } = await timeOne(pl, bg, groups);
      const bad = v.MODE === 0 && v.XSRC < 3 && !(err <= 2e-3 * maxRef); // 3 and 4 are parts of 2's prologue
      const gbs = bytes / best / 1000;
      results.push({ shape, variant: name(v), us: best, gbs });
      if (bad) console.log(`${shape} ${name(v)}: WRONG (max error ${err.toExponential(2)} against ${maxRef.toExponential(2)})`);
      results[results.length - 1].variant += bad ? ' WRONG' : '';
    }
    for (const e of engines) {
      const half = e.includes('half');
      const warp = e.includes('warp');
      const local = e.includes('local'); // x normed and quantized in the prologue (q8_local, x_norm 1)
      const pl = await device.createComputePipelineAsync({
        layout: 'auto',
        compute: { module: await engineShader(half, local), entryPoint: 'gemv_split', constants: { WG: 256, R: 4, LANES: sg, ROW_ITERS: 1, WARP: warp ? 1 : 0, TT: 1, FLOAT_DOT: 0, MUL_WIDEN: 0, X_VEC: 1 } },
      });
      const group = half ? 64 : 32;
      const params = new Uint32Array([N, K, 0, N, 0, 0, group, K / group, 0, local ? 1 : 0, new Uint32Array(new Float32Array([eps]).buffer)[0], 0]);
      const stepU = new Uint32Array(12);
      stepU[0] = 1;
      let scales: Uint32Array | Float32Array = dw;
      if (half) {
        const f16 = (v: number) => { const e = Math.floor(Math.log2(v)); return ((e + 15) << 10) | Math.round((v / 2 ** e - 1) * 1024); };
        scales = new Uint32Array(N * K / 64).map((_, i) => f16(dw[2 * i]) | (f16(dw[2 * i + 1]) << 16));
      }
      const eb = [buf(params, GPUBufferUsage.UNIFORM), buf(stepU, GPUBufferUsage.UNIFORM), local ? bufs[5] : bufs[3], local ? bufs[6] : bufs[4], bufs[1], buf(scales), buf(new Float32Array(4)), y];
      const bg = device.createBindGroup({ layout: pl.getBindGroupLayout(0), entries: eb.map((b, i) => ({ binding: i, resource: { buffer: b } })) });
      const groups = Math.ceil(N / (4 * (256 / sg)));
      const { us, err } = await timeOne(pl, bg, groups);
      const bad = !(err <= 2e-3 * maxRef);
      results.push({ shape, variant: `engine ${e}${bad ? ' WRONG' : ''}`, us, gbs: bytes / us / 1000 });
      for (const b of [eb[0], eb[1], eb[5], eb[6]]) b.destroy();
    }
    const mine = results.filter((r) => r.shape === shape).sort((p, q) => p.us - q.us);
    console.log(`\n${shape} (K x N), ${(bytes / 1e6).toFixed(1)} MB: fastest first`);
    for (const r of mine) console.log(`  ${r.variant.padEnd(42)} ${r.us.toFixed(2).padStart(9)} us ${r.gbs.toFixed(0).padStart(6)} GB/s`);
    for (const b of [...bufs, y, read, qbuf, qread]) b.destroy();
    qs.destroy();
  }
  console.log(`load ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  if (process.env.OUT) (await import('node:fs')).writeFileSync(`${process.env.OUT}/gemv-lab${a.flags ? '-' + a.flags.replaceAll(',', '-') : ''}.json`, JSON.stringify({ adapter: info, flags, results }, null, 1));
}

if (typeof import.meta.env === 'undefined') await (await import('./run_under_vite.ts')).runUnderVite(import.meta);
