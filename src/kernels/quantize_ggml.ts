/**
 * ggml's reference quantizers on the GPU (shaders/quantize_ggml.wgsl): f32 values to the blocks of Q4_0, Q4_1, Q5_0,
 * Q5_1, Q8_0, Q4_K, Q5_K or Q6_K, the bytes ggmlQuantize (src/quant/ggml) writes on the CPU. A load that converts a
 * model to a ggml scheme (`--quant q4_k` ...) spent 100-400 ns a weight in the CPU's K-quant scale search (a 1B model:
 * minutes, on the browser's one thread); here one invocation takes a block, and the bytes come back to the CPU, which
 * then lays them out as it lays out a GGUF file's blocks.
 */
import source from '../../shaders/quantize_ggml.wgsl?raw';
import { EmberError } from '../errors.ts';
import type { Gpu } from '../gpu/device.ts';
import { readBuffer, writeBuffer } from '../gpu/buffers.ts';
import { getPipeline, shaderText } from '../gpu/pipelines.ts';
import { GGML_TYPES } from '../quant/ggml/types.ts';
import { ceilDiv, uncountedBindGroup } from './dispatch.ts';
import { isLavapipe } from './matmul_tuning.ts';
import { F16_BITS_LIB, Q8_BLOCK_LIB } from './wgsl_lib.ts';

/** The shader's TYPE of each ggml type it writes. */
const TYPES: Readonly<Record<string, number>> = { Q4_0: 0, Q4_1: 1, Q5_0: 2, Q5_1: 3, Q8_0: 4, Q4_K: 5, Q5_K: 6, Q6_K: 7 };
export const GPU_GGML_TYPES: readonly string[] = Object.keys(TYPES);

const WG = 64;
/** Workgroups along x at most (WebGPU's default limit); the grid goes 2D past it. */
const MAX_GROUPS_X = 65535;
/** Values converted a pass: 16 MB of f32 in, well inside any storage binding. */
const PIECE_VALUES = 1 << 22;

/** A checkpoint's f16 or bf16 values as they are stored: two a word, value 2i in the low half. */
export interface HalfWords {
  format: 'f16' | 'bf16';
  words: Uint32Array;
}

/** What the converter takes: f32 values, or f16 / bf16 words, which it widens itself (exactly, as toF32 does). */
export type GgmlValues = Float32Array | HalfWords;

/** The shader's SRC by source. */
const sourceOf = (v: GgmlValues) => (v instanceof Float32Array ? 0 : v.format === 'f16' ? 1 : 2);

/**
 * `values` (a whole number of `type`'s blocks) as ggml's reference quantizer writes them, converted on the GPU.
 * `exactDiv`: divisions by div_exact (default: except on lavapipe, whose `/` is correctly rounded already).
 */
export async function ggmlQuantizeOnGpu(gpu: Gpu, type: string, values: GgmlValues, exactDiv = !isLavapipe(gpu.caps)): Promise<Uint8Array> {
  const t = GGML_TYPES[type];
  if (TYPES[type] === undefined || !t) {
    throw new EmberError('UNSUPPORTED', `the GPU quantizes to ${GPU_GGML_TYPES.join(', ')}, not ${type}`, { type });
  }
  const src = sourceOf(values);
  const count = values instanceof Float32Array ? values.length : 2 * values.words.length;
  if (count % t.blockElems !== 0) {
    throw new EmberError('BAD_ARGUMENT', `${count} values are not a whole number of ${type} blocks of ${t.blockElems}`, { type });
  }
  const words = values instanceof Float32Array ? values : values.words;
  const perWord = src === 0 ? 1 : 2;
  const blockWords = ceilDiv(t.blockBytes, 4);
  const nb = count / t.blockElems;
  const pieceBlocks = Math.min(nb, Math.floor(PIECE_VALUES / t.blockElems));
  const out = new Uint8Array(nb * t.blockBytes);
  if (nb === 0) return out;
  const { device } = gpu;
  const code = shaderText(source, {}, Q8_BLOCK_LIB, F16_BITS_LIB);
  const pipeline = await getPipeline(gpu, 'quantize_ggml', code, 'main', { SRC: src, TYPE: TYPES[type], BLOCK_WORDS: blockWords, WG, EXACT_DIV: +exactDiv });
  const pieceWords = (pieceBlocks * t.blockElems) / perWord;
  const input = device.createBuffer({ label: `quantize_ggml.${type}.source`, size: pieceWords * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const dst = device.createBuffer({ label: `quantize_ggml.${type}.blocks`, size: pieceBlocks * blockWords * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const params = device.createBuffer({ label: `quantize_ggml.${type}.params`, size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  try {
    const group = uncountedBindGroup(gpu, `quantize_ggml.${type}`, pipeline, [params, input, dst]);
    for (let b0 = 0; b0 < nb; b0 += pieceBlocks) {
      const n = Math.min(pieceBlocks, nb - b0);
      writeBuffer(gpu, input, words.subarray((b0 * t.blockElems) / perWord, ((b0 + n) * t.blockElems) / perWord));
      const groups = ceilDiv(n, WG);
      const gx = Math.min(groups, MAX_GROUPS_X);
      writeBuffer(gpu, params, new Uint32Array([n, gx * WG, 0, 0]));
      const enc = device.createCommandEncoder({ label: `quantize_ggml.${type}` });
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(gx, ceilDiv(groups, gx));
      pass.end();
      device.queue.submit([enc.finish()]);
      const padded = new Uint8Array(await readBuffer(gpu, dst, n * blockWords * 4));
      // The blocks without their padding to whole words.
      for (let i = 0; i < n; i++) {
        out.set(padded.subarray(i * blockWords * 4, i * blockWords * 4 + t.blockBytes), (b0 + i) * t.blockBytes);
      }
    }
    return out;
  } finally {
    input.destroy();
    dst.destroy();
    params.destroy();
  }
}
