import source from '../../shaders/embedding.wgsl?raw';
import type { Gpu } from '../gpu/device.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { shaderText } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { buildKernel, type Dispatch } from './dispatch.ts';
import { gpuRowWords, type WeightFormat } from './matmul.ts';

export const EMBEDDING_PARAMS = new UniformLayout('Params', [
  ['dim', 'u32'],
  ['row_start', 'u32'],
  ['rows', 'u32'],
  ['row_words', 'u32'],
  ['group', 'u32'], // quantized tables: weights per scale along a row
  ['groups', 'u32'], // quantized tables: scales per row
  ['scale', 'f32'], // multiplies every value (Gemma: sqrt(dim)), else 1
  ['pad1', 'u32'],
] as const);
export const EMBEDDING_SOURCE = source;

/** A weight matrix on the GPU in row chunks (structurally the matmul's GpuWeights). */
export interface EmbeddingTable {
  readonly format: WeightFormat;
  readonly rows: number;
  readonly cols: number;
  readonly group?: number; // quantized: weights per scale along a row (GpuWeights.group)
  readonly chunks: readonly { rowStart: number; rows: number; data: GPUBuffer; scales?: GPUBuffer }[];
}

export interface EmbeddingArgs {
  table: EmbeddingTable; // (vocab, dim)
  ids: GPUBuffer; // (T) u32
  x: GPUBuffer; // (T, dim) f32
  step: GPUBuffer;
  scale?: number; // multiplies every value; default 1
}

/** One dispatch per chunk of the table. */
export async function buildEmbedding(gpu: Gpu, alloc: Allocator, a: EmbeddingArgs): Promise<Dispatch[]> {
  return Promise.all(
    a.table.chunks.map((c) =>
      buildKernel(gpu, alloc, {
        label: `embedding/${a.table.format}`,
        code: shaderText(source),
        entry: `gather_${a.table.format}`,
        constants: { WG: 64 },
        params: EMBEDDING_PARAMS,
        values: {
          dim: a.table.cols,
          row_start: c.rowStart,
          rows: c.rows,
          row_words: gpuRowWords(a.table.format, a.table.cols),
          group: a.table.group ?? 0,
          groups: a.table.group ? Math.ceil(a.table.cols / a.table.group) : 0,
          scale: a.scale ?? 1,
          pad1: 0,
        },
        step: a.step,
        bindings: [a.ids, c.data, c.scales ?? null, a.x],
        grid: (n) => [n],
      }),
    ),
  );
}
