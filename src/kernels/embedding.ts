import source from '../../shaders/embedding.wgsl?raw';
import type { Gpu } from '../gpu/device.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { buildKernel, type Dispatch } from './dispatch.ts';
import { FORMATS } from './weight_formats.ts';
import { chunkParams, decoderShader, MATMUL_COMMON_SOURCE, MATMUL_PARAMS, weightConstants, type GpuWeights } from './matmul.ts';

/** The gather reads MatmulParams (K = dim, row_start, rows, group, groups), declared once in matmul_common.wgsl. */
export const EMBEDDING_PARAMS = MATMUL_PARAMS;
export const EMBEDDING_SOURCE = `${MATMUL_COMMON_SOURCE}\n${source}`;

/**
 * A weight matrix on the GPU in row chunks: the matmul's GpuWeights (a tied LM head shares it); `group`
 * may be left out for formats without a scale array.
 */
export type EmbeddingTable = Pick<GpuWeights, 'format' | 'rows' | 'cols' | 'chunks' | 'rowTile' | 'halfScales' | 'wideCodes' | 'offsetCodes'> & { group?: number };

export interface EmbeddingArgs {
  table: EmbeddingTable; // (vocab, dim)
  ids: GPUBuffer; // (T) u32
  x: GPUBuffer; // (T, dim) f32
  step: GPUBuffer;
  scale?: number; // multiplies every value (Gemma: sqrt(dim)); default 1
}

/**
 * One dispatch per chunk of the table. The rows are decoded by the format's matmul decoder
 * (shaders/weights/<format>.wgsl), so every weight format gathers.
 */
export async function buildEmbedding(gpu: Gpu, alloc: Allocator, a: EmbeddingArgs): Promise<Dispatch[]> {
  const t = a.table;
  // No subgroups or dot4I8 needed: the gather only decodes.
  const code = decoderShader({ subgroups: false, dot4I8: false }, t, source);
  return Promise.all(
    t.chunks.map((c) =>
      buildKernel(gpu, alloc, {
        label: `embedding/${t.format}`,
        code,
        entry: 'gather',
        constants: { WG: 64, SCALE: a.scale ?? 1, ...weightConstants(t) },
        params: MATMUL_PARAMS,
        values: chunkParams({ ...t, group: t.group ?? FORMATS[t.format].group }, c),
        step: a.step,
        // Bindings: 2-3 (x of the matmul) unused, 4-5 codes and scales, 6-7 unused, 8 ids, 9 x.
        bindings: [null, null, c.data, c.scales ?? null, null, null, a.ids, a.x],
        grid: (n) => [n],
      }),
    ),
  );
}
