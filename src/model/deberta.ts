/**
 * DeBERTa's disentangled attention at load (ModelConfig.disentangled): the relative rows LayerNorm'd once, each layer's
 * query and key projections of them (Qr | Kr, biases too) made by that layer's own q|k|v matmuls on the GPU as the
 * weights are stored, and the buffers the pass's terms go to (shaders/disentangled.wgsl writes them, the attention
 * reads them: AttentionArgs.disentangled).
 */
import { Allocator, writeBuffer } from '../gpu/buffers.ts';
import type { Gpu } from '../gpu/device.ts';
import { encodeDispatches, STEP, STEP_DEFAULTS } from '../kernels/dispatch.ts';
import { buildMatmul, type GpuWeights } from '../kernels/matmul.ts';
import { layernormRef } from '../kernels/ref/rmsnorm.ts';
import type { ModelConfig } from './config.ts';
import { readLayerNorm } from './host_weights.ts';
import { debertaRows } from './relative_bias.ts';
import type { WeightSource } from './weight_source.ts';

/** One part of a layer's fused matmul as built (model.ts's `fused`): its weights, bias and columns of y. */
export interface FusedPart {
  readonly label: string;
  readonly w: GpuWeights;
  readonly bias?: GPUBuffer;
  readonly yOffset: number;
  readonly yWidth: number;
}

export interface DebertaLoad {
  /** What every layer's attention reads (AttentionArgs.disentangled, less `rel`). */
  readonly terms: { relAt: GPUBuffer; c2p: GPUBuffer; p2c: GPUBuffer; rows: number; table: Uint32Array };
  /** The LayerNorm'd relative rows (rows, D). */
  readonly x: GPUBuffer;
  readonly alloc: Allocator;
  readonly c: ModelConfig;
}

/** The relative rows and the terms' buffers for passes of at most maxBatch tokens. */
export async function debertaLoad(gpu: Gpu, alloc: Allocator, f: WeightSource, c: ModelConfig, maxBatch: number): Promise<DebertaLoad> {
  const d = c.disentangled!;
  const D = c.nEmbd, rows = 2 * d.buckets;
  const norm = await readLayerNorm(f, 'rel_embd_norm', D);
  const rel = layernormRef(await f.vector('rel_embd.weight', rows * D, [rows, D]), norm.weight, norm.bias, D, c.eps);
  const table = debertaRows(d, maxBatch);
  const terms = (name: string) => alloc.storage(`deberta.${name}`, maxBatch * c.nHead * rows * 4); // (T, n_head, rows)
  return { terms: { relAt: alloc.upload('deberta.rel_at', table), c2p: terms('c2p'), p2c: terms('p2c'), rows, table }, x: alloc.upload('deberta.rel_rows', rel), alloc, c };
}

/**
 * A layer's Qr | Kr (rows, 2 q_dim), its q|k|v matmuls (`parts`, as the layer's prefill runs them) run once over the
 * relative rows: all rows a pass, q|k|v's columns into scratch (freed after), then q and k's copied out.
 */
export async function relativeQk(gpu: Gpu, d: DebertaLoad, parts: readonly FusedPart[], label: string): Promise<GPUBuffer> {
  const { rows } = d.terms, qDim = d.c.nHead * d.c.headDim, width = parts[0].yWidth;
  const scratch = new Allocator(gpu);
  try {
    const step = scratch.uniform(`${label}.rel_step`, STEP.size);
    writeBuffer(gpu, step, STEP.pack({ ...STEP_DEFAULTS, n_tokens: rows }));
    const y = scratch.storage(`${label}.rel_qkv`, rows * width * 4);
    const enc = gpu.device.createCommandEncoder({ label: `${label}.rel_qk` });
    const pass = enc.beginComputePass();
    for (const p of parts) {
      const m = await buildMatmul(gpu, scratch, { label: `${p.label}.rel`, w: p.w, x: d.x, y, bias: p.bias, yOffset: p.yOffset, yWidth: width, step, maxTokens: rows, decodes: false });
      encodeDispatches(pass, m.gemm, rows);
    }
    pass.end();
    const qk = d.alloc.storage(`${label}.rel_qk`, rows * 2 * qDim * 4);
    for (let b = 0; b < rows; b++) enc.copyBufferToBuffer(y, b * width * 4, qk, b * 2 * qDim * 4, 2 * qDim * 4);
    gpu.device.queue.submit([enc.finish()]);
    return qk;
  } finally {
    await scratch.destroyAll(); // (after the submit: the queue runs what it holds first)
  }
}
