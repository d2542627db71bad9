/**
 * int8-g32 (GGUF Q8_0's numerics) of f32, f16 or bf16 weights, quantized on the GPU as they are uploaded
 * (shaders/quantize_weights.wgsl), into the buffers uploadWeights would make of the CPU's quantization
 * (quantizeQ8G32): the same chunks, row tiles and scales (f32, or f16 pairs), the same codes. A load of a BF16
 * checkpoint with `quant: 'int8-g32'` then uploads its 2 bytes a weight as they are and quantizes nothing in
 * JavaScript, where the CPU's quantizer took ~10 ns a weight (a 1B model: ~15 s).
 */
import source from '../../shaders/quantize_weights.wgsl?raw';
import { EmberError } from '../errors.ts';
import { writeBuffer, type Allocator } from '../gpu/buffers.ts';
import { getPipeline, shaderText } from '../gpu/pipelines.ts';
import { bindGroup, ceilDiv } from './dispatch.ts';
import { chunkRows, checkRowTile, rowTileFor, tiledBytes, uploadWeights, type GpuWeights, type UploadOptions, type WeightChunk, type WeightData } from './matmul_weights.ts';
import type { WeightFormat } from './weight_formats.ts';
import { Q8_BLOCK_LIB, TILED_INDEX_LIB } from './wgsl_lib.ts';

const WG = 64;
/** Source bytes written and quantized at a time (one reused buffer): 16 MB. */
const SOURCE_PIECE_BYTES = 16 << 20;
/** Workgroups along x at most (WebGPU's default limit); the grid goes 2D past it. */
const MAX_GROUPS_X = 65535;

/** The quantizer's source words (shaders/quantize_weights.wgsl SRC) by format. */
const SOURCES: Partial<Record<WeightFormat, number>> = { f32: 0, f16: 1, bf16: 2 };

/** Whether quantizeOnGpu takes these weights: f32, f16 or bf16 rows of whole 32-blocks. */
export const gpuQuantizable = (w: Pick<WeightData, 'format' | 'cols'>) => SOURCES[w.format] !== undefined && w.cols % 32 === 0;

/**
 * Uploads `w`, weights stored as q8 where they are marked so (WeightData.gpuQuant, for f32, f16 or bf16 values), else
 * as they are (uploadWeights).
 */
export async function uploadMatrix(alloc: Allocator, label: string, w: WeightData, opts: UploadOptions = {}): Promise<GpuWeights> {
  return w.gpuQuant === 'q8' ? quantizeOnGpu(alloc, label, w, opts) : uploadWeights(alloc, label, w, opts);
}

/** f32, f16 or bf16 weights `w` as q8 (int8, a scale per 32), quantized on the GPU; laid out as uploadWeights lays q8 out. */
export async function quantizeOnGpu(alloc: Allocator, label: string, w: WeightData, opts: UploadOptions = {}): Promise<GpuWeights> {
  if (!gpuQuantizable(w)) {
    throw new EmberError('BAD_ARGUMENT', `weights ${label} (${w.format}, ${w.rows}x${w.cols}): the GPU quantizes f32, f16 or bf16 rows of whole 32-blocks`);
  }
  const { gpu } = alloc;
  const caps = gpu.caps;
  const { rows: N, cols: K } = w;
  const rowTile = opts.rowTile ?? rowTileFor(caps, 'q8');
  checkRowTile(label, 'q8', rowTile);
  const nb = K / 32;
  const np = ceilDiv(nb, 2);
  const paired = (opts.halfScales ?? !caps.cpu) && K >= 64; // as pairedScales: rows of two blocks or more
  const rowWords = w.format === 'f32' ? K : K / 2; // source words a row
  const words = new Uint32Array(w.data.buffer, w.data.byteOffset, N * rowWords);
  const { nChunks, rowsPer } = chunkRows(caps, label, N, K / 4, { maxChunkBytes: opts.maxChunkBytes ?? caps.maxStorageBindingSize, rowAlign: opts.rowAlign ?? 1, rowTile });
  const pipeline = await getPipeline(gpu, 'quantize_weights', shaderText(source, {}, Q8_BLOCK_LIB, TILED_INDEX_LIB), 'main', {
    SRC: SOURCES[w.format]!, PAIRED: paired ? 1 : 0, ROW_TILE: rowTile, WG,
  });
  const pieceBytes = Math.min(opts.pieceWords ? opts.pieceWords * 4 : SOURCE_PIECE_BYTES, caps.maxStorageBindingSize);
  const pieceRows = Math.max(1, Math.floor(pieceBytes / (rowWords * 4)));
  // The source piece and the pass's sizes: rewritten before each submit (queue writes and submits run in order).
  const src = gpu.device.createBuffer({ label: `${label}.source`, size: Math.min(pieceRows, N) * rowWords * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const params = gpu.device.createBuffer({ label: `${label}.quantize`, size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const chunks: WeightChunk[] = [];
  let bytes = 0;
  try {
    for (let c = 0; c < nChunks; c++) {
      const rowStart = c * rowsPer;
      const rows = Math.min(rowsPer, N - rowStart);
      const name = nChunks > 1 ? `${label}[${c}]` : label;
      // A block's 8 words of codes and a scale word per block or pair; the last tile's rows padded (zeros, as the CPU's).
      const codeBytes = tiledBytes(rows, nb, 8, rowTile);
      const scaleBytes = tiledBytes(rows, paired ? np : nb, 1, rowTile);
      const chunk: WeightChunk = { rowStart, rows, data: alloc.storage(name, codeBytes), scales: alloc.storage(`${name}.scales`, scaleBytes) };
      bytes += codeBytes + scaleBytes;
      const group = bindGroup(alloc, `${name}.quantize`, pipeline, [params, src, chunk.data, chunk.scales!]);
      for (let r0 = 0; r0 < rows; r0 += pieceRows) {
        const n = Math.min(pieceRows, rows - r0);
        const first = (rowStart + r0) * rowWords;
        writeBuffer(gpu, src, words.subarray(first, first + n * rowWords));
        const groups = ceilDiv(n * np, WG);
        const gx = Math.min(groups, MAX_GROUPS_X);
        writeBuffer(gpu, params, new Uint32Array([n, K, r0, gx * WG]));
        const enc = gpu.device.createCommandEncoder({ label: `${name}.quantize` });
        const pass = enc.beginComputePass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, group);
        pass.dispatchWorkgroups(gx, ceilDiv(groups, gx));
        pass.end();
        gpu.device.queue.submit([enc.finish()]);
      }
      chunks.push(chunk);
    }
  } finally {
    src.destroy(); // after the submitted passes, which keep it until they have run
    params.destroy();
  }
  return {
    format: 'q8', rows: N, cols: K, group: paired ? 64 : 32, chunks, bytes,
    ...(rowTile > 1 ? { rowTile } : {}), ...(paired ? { halfScales: true as const } : {}),
  };
}
