/**
 * f32, f16 or bf16 weights converted on the GPU as they are uploaded (shaders/quantize_weights.wgsl) to a scheme's
 * stored format: int8-g32 and int8 (q8 codes, a scale per 32 or per row), FP8 E4M3 or E5M2 (a scale per row or per 32),
 * f16. The buffers are the ones uploadWeights makes of the CPU's conversion (quantizeQ8G32, quantizeInt8, quantizeFp8,
 * f32ToF16Bits): the same chunks, row tiles and scales (f32, or q8's f16 pairs), the same bits. A load of a BF16
 * checkpoint with such a scheme then uploads its 2 bytes a weight as they are and converts nothing in JavaScript, where
 * the CPU's quantizers took 10-30 ns a weight (a 1B model: 15-35 s).
 */
import source from '../../shaders/quantize_weights.wgsl?raw';
import { EmberError } from '../errors.ts';
import { readBuffer, writeBuffer, type Allocator } from '../gpu/buffers.ts';
import { getPipeline, shaderText } from '../gpu/pipelines.ts';
import { bindGroup, ceilDiv, type Binding } from './dispatch.ts';
import {
  chunkRows, checkRowTile, gpuRowWords, GPU_QUANT_FORMATS, offsetsCodes, rowTileFor, tiledBytes, TILE_UNIT, uploadWeights,
  type GpuQuant, type GpuWeights, type UploadOptions, type WeightChunk, type WeightData,
} from './matmul_weights.ts';
import { FORMATS, OFFSET_FLIP, type WeightFormat } from './weight_formats.ts';
import { F16_BITS_LIB, Q8_BLOCK_LIB, TILED_INDEX_LIB } from './wgsl_lib.ts';

const WG = 64;
/** Source bytes written and converted at a time (one reused buffer): 16 MB. */
const SOURCE_PIECE_BYTES = 16 << 20;
/** Workgroups along x at most (WebGPU's default limit); the grid goes 2D past it. */
const MAX_GROUPS_X = 65535;

/** The converter's source words (shaders/quantize_weights.wgsl SRC) by format. */
const SOURCES: Partial<Record<WeightFormat, number>> = { f32: 0, f16: 1, bf16: 2 };

/**
 * Each scheme's entry point: `main` a scale per 32-block, `main_row` a scale per row, `main_f16` none; its TARGET
 * (0 q8, 1 FP8 E4M3, 2 FP8 E5M2).
 */
const ENTRIES: Record<GpuQuant, { entry: 'main' | 'main_row' | 'main_f16'; target: number }> = {
  'int8-g32': { entry: 'main', target: 0 },
  int8: { entry: 'main_row', target: 0 },
  'fp8-e4m3': { entry: 'main_row', target: 1 },
  'fp8-e5m2': { entry: 'main_row', target: 2 },
  'fp8-e4m3-g32': { entry: 'main', target: 1 },
  'fp8-e5m2-g32': { entry: 'main', target: 2 },
  f16: { entry: 'main_f16', target: 0 },
};

/** Whether quantizeOnGpu takes these weights: f32, f16 or bf16 rows of whole 32-blocks. */
export const gpuQuantizable = (w: Pick<WeightData, 'format' | 'cols'>) => SOURCES[w.format] !== undefined && w.cols % 32 === 0;

/**
 * Uploads `w`, weights stored in their scheme's format where they are marked so (WeightData.gpuQuant, for f32, f16 or
 * bf16 values), else as they are (uploadWeights).
 */
export async function uploadMatrix(alloc: Allocator, label: string, w: WeightData, opts: UploadOptions = {}): Promise<GpuWeights> {
  return w.gpuQuant ? quantizeOnGpu(alloc, label, w, w.gpuQuant, opts) : uploadWeights(alloc, label, w, opts);
}

/** f32, f16 or bf16 weights `w` in `scheme`, converted on the GPU; laid out as uploadWeights lays that format out. */
export async function quantizeOnGpu(alloc: Allocator, label: string, w: WeightData, scheme: GpuQuant, opts: UploadOptions = {}): Promise<GpuWeights> {
  if (!gpuQuantizable(w)) {
    throw new EmberError('BAD_ARGUMENT', `weights ${label} (${w.format}, ${w.rows}x${w.cols}): the GPU converts f32, f16 or bf16 rows of whole 32-blocks`);
  }
  const { gpu } = alloc;
  const caps = gpu.caps;
  const { rows: N, cols: K } = w;
  const format = GPU_QUANT_FORMATS[scheme];
  const { entry, target } = ENTRIES[scheme];
  const rowTile = opts.rowTile ?? rowTileFor(caps, format);
  checkRowTile(label, format, rowTile);
  const nb = K / 32;
  const np = ceilDiv(nb, 2);
  // q8 per 32 as f16 pairs as pairedScales would: its scales are f16 values, paired in rows of two blocks or more.
  const paired = scheme === 'int8-g32' && (opts.halfScales ?? !caps.cpu) && K >= 64;
  const offset = offsetsCodes(caps, format, opts.offsetCodes);
  const scaleWords = entry === 'main_row' ? 1 : entry === 'main_f16' ? 0 : paired ? np : nb; // a row's
  const unit = TILE_UNIT[format]!;
  const itemsPerRow = gpuRowWords(format, K) / unit;
  const rowWords = w.format === 'f32' ? K : K / 2; // source words a row
  const words = new Uint32Array(w.data.buffer, w.data.byteOffset, N * rowWords);
  const { nChunks, rowsPer } = chunkRows(caps, label, N, gpuRowWords(format, K), { maxChunkBytes: opts.maxChunkBytes ?? caps.maxStorageBindingSize, rowAlign: opts.rowAlign ?? 1, rowTile });
  const pipeline = await getPipeline(gpu, 'quantize_weights', shaderText(source, {}, Q8_BLOCK_LIB, TILED_INDEX_LIB, F16_BITS_LIB), entry, {
    SRC: SOURCES[w.format]!, TARGET: target, PAIRED: paired ? 1 : 0, ROW_TILE: rowTile, WG, CODE_FLIP: offset ? OFFSET_FLIP : 0,
  });
  const pieceBytes = Math.min(opts.pieceWords ? opts.pieceWords * 4 : SOURCE_PIECE_BYTES, caps.maxStorageBindingSize);
  const pieceRows = Math.max(1, Math.floor(pieceBytes / (rowWords * 4)));
  // The source piece and the pass's sizes: rewritten before each submit (queue writes and submits run in order).
  const src = gpu.device.createBuffer({ label: `${label}.source`, size: Math.min(pieceRows, N) * rowWords * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const params = gpu.device.createBuffer({ label: `${label}.quantize`, size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const flags = gpu.device.createBuffer({ label: `${label}.flags`, size: 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const chunks: WeightChunk[] = [];
  let bytes = 0;
  try {
    for (let c = 0; c < nChunks; c++) {
      const rowStart = c * rowsPer;
      const rows = Math.min(rowsPer, N - rowStart);
      const name = nChunks > 1 ? `${label}[${c}]` : label;
      // The last tile's rows padded (zeros, as the CPU's).
      const codeBytes = tiledBytes(rows, itemsPerRow, unit, rowTile);
      const chunk: WeightChunk = { rowStart, rows, data: alloc.storage(name, codeBytes) };
      bytes += codeBytes;
      if (scaleWords) {
        const scaleBytes = tiledBytes(rows, scaleWords, 1, rowTile);
        chunk.scales = alloc.storage(`${name}.scales`, scaleBytes);
        bytes += scaleBytes;
      }
      const bindings: Binding[] = entry === 'main_f16' ? [params, src, null, flags, null, chunk.data] : [params, src, chunk.data, flags, chunk.scales!];
      const group = bindGroup(alloc, `${name}.quantize`, pipeline, bindings);
      for (let r0 = 0; r0 < rows; r0 += pieceRows) {
        const n = Math.min(pieceRows, rows - r0);
        const first = (rowStart + r0) * rowWords;
        writeBuffer(gpu, src, words.subarray(first, first + n * rowWords));
        // main: an invocation a row's pair of blocks; main_f16: a row's block; main_row: a workgroup a row.
        const groups = entry === 'main_row' ? n : ceilDiv(n * (entry === 'main' ? np : nb), WG);
        const gx = Math.min(groups, MAX_GROUPS_X);
        writeBuffer(gpu, params, new Uint32Array([n, K, r0, entry === 'main_row' ? gx : gx * WG]));
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
    // FP8 E4M3's f32-bit decode needs scales below 2^60 and no NaN code: no value of magnitude 2^60 or more (inf, NaN)
    // gives either, so such values only cost the matrix that route (and a check for NaN codes).
    const big = format === 'fp8e4m3' ? new Uint32Array(await readBuffer(gpu, flags))[0] !== 0 : undefined;
    const group = paired ? 64 : entry === 'main' ? 32 : entry === 'main_row' ? K : FORMATS[format].group;
    return {
      format, rows: N, cols: K, group, chunks, bytes,
      ...(big === undefined ? {} : { nanCodes: big, fp8Bits: !big }),
      ...(rowTile > 1 ? { rowTile } : {}), ...(paired ? { halfScales: true as const } : {}), ...(offset ? { offsetCodes: true as const } : {}),
    };
  } finally {
    src.destroy(); // after the submitted passes, which keep it until they have run
    params.destroy();
    flags.destroy();
  }
}
