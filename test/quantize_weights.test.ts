/**
 * Weights converted on the GPU at upload (src/kernels/quantize_weights.ts) against the CPU's conversion (storeF32:
 * quantizeQ8G32, quantizeInt8, quantizeFp8, f32ToF16Bits) uploaded by uploadWeights: the same buffers, bit for bit, in
 * every scheme and layout they take (row tiles, f32 scales or f16 pairs, chunks, source pieces), from bf16, f16 and f32
 * values.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Allocator, readBuffer } from '../src/gpu/buffers.ts';
import { uploadWeights, type GpuWeights, type WeightData } from '../src/kernels/matmul.ts';
import { dequantize, packBf16, packF16 } from '../src/kernels/ref/matmul.ts';
import { quantizeOnGpu, uploadMatrix } from '../src/kernels/quantize_weights.ts';
import { GPU_QUANT_FORMATS, type GpuQuant, type UploadOptions } from '../src/kernels/matmul_weights.ts';
import { storeF32 } from '../src/model/weight_source.ts';
import { randn, rng, testGpu, VARIANTS } from './helpers/gpu.ts';
import { halves, placeIn } from './helpers/cover.ts';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../src/engine.ts';
import { readLogits } from '../src/model/model.ts';
import { writeHFModel } from '../models/generate_hf.ts';
import { loadHFModel } from '../src/hf/model.ts';
import { createGpu } from '../src/gpu/device.ts';
import { watchCompiles } from '../src/gpu/pipelines.ts';
import { ggmlQuantize as ggmlQuantizeOnCpu } from '../src/quant/ggml/index.ts';
import type { GgmlValues } from '../src/kernels/quantize_ggml.ts';

/** Pairs of BF16 values (value 2i in the low half) as f32, exactly. */
const bf16ToF32 = (words: Uint32Array) => new Float32Array(new Uint32Array(Array.from(words, (w) => [w << 16, w & 0xffff0000]).flat()).buffer);

/**
 * Every chunk's codes and scales as bytes, and the weights' description; `anyNan`: f32 scales that are NaNs as one NaN
 * (JavaScript gives a NaN's sign bit as the CPU makes it: -NaN on x86, from NaN / 127 in quantizeInt8).
 */
async function contents(alloc: Allocator, w: GpuWeights, anyNan = false): Promise<unknown> {
  const chunks = [];
  for (const c of w.chunks) {
    const words = c.scales ? new Uint32Array(await readBuffer(alloc.gpu, c.scales)) : undefined;
    if (words && anyNan) words.forEach((b, i) => (words[i] = (b & 0x7fffffff) > 0x7f800000 ? 0x7fc00000 : b));
    const scales = words && new Uint8Array(words.buffer);
    chunks.push({ rows: c.rows, data: new Uint8Array(await readBuffer(alloc.gpu, c.data)), scales });
  }
  const { format, rows, cols, group, bytes, rowTile, halfScales, nanCodes, fp8Bits } = w;
  return { format, rows, cols, group, bytes, rowTile, halfScales, nanCodes, fp8Bits, chunks };
}

/**
 * Values with the cases the schemes' rules meet: a block of zeros, a block with one large value, Q8_0's ties at the
 * rounding, f16 subnormals (f16 sources: their exact decode), and a row scaled by 1 in FP8 E4M3 (amax 448) with its
 * ties, subnormals and values past its range.
 */
function values(N: number, K: number, seed: number): Float32Array {
  const v = randn(rng(seed), N * K, 0.05);
  v.fill(0, 0, 32);
  v[K + 5] = 40;
  for (let i = 0; i < 32; i++) v[2 * K + i] = (i - 16) / 2; // amax 8: d = 8/127, halves of codes near ties
  for (let i = 0; i < 32; i++) v[3 * K + i] = (i - 7) * 1e-7;
  const fp8 = [448, 1.0625, 1.1875, -1.0625, 2 ** -9, 2 ** -10, 3 * 2 ** -10, -(2 ** -11), 0.01, -0.3, 240, 232, 6e-5, -448, 17, 0.5];
  v.set(fp8, 4 * K);
  v.set(fp8.map((x) => x / 8), 4 * K + 16);
  return v;
}

/** The CPU's conversion of `w`'s values to `scheme` (storeF32), uploaded by uploadWeights. */
function onCpu(alloc: Allocator, w: WeightData, scheme: GpuQuant, opts: UploadOptions): GpuWeights {
  return uploadWeights(alloc, 'cpu', storeF32(dequantize(w), w.rows, w.cols, scheme), opts);
}

const SCHEMES = Object.keys(GPU_QUANT_FORMATS) as GpuQuant[];

// The source kinds and upload options converted: each case runs every second scheme on each device (test/helpers/cover.ts).
const CONVERT_CASES: (readonly ['bf16' | 'f16' | 'f32', number, number, UploadOptions])[] = [
  ['bf16', 37, 96, {}], // 3 blocks a row: a pair and a lone block
  ['bf16', 37, 96, { rowTile: 16 }],
  ['bf16', 37, 96, { rowTile: 32, halfScales: true }],
  ['bf16', 37, 64, { halfScales: true, maxChunkBytes: 16 * 64 }], // chunks of 16 rows
  ['bf16', 40, 128, { rowTile: 8, halfScales: false, pieceWords: 3 * 64 }], // source pieces of 3 rows
  ['bf16', 9, 32, { halfScales: true }], // one block a row: no pairs (as pairedScales)
  ['bf16', 7, 2560, { rowTile: 8 }], // 80 blocks a row: main_row's workgroup takes more than one
  ['bf16', 37, 96, { rowTile: 16, offsetCodes: false }], // q8 codes as they are (offset by 128 by default on lavapipe)
  ['bf16', 37, 96, { rowTile: 1, offsetCodes: true }],
  ['f16', 37, 96, { rowTile: 16, halfScales: true }],
  ['f16', 21, 160, { halfScales: false, pieceWords: 5 * 80 }],
  ['f32', 37, 96, { rowTile: 16, halfScales: true }],
  ['f32', 21, 160, { halfScales: false, pieceWords: 5 * 160, maxChunkBytes: 8 * 160 }],
];

describe.each(VARIANTS)('weights converted on the GPU (%s device)', (variant) => {
  /** `body` with an Allocator on the variant's device, its buffers destroyed after. */
  const withAlloc = async (body: (alloc: Allocator) => Promise<void>) => {
    const alloc = new Allocator(await testGpu(variant));
    try {
      await body(alloc);
    } finally {
      await alloc.destroyAll();
    }
  };

  it.each(CONVERT_CASES)('%s %ix%i %o: in half the schemes (the others on the other device), the buffers uploadWeights makes of the CPU\'s conversion', async (kind, N, K, opts: UploadOptions) => {
    await withAlloc(async (alloc) => {
      const f = values(N, K, N * K);
      const w: WeightData = kind === 'bf16' ? packBf16(f, N, K) : kind === 'f16' ? packF16(f, N, K) : { format: 'f32', rows: N, cols: K, data: f };
      const place = placeIn(CONVERT_CASES, [kind, N, K, opts]);
      for (const scheme of halves(SCHEMES, variant, place)) {
        if (scheme === 'f16' && kind === 'f16') continue; // kept as it is (WeightSource)
        const cpu = await contents(alloc, onCpu(alloc, w, scheme, opts));
        expect(await contents(alloc, await quantizeOnGpu(alloc, 'gpu', w, scheme, opts)), scheme).toEqual(cpu);
        expect(await contents(alloc, await uploadMatrix(alloc, 'marked', { ...w, gpuQuant: scheme }, opts)), scheme).toEqual(cpu);
      }
    });
  });

  it('values of magnitude 2^60 or more, inf and NaN: the CPU\'s bits; FP8 E4M3 leaves its f32-bit decode and checks for NaN codes', async () => {
    await withAlloc(async (alloc) => {
      const N = 6, K = 64;
      const f = values(N, K, 5);
      f[0] = Infinity; // a row whose scale is inf: zeros (signed, FP8), a NaN code for the inf
      f[K + 40] = NaN; // a NaN scale: NaN codes (FP8), zeros (q8)
      f[2 * K + 3] = -Infinity;
      f[3 * K + 33] = 3e30; // finite, past f16 (inf there) and past 2^60 (an FP8 scale of 2^60 or more)
      f[5 * K + 1] = -1e20;
      const w: WeightData = { format: 'f32', rows: N, cols: K, data: f };
      for (const scheme of SCHEMES) {
        const opts = { halfScales: false }; // the CPU pairs no inf or NaN scale (pairedScales), the GPU would
        const cpu = (await contents(alloc, onCpu(alloc, w, scheme, opts), true)) as Record<string, unknown>;
        const onGpu = (await contents(alloc, await quantizeOnGpu(alloc, 'gpu', w, scheme, opts), true)) as Record<string, unknown>;
        const e4m3 = GPU_QUANT_FORMATS[scheme] === 'fp8e4m3';
        expect({ ...onGpu, nanCodes: undefined, fp8Bits: undefined }, scheme).toEqual({ ...cpu, nanCodes: undefined, fp8Bits: undefined });
        expect([onGpu.nanCodes, onGpu.fp8Bits], scheme).toEqual(e4m3 ? [true, false] : [undefined, undefined]);
        if (e4m3) expect(cpu.nanCodes, scheme).toBe(true);
      }
    });
  });

  // 70,000 rows: main_row's workgroup a row passes 65,535 along x, so its grid goes 2D (a Llama-3 vocabulary's 128,256).
  it('per-row schemes past 65,535 rows: a 2D grid, the buffers of the CPU', async () => {
    await withAlloc(async (alloc) => {
      const N = 70_000, K = 32;
      const w = packBf16(values(N, K, 70), N, K);
      // Digests of the buffers: a deep comparison of 2.2 MB of bytes takes vitest seconds.
      const digest = async (g: GpuWeights) => JSON.stringify(await contents(alloc, g), (_k, v) => (v instanceof Uint8Array ? createHash('sha256').update(v).digest('hex') : v));
      for (const scheme of ['int8', 'fp8-e4m3'] as const) {
        expect(await digest(await quantizeOnGpu(alloc, 'gpu', w, scheme)), scheme).toBe(await digest(onCpu(alloc, w, scheme, {})));
      }
    });
  });

  it('refuses what it cannot take, and uploadWeights refuses values marked for it', async () => {
    await withAlloc(async (alloc) => {
      const f = randn(rng(1), 4 * 40, 1);
      await expect(quantizeOnGpu(alloc, 'w', { format: 'f32', rows: 4, cols: 40, data: f }, 'int8')).rejects.toThrow(/f32, f16 or bf16 rows of whole 32-blocks/);
      expect(() => uploadWeights(alloc, 'w', { format: 'f32', rows: 4, cols: 40, data: f, gpuQuant: 'int8-g32' })).toThrow(/go up by uploadMatrix/);
    });
  });
});

describe('a BF16 checkpoint converted at load', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'emberlm-gpuq-'));
    // Rows of 64 and 128 (whole 32-blocks, pairs of them) and a tied 64-wide embedding: every matrix is converted.
    await writeHFModel(dir, { modelType: 'llama', dtype: 'BF16', nEmbd: 64, nHead: 4, nHeadKv: 2, nFf: 128, nLayer: 2, vocab: 300, seed: 11 });
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const run = async (quant: GpuQuant, gpuQuantize: boolean, fuseDecode?: boolean) => {
    const engine = await Engine.load(dir, { gpu: await testGpu('f16'), quant, gpuQuantize, fuseDecode, contextLength: 64, maxBatch: 16 });
    try {
      const r = await engine.complete([1, 5, 9, 200, 7, 33], { maxTokens: 12, temperature: 0, stopAtEos: false });
      return { ids: r.ids, logits: Array.from(await readLogits(engine.model)), bytes: engine.model.weightBytes };
    } finally {
      await engine.dispose();
    }
  };

  it('the source marks values for the GPU only where the model builder asks, and never F16 values for f16', async () => {
    const hf = await loadHFModel(dir, 'int8-g32');
    try {
      for (const quant of SCHEMES) {
        const marked = await hf.weights.matrix('blk.0.ffn_down.weight', 64, 128, quant, { gpuQuant: true });
        expect([marked.format, marked.gpuQuant]).toEqual(['bf16', quant]);
        expect((await hf.weights.matrix('blk.0.ffn_down.weight', 64, 128, quant)).format).toBe(GPU_QUANT_FORMATS[quant]);
      }
    } finally {
      await hf.close();
    }
  });

  // fuseDecode (GPUs' default) too: its gate/up pairs (pairRows, rowAlign 2) go up as marked values.
  it.each([
    ['int8-g32', true], ['int8', false], ['fp8-e4m3', true], ['fp8-e5m2-g32', false], ['f16', false],
  ] as const)('%s converted on the GPU (the default) runs as converted on the CPU: the same weight bytes, logits and greedy ids (fused too: %s)', async (quant, fused) => {
    const onGpu = await run(quant, true);
    const onCpu = await run(quant, false);
    expect(onGpu.ids).toEqual(onCpu.ids);
    expect(onGpu.logits).toEqual(onCpu.logits);
    expect(onGpu.bytes).toBe(onCpu.bytes);
    if (!fused) return;
    const fusedGpu = await run(quant, true, true);
    const fusedCpu = await run(quant, false, true);
    expect(fusedGpu.ids).toEqual(fusedCpu.ids);
    expect(fusedGpu.logits).toEqual(fusedCpu.logits);
  });
});

describe('a BF16 checkpoint converted to the ggml schemes at load', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'emberlm-gpuq-ggml-'));
    // Rows of 256 and 512: whole K-quant super-blocks, so q4_k, q5_k and q6_k keep their own types.
    await writeHFModel(dir, { modelType: 'llama', dtype: 'BF16', nEmbd: 256, nHead: 4, nHeadKv: 2, nFf: 512, nLayer: 2, vocab: 300, seed: 12 });
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('the source hands a ggml conversion to the quantizer it is given: the file\'s BF16 words, the type llama.cpp would take', async () => {
    const hf = await loadHFModel(dir, 'q4_k');
    try {
      const asked: string[] = [];
      const ggmlQuantize = async (type: string, v: GgmlValues) => {
        asked.push(`${type} from ${v instanceof Float32Array ? 'f32' : v.format}`);
        const f32 = v instanceof Float32Array ? v : bf16ToF32(v.words); // as toF32 widens BF16
        return ggmlQuantizeOnCpu(type, f32);
      };
      const w = await hf.weights.matrix('blk.0.ffn_down.weight', 256, 512, 'q4_k', { gpuQuant: true, ggmlQuantize });
      const tied = await hf.weights.matrix('blk.0.attn_q.weight', 256, 256, 'q6_k', { gpuQuant: true, ggmlQuantize });
      expect([w.format, tied.format, asked]).toEqual(['q4_k', 'q6_k', ['Q4_K from bf16', 'Q6_K from bf16']]);
      // The same bytes as the CPU's conversion of the same values.
      expect(w).toEqual(await hf.weights.matrix('blk.0.ffn_down.weight', 256, 512, 'q4_k'));
    } finally {
      await hf.close();
    }
  });

  it.each(['q4_k', 'q5_k', 'q6_k', 'q4_0', 'q4_1'] as const)('%s converted on the GPU (the default) runs as converted on the CPU: the same weight bytes, logits and greedy ids', async (quant) => {
    const run = async (gpuQuantize: boolean) => {
      const gpu = await createGpu({}); // its own device: the converter's pipeline is compiled anew, and seen
      const compiled: string[] = [];
      const unwatch = watchCompiles(gpu, (label) => compiled.push(label));
      const engine = await Engine.load(dir, { gpu, quant, gpuQuantize, contextLength: 64, maxBatch: 16 });
      unwatch();
      try {
        const r = await engine.complete([1, 5, 9, 200, 7, 33], { maxTokens: 12, temperature: 0, stopAtEos: false });
        return { ids: r.ids, logits: Array.from(await readLogits(engine.model)), bytes: engine.model.weightBytes, converter: compiled.includes('quantize_ggml') };
      } finally {
        await engine.dispose();
        gpu.device.destroy();
      }
    };
    const onGpu = await run(true);
    const onCpu = await run(false);
    expect([onGpu.converter, onCpu.converter]).toEqual([true, false]);
    expect(onGpu.ids).toEqual(onCpu.ids);
    expect(onGpu.logits).toEqual(onCpu.logits);
    expect(onGpu.bytes).toBe(onCpu.bytes);
  });
});
