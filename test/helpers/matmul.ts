import { expect } from 'vitest';
import { Allocator, readBuffer } from '../../src/gpu/buffers.ts';
import type { Gpu } from '../../src/gpu/device.ts';
import { buildEmbedding } from '../../src/kernels/embedding.ts';
import { buildMatmul, gpuRowWords, uploadWeights, widensCodes, type GpuWeights, type MatmulTuning, type WeightData } from '../../src/kernels/matmul.ts';
import { matmulRef, packBf16, packF16, packFp8, packQ4, packQ8 } from '../../src/kernels/ref/matmul.ts';
import { ggmlDequantize, ggmlRandomBlocks } from '../../src/quant/ggml/index.ts';
import { GGUF_LAYOUTS } from '../../src/kernels/weight_layouts.ts';
import { cover, FULL_MATRIX } from './cover.ts';
import { randn, run, stepBuffer, testGpu, worstRatio } from './gpu.ts';

/**
 * The matmul test device: 'f16' has every feature lavapipe offers; 'f32' has no shader-f16 and no
 * subgroups (testGpu, as Chromium's SwiftShader) and here also no dot4I8Packed, so every fallback runs.
 */
export async function matmulDevice(variant: 'f16' | 'f32'): Promise<Gpu> {
  const gpu = await testGpu(variant);
  return variant === 'f16' ? gpu : { ...gpu, caps: Object.freeze({ ...gpu.caps, dot4I8: false }) };
}

export interface MatmulCase {
  N: number;
  K: number;
  T: number;
  bias?: boolean;
  accumulate?: boolean;
  outScale?: number; // the result times this before the add (Granite's residual multiplier)
  chunkRows?: number; // force a split into chunks of this many rows
}

export const caseName = (c: MatmulCase) =>
  `N=${c.N} K=${c.K} T=${c.T}${c.bias ? ' +bias' : ''}${c.outScale ? ` x${c.outScale}` : ''}${c.accumulate ? ' +=' : ''}${c.chunkRows ? ` split@${c.chunkRows}` : ''}`;

/**
 * Runs one matmul of `wd` on the GPU (x, bias and y0 drawn from `r`) and returns the worst error ratio
 * against matmulRef of `refW` (wd itself, or the same matrix in a format the reference takes): <= 1 passes.
 */
export async function checkMatmul(
  variant: 'f16' | 'f32',
  wd: WeightData,
  refW: WeightData,
  r: () => number,
  path: 'gemv' | 'gemm',
  tuning: Partial<MatmulTuning>,
  c: MatmulCase,
  tol: number,
): Promise<number> {
  const gpu = await matmulDevice(variant);
  const alloc = new Allocator(gpu);
  try {
    const x = randn(r, c.T * c.K);
    const bias = c.bias ? randn(r, c.N) : undefined;
    const y0 = c.accumulate ? randn(r, c.T * c.N) : undefined;
    const rowBytes = gpuRowWords(wd.format, c.K, widensCodes(gpu.caps, wd.format)) * 4;
    const w = uploadWeights(alloc, 'w', wd, { maxChunkBytes: c.chunkRows ? c.chunkRows * rowBytes : undefined });
    const tile = w.rowTile ?? 1; // chunks of whole row tiles where one fits (uploadWeights)
    if (c.chunkRows) expect(w.chunks.length).toBe(Math.ceil(c.N / (c.chunkRows < tile ? c.chunkRows : c.chunkRows - (c.chunkRows % tile))));
    const yb = y0 ? alloc.upload('y', y0) : alloc.storage('y', c.T * c.N * 4);
    const mm = await buildMatmul(gpu, alloc, {
      label: 'mm',
      w,
      x: alloc.upload('x', x),
      y: yb,
      bias: bias && alloc.upload('bias', bias),
      accumulate: c.accumulate,
      outScale: c.outScale,
      step: stepBuffer(alloc, { n_tokens: c.T }),
      maxTokens: c.T,
      tuning,
    });
    run(gpu, mm[path], c.T);
    const y = new Float32Array(await readBuffer(gpu, yb, c.T * c.N * 4));
    return worstRatio(y, matmulRef(refW, x, c.T, { bias, y0, outScale: c.outScale }), tol, tol);
  } finally {
    alloc.destroyAll();
  }
}

/** The row tiles past row-major (1). */
export const ROW_TILES = [8, 16, 32];

/** The launch layouts rowTileOutputs runs: the GEMVs for one token, the GEMMs for T. */
const TILE_LAYOUTS: [Partial<MatmulTuning>, 'gemv' | 'gemm'][] = [[{ gemv: 'rows' }, 'gemv'], [{ gemv: 'flat' }, 'gemv'], [{ gemv: 'split' }, 'gemv'], [{ gemm: 'rows' }, 'gemm'], [{ gemm: 'flat' }, 'gemm'], [{ gemm: 'tiled' }, 'gemm']];

/**
 * The bits of `wd` (37 rows) in row-major and row tiles of 8, 16 or 32, each uploaded in chunks of at most 20 rows (16
 * in tiles, so 3 chunks, the last tile padded; 2 row-major): per tile, y of the launch layouts (TILE_LAYOUTS: rows, flat
 * and split GEMVs, one token; rows, flat and tiled GEMMs, T tokens of x, (T, K) f32), then the gather of rows `ids`.
 * The case at `place` in its table runs one tile past row-major with one layout, both turning with the place
 * (test/helpers/cover.ts; every tile and layout where EMBERLM_TEST_MATRIX=full): over six places a tile, every layout;
 * row-major runs that layout and the rows GEMV; the others' places undefined.
 */
export async function rowTileOutputs(
  gpu: Gpu, alloc: Allocator, wd: WeightData, x: GPUBuffer, T: number, ids: number[], halfScales?: boolean, wideCodes?: boolean, place = 0,
): Promise<Map<number, (number[] | undefined)[]>> {
  const { rows: N, cols: K } = wd;
  expect(N).toBe(37); // two whole tiles of 16 and a padded one
  const outputs = new Map<number, (number[] | undefined)[]>();
  const places = TILE_LAYOUTS.map((_, i) => i);
  const tiles = [1, ...(FULL_MATRIX ? ROW_TILES : [ROW_TILES[place % ROW_TILES.length]])];
  const turn = Math.floor(place / ROW_TILES.length);
  const pick = new Map(tiles.map((tile) => [tile, cover([tile], places, turn + 2 * ROW_TILES.indexOf(tile)).map(([, i]) => i)]));
  // Row-major: the rows GEMV (checked against the reference by the callers) and what the other tiles run.
  pick.set(1, places.filter((i) => i === 0 || tiles.some((t) => t > 1 && pick.get(t)!.includes(i))));
  for (const tile of tiles) {
    const wide = widensCodes(gpu.caps, wd.format, wideCodes);
    // Tiles of 8 written a tile at a time (pieceWords 1): a chunk's tiles in pieces, the last one padded.
    const pieceWords = tile === 8 ? 1 : undefined;
    const w = uploadWeights(alloc, `w${tile}`, wd, { maxChunkBytes: 20 * gpuRowWords(wd.format, K, wide) * 4, rowTile: tile, halfScales, wideCodes, pieceWords });
    expect(w.rowTile ?? 1).toBe(tile);
    expect(w.wideCodes).toBe(wide || undefined);
    // Chunks of whole tiles where a tile fits in 20 rows; else each chunk is one padded tile.
    expect(w.chunks.map((c) => c.rows)).toEqual(tile === 1 || tile === 32 ? [19, 18] : [16, 16, 5]);
    const picked = pick.get(tile)!;
    const got = await layoutOutputs(gpu, alloc, w, x, T, ids, picked.map((i) => TILE_LAYOUTS[i]));
    const row: (number[] | undefined)[] = places.map((i) => (picked.includes(i) ? got[picked.indexOf(i)] : undefined));
    outputs.set(tile, [...row, got.at(-1)]);
  }
  return outputs;
}

/** Row-major's outputs where `tile`'s ran (rowTileOutputs): what that tile's must equal. */
export function rowMajorWhere(outputs: Map<number, (number[] | undefined)[]>, tile: number): (number[] | undefined)[] {
  const mine = outputs.get(tile)!;
  return outputs.get(1)!.map((v, i) => (mine[i] === undefined ? undefined : v));
}

/**
 * The bits each launch layout writes for uploaded weights `w` (the GEMVs for one token, the GEMMs for T), then the
 * embedding gather of rows `ids`: what tests compare across layouts of the same values.
 */
export async function layoutOutputs(
  gpu: Gpu, alloc: Allocator, w: GpuWeights, x: GPUBuffer, T: number, ids: number[], tunings: readonly [Partial<MatmulTuning>, 'gemv' | 'gemm'][],
): Promise<number[][]> {
  const { rows: N, cols: K } = w;
  const got: number[][] = [];
  for (const [tuning, path] of tunings) {
    const n = path === 'gemv' ? 1 : T;
    const yb = alloc.storage('y', T * N * 4);
    const mm = await buildMatmul(gpu, alloc, { label: 'mm', w, x, y: yb, step: stepBuffer(alloc, { n_tokens: n }), maxTokens: T, tuning });
    run(gpu, mm[path], n);
    got.push(Array.from(new Uint32Array(await readBuffer(gpu, yb, n * N * 4))));
  }
  const xe = alloc.storage('xe', ids.length * K * 4);
  run(gpu, await buildEmbedding(gpu, alloc, { table: w, ids: alloc.upload('ids', new Uint32Array(ids)), x: xe, step: stepBuffer(alloc, { n_tokens: ids.length }) }), ids.length);
  got.push(Array.from(new Uint32Array(await readBuffer(gpu, xe, ids.length * K * 4))));
  return got;
}

export type WeightKind = 'f32' | 'f16' | 'bf16' | 'q8' | 'q4' | 'fp8e4m3' | 'q4_k';

/** The weights and the same matrix in a format matmulRef takes exactly (GGUF blocks: dequantized). */
export function makeWeights(kind: WeightKind, N: number, K: number, r: () => number): { w: WeightData; ref: WeightData } {
  if (kind === 'q4_k') {
    const type = GGUF_LAYOUTS.q4_k.ggml;
    const data = ggmlRandomBlocks(type, N * K, r);
    return { w: { format: 'q4_k', rows: N, cols: K, data }, ref: { format: 'f32', rows: N, cols: K, data: ggmlDequantize(type, data, N * K) } };
  }
  const v = randn(r, N * K, 0.1);
  const packs = { f32: () => ({ format: 'f32', rows: N, cols: K, data: v }) as WeightData, f16: packF16, bf16: packBf16, q8: packQ8, q4: packQ4, fp8e4m3: (a: Float32Array, n: number, k: number) => packFp8(a, n, k, 'e4m3') };
  const w = packs[kind](v, N, K);
  return { w, ref: w };
}

/** The row tiles past row-major that rowTileOutputs ran. */
export function tilesPast(outputs: Map<number, unknown>): number[] {
  return [...outputs.keys()].filter((tile) => tile > 1);
}
