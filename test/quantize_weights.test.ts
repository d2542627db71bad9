/**
 * Weights quantized on the GPU at upload (src/kernels/quantize_weights.ts) against the CPU's quantizeQ8G32 uploaded by
 * uploadWeights: the same buffers, bit for bit, in every layout they take (row tiles, f32 scales or f16 pairs, chunks,
 * source pieces), from bf16, f16 and f32 values.
 */
import { describe, expect, it } from 'vitest';
import { Allocator, readBuffer } from '../src/gpu/buffers.ts';
import { quantizeQ8G32 } from '../src/gguf/convert.ts';
import { uploadWeights, type GpuWeights, type WeightData } from '../src/kernels/matmul.ts';
import { dequantize, packBf16, packF16 } from '../src/kernels/ref/matmul.ts';
import { quantizeOnGpu, uploadMatrix } from '../src/kernels/quantize_weights.ts';
import type { UploadOptions } from '../src/kernels/matmul_weights.ts';
import { randn, rng, testGpu, VARIANTS } from './helpers/gpu.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../src/engine.ts';
import { readLogits } from '../src/model/model.ts';
import { writeHFModel } from '../models/generate_hf.ts';
import { loadHFModel } from '../src/hf/model.ts';

/** Every chunk's codes and scales as bytes, and the weights' description. */
async function contents(alloc: Allocator, w: GpuWeights): Promise<unknown> {
  const chunks = [];
  for (const c of w.chunks) {
    chunks.push({ rows: c.rows, data: new Uint8Array(await readBuffer(alloc.gpu, c.data)), scales: new Uint8Array(await readBuffer(alloc.gpu, c.scales!)) });
  }
  const { format, rows, cols, group, bytes, rowTile, halfScales } = w;
  return { format, rows, cols, group, bytes, rowTile, halfScales, chunks };
}

/** Values with the cases Q8_0's rule meets: a block of zeros, a block with one large value, ties at the rounding. */
function values(N: number, K: number, seed: number): Float32Array {
  const v = randn(rng(seed), N * K, 0.05);
  v.fill(0, 0, 32);
  v[K + 5] = 40;
  for (let i = 0; i < 32; i++) v[2 * K + i] = (i - 16) / 2; // amax 8: d = 8/127, halves of codes near ties
  for (let i = 0; i < 32; i++) v[3 * K + i] = (i - 7) * 1e-7; // f16 subnormals (f16 sources: their exact decode)
  return v;
}

describe.each(VARIANTS)('weights quantized on the GPU (%s device)', (variant) => {
  it.each([
    ['bf16', 37, 96, {}], // 3 blocks a row: a pair and a lone block
    ['bf16', 37, 96, { rowTile: 16 }],
    ['bf16', 37, 96, { rowTile: 32, halfScales: true }],
    ['bf16', 37, 64, { halfScales: true, maxChunkBytes: 16 * 64 }], // chunks of 16 rows
    ['bf16', 40, 128, { rowTile: 8, halfScales: false, pieceWords: 3 * 64 }], // source pieces of 3 rows
    ['bf16', 9, 32, { halfScales: true }], // one block a row: no pairs (as pairedScales)
    ['f16', 37, 96, { rowTile: 16, halfScales: true }],
    ['f16', 21, 160, { halfScales: false, pieceWords: 5 * 80 }],
    ['f32', 37, 96, { rowTile: 16, halfScales: true }],
    ['f32', 21, 160, { halfScales: false, pieceWords: 5 * 160, maxChunkBytes: 8 * 160 }],
  ] as const)('%s %ix%i %o: the buffers uploadWeights makes of quantizeQ8G32', async (kind, N, K, opts: UploadOptions) => {
    const gpu = await testGpu(variant);
    const alloc = new Allocator(gpu);
    try {
      const f = values(N, K, N * K);
      const w: WeightData = kind === 'bf16' ? packBf16(f, N, K) : kind === 'f16' ? packF16(f, N, K) : { format: 'f32', rows: N, cols: K, data: f };
      const q = quantizeQ8G32(dequantize(w), N, K);
      const cpu = uploadWeights(alloc, 'cpu', { format: 'q8', rows: N, cols: K, data: q.q, scales: q.scales }, opts);
      const gpuW = await quantizeOnGpu(alloc, 'gpu', w, opts);
      expect(await contents(alloc, gpuW)).toEqual(await contents(alloc, cpu));
      expect(await contents(alloc, await uploadMatrix(alloc, 'marked', { ...w, gpuQuant: 'q8' }, opts))).toEqual(await contents(alloc, cpu));
    } finally {
      await alloc.destroyAll();
    }
  });

  it('refuses what it cannot take, and uploadWeights refuses values marked for it', async () => {
    const gpu = await testGpu(variant);
    const alloc = new Allocator(gpu);
    try {
      const f = randn(rng(1), 4 * 40, 1);
      await expect(quantizeOnGpu(alloc, 'w', { format: 'f32', rows: 4, cols: 40, data: f })).rejects.toThrow(/f32, f16 or bf16 rows of whole 32-blocks/);
      expect(() => uploadWeights(alloc, 'w', { format: 'f32', rows: 4, cols: 40, data: f, gpuQuant: 'q8' })).toThrow(/go up by uploadMatrix/);
    } finally {
      await alloc.destroyAll();
    }
  });
});

describe('a BF16 checkpoint loaded with int8-g32', () => {
  it('quantized on the GPU (the default) runs as quantized on the CPU: the same weight bytes, logits and greedy ids, fused or not', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'emberlm-gpuq-'));
    try {
      // Rows of 64 and 128 (whole 32-blocks, pairs of them) and a tied 64-wide embedding: every matrix is quantized.
      await writeHFModel(dir, { modelType: 'llama', dtype: 'BF16', nEmbd: 64, nHead: 4, nHeadKv: 2, nFf: 128, nLayer: 2, vocab: 300, seed: 11 });
      // fuseDecode (GPUs' default) too: its gate/up pairs (pairRows, rowAlign 2) go up as marked values.
      const run = async (gpuQuantize: boolean, fuseDecode?: boolean) => {
        const engine = await Engine.load(dir, { gpu: await testGpu('f16'), quant: 'int8-g32', gpuQuantize, fuseDecode, contextLength: 64, maxBatch: 16 });
        try {
          const r = await engine.complete([1, 5, 9, 200, 7, 33], { maxTokens: 12, temperature: 0, stopAtEos: false });
          return { ids: r.ids, logits: Array.from(await readLogits(engine.model)), bytes: engine.model.weightBytes };
        } finally {
          await engine.dispose();
        }
      };
      // The source marks the values for the GPU only where the model builder asks (gpuQuant), and the weight cache
      // keeps no such values.
      const hf = await loadHFModel(dir, 'int8-g32');
      try {
        const marked = await hf.weights.matrix('blk.0.ffn_down.weight', 64, 128, 'int8-g32', { gpuQuant: true });
        expect([marked.format, marked.gpuQuant]).toEqual(['bf16', 'q8']);
        expect((await hf.weights.matrix('blk.0.ffn_down.weight', 64, 128, 'int8-g32')).format).toBe('q8');
      } finally {
        await hf.close();
      }
      const onGpu = await run(true);
      const onCpu = await run(false);
      expect(onGpu.ids).toEqual(onCpu.ids);
      expect(onGpu.logits).toEqual(onCpu.logits);
      expect(onGpu.bytes).toBe(onCpu.bytes);
      const fusedGpu = await run(true, true);
      const fusedCpu = await run(false, true);
      expect(fusedGpu.ids).toEqual(fusedCpu.ids);
      expect(fusedGpu.logits).toEqual(fusedCpu.logits);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
