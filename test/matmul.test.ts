import { shaderText } from '../src/gpu/pipelines.ts';
import { describe, expect, it } from 'vitest';
import { Allocator, readBuffer } from '../src/gpu/buffers.ts';
import { parseWgslStruct } from '../src/gpu/uniforms.ts';
import { STEP } from '../src/kernels/dispatch.ts';
import {
  buildMatmul,
  decoderShader,
  effectiveXVec,
  gpuRowWords,
  MATMUL_PARAMS,
  MATMUL_SOURCES,
  MATMUL_COMMON_SOURCE,
  matmulTuning,
  pairedScales,
  QUANTIZE_PARAMS,
  rowScales,
  rowTileFor,
  uploadWeights,
  WEIGHT_FORMATS,
  type MatmulTuning,
  type WeightData,
} from '../src/kernels/matmul.ts';
import { buildEmbedding } from '../src/kernels/embedding.ts';
import { autotuneChoices, candidates, gpuWarmupMs, resetAutotune, variantName } from '../src/kernels/autotune.ts';
import { dequantize, matmulRef, packBf16, packF16, packFp8, packInt8Rows, packQ4, packQ8, quantizeQ8_0, roundF16 } from '../src/kernels/ref/matmul.ts';
import { f16ToF32, f32ToF16Bits } from '../src/gguf/convert.ts';
import { f16Exact } from '../src/kernels/matmul_weights.ts';
import { gemvLanesFit, laneGroupIsSubgroup } from '../src/kernels/matmul_tuning.ts';
import { FP8_E4M3_VALUES, FP8_E5M2_VALUES, quantizeFp8Blocks } from '../src/quant/fp8.ts';
import { randn, rng, run, stepBuffer, testGpu, VARIANTS, worstRatio } from './helpers/gpu.ts';
import { caseName, checkMatmul, layoutOutputs, matmulDevice, rowMajorWhere, rowTileOutputs, tilesPast, type MatmulCase } from './helpers/matmul.ts';
import { cover, FULL_MATRIX, halves } from './helpers/cover.ts';

/**
 * Weight formats with their scale layouts: int8 is q8 with one scale per row; fp8 without a suffix
 * has one scale per row, -g32 one per 32, -b128 the 128x128 blocks of native checkpoints (made per
 * row at upload, the reference reading the blocks). q8-g64: random codes, one scale per 64 (the last
 * group of a row partial when K is an odd multiple of 32), a layout no scheme makes but the kernels take.
 */
type Kind = 'f32' | 'f16' | 'bf16' | 'q8' | 'q4' | 'int8' | 'q8-g64' | 'fp8e4m3' | 'fp8e5m2' | 'fp8e4m3-g32' | 'fp8e5m2-g32' | 'fp8e4m3-b128';

function makeWeights(kind: Kind, N: number, K: number, r: () => number): WeightData {
  const w = randn(r, N * K, 0.1);
  switch (kind) {
    case 'f32':
      return { format: kind, rows: N, cols: K, data: w };
    case 'f16':
      return packF16(w, N, K);
    case 'bf16':
      return packBf16(w, N, K);
    case 'q8':
      return packQ8(w, N, K);
    case 'q4':
      return packQ4(w, N, K);
    case 'int8':
      return packInt8Rows(w, N, K);
    case 'q8-g64': {
      const codes = Int8Array.from(w, () => Math.floor(r() * 255) - 127);
      const scales = Float32Array.from({ length: N * Math.ceil(K / 64) }, () => 1e-3 * (1 + r()));
      return { format: 'q8', rows: N, cols: K, data: new Uint32Array(codes.buffer), scales, scaleLayout: { blockRows: 1, blockCols: 64 } };
    }
    case 'fp8e4m3':
    case 'fp8e5m2':
      return packFp8(w, N, K, kind === 'fp8e4m3' ? 'e4m3' : 'e5m2');
    case 'fp8e4m3-g32':
    case 'fp8e5m2-g32':
      return packFp8(w, N, K, kind === 'fp8e4m3-g32' ? 'e4m3' : 'e5m2', 32);
    case 'fp8e4m3-b128': {
      const { codes, scales } = quantizeFp8Blocks(w, N, K, 128, 128, 'e4m3');
      return { format: 'fp8e4m3', rows: N, cols: K, data: new Uint32Array(codes.buffer), scales, scaleLayout: { blockRows: 128, blockCols: 128 } };
    }
  }
}

type Case = MatmulCase;
const device = matmulDevice;

/** Runs one matmul on the GPU and returns the worst error ratio against the reference (<= 1 passes). */
async function check(variant: 'f16' | 'f32', kind: Kind, path: 'gemv' | 'gemm', tuning: Partial<MatmulTuning>, c: Case): Promise<number> {
  const r = rng(c.N * 7919 + c.K * 31 + c.T);
  const wd = makeWeights(kind, c.N, c.K, r);
  // Float formats and FP8 (f32 products, a reference in f64): f32 sums in another order. q8 / q4:
  // the integer sums are exact, only the order of the f32 block sums differs.
  const tol = wd.format === 'q8' || wd.format === 'q4' ? 2e-6 : 2e-5;
  return checkMatmul(variant, wd, wd, r, path, tuning, c, tol);
}

const GEMV_CASES: Case[] = [
  { N: 1, K: 32, T: 1 },
  { N: 7, K: 96, T: 1, bias: true },
  { N: 172, K: 64, T: 1, accumulate: true },
  { N: 513, K: 576, T: 1, bias: true, accumulate: true, outScale: 0.22 },
  { N: 7, K: 64, T: 1, chunkRows: 3 },
  { N: 33, K: 32, T: 2 }, // the GEMV list also runs more than one token
];
const GEMM_CASES: Case[] = [
  { N: 1, K: 32, T: 2 },
  { N: 7, K: 96, T: 5, bias: true },
  { N: 172, K: 64, T: 33, accumulate: true },
  { N: 513, K: 576, T: 70, bias: true, accumulate: true, outScale: 0.22 },
  { N: 37, K: 64, T: 33, chunkRows: 16 },
];
// K not a multiple of 32 (or of 4 / 8, the vec4 widths) for the float formats.
const FLOAT_CASES: Case[] = [
  { N: 7, K: 172, T: 1 },
  { N: 33, K: 6, T: 1, bias: true },
  { N: 7, K: 14, T: 5, accumulate: true },
  { N: 40, K: 172, T: 33, chunkRows: 13 },
];
// FP8 rows need K a multiple of 4 (whole words of codes), not of 16 (rows are padded to vec4) or 32.
const FP8_ROW_CASES: Case[] = [
  { N: 7, K: 172, T: 1 },
  { N: 33, K: 20, T: 1, bias: true },
  { N: 7, K: 36, T: 5, accumulate: true },
  { N: 40, K: 172, T: 33, chunkRows: 13 },
];
// Native 128x128 blocks, partial at the edges (N, K not multiples of 128), chunks not on block rows.
const FP8_BLOCK_CASES: Case[] = [
  { N: 200, K: 160, T: 1, bias: true },
  { N: 130, K: 288, T: 1, chunkRows: 50 },
  { N: 200, K: 160, T: 37, accumulate: true, chunkRows: 70 },
];
const KINDS: Kind[] = ['f32', 'f16', 'bf16', 'q8', 'q4', 'int8', 'q8-g64', 'fp8e4m3', 'fp8e5m2', 'fp8e4m3-g32', 'fp8e5m2-g32', 'fp8e4m3-b128'];
/** The cases each kind runs besides GEMV_CASES / GEMM_CASES (K a multiple of 32). */
const EXTRA_CASES: Partial<Record<Kind, Case[]>> = { f32: FLOAT_CASES, f16: FLOAT_CASES, bf16: FLOAT_CASES, fp8e4m3: FP8_ROW_CASES, fp8e5m2: FP8_ROW_CASES, 'fp8e4m3-b128': FP8_BLOCK_CASES };
// The defaults of both device kinds, then odd launch shapes (partial R / TT groups, small workgroups).
// Each pipeline costs llvmpipe 0.5-8 s to compile, so the odd shapes run on one device variant, and each kind runs
// the others on the two devices by halves (each device every layout over two kinds).
// Every way of the per-row GEMV's x loads (X_VEC 4 falls back to 1 where f32 x rows are not whole vec4s:
// FLOAT_CASES' K = 6, 14; FP8_ROW_CASES' K = 20, 36, 172 end in a partial decoder block; 8 to 1 but for Q8_0 x
// with subgroups of 8 or more: lavapipe's).
// The entry points (every kind runs each) and their other launch shapes and x loads (each with every third kind).
const GEMV_LAYOUTS: Partial<MatmulTuning>[] = [
  { gemv: 'rows', gemvWG: 64, gemvR: 2, gemvFloat: false, gemvXVec: 8 },
  { gemv: 'split', gemvWG: 64, gemvR: 4 },
  { gemv: 'flat', gemvWG: 64, gemvFloat: false },
];
const GEMV_SHAPES: Partial<MatmulTuning>[] = [
  { gemv: 'rows', gemvWG: 64, gemvR: 2, gemvFloat: false, gemvXVec: 4 },
  { gemv: 'rows', gemvWG: 64, gemvR: 2, gemvFloat: false, gemvXVec: 1 },
  { gemv: 'split', gemvWG: 64, gemvR: 4, gemvLanes: 16 }, // 4 groups of rows a workgroup
  { gemv: 'split', gemvWG: 64, gemvR: 4, gemvLanes: 16, gemvIters: 3 }, // and 3 turns of them
  { gemv: 'split', gemvWG: 64, gemvR: 4, gemvLanes: 8, gemvIters: 3 }, // groups of one subgroup each (WARP on lavapipe)
];
// Q8_0 x's products in exact f32 (FLOAT_DOT): q8 / q4 kinds only. SwiftShader's flat takes them.
const GEMV_FLOAT: Partial<MatmulTuning>[] = [{ gemv: 'rows', gemvWG: 64, gemvR: 2, gemvFloat: true }, { gemv: 'flat', gemvWG: 64, gemvFloat: true }];
// E4M3 kinds: both decodes (through f16 fields, or into f32 bits: the CPU adapters' default), whatever the default.
const GEMV_FP8_ROUTES: Partial<MatmulTuning>[] = [
  { gemv: 'rows', gemvWG: 16, gemvR: 4, gemvXVec: 4, fp8Bits: false },
  { gemv: 'rows', gemvWG: 16, gemvR: 4, gemvXVec: 4, fp8Bits: true },
];
const GEMM_FP8_ROUTES: Partial<MatmulTuning>[] = [
  { gemm: 'rows', gemmWG: 16, gemmR: 4, gemmTT: 4, fp8Bits: false },
  { gemm: 'rows', gemmWG: 16, gemmR: 4, gemmTT: 4, fp8Bits: true },
];
/** A test name's part for a layout that names its FP8 decode. */
const bitsName = (t: Partial<MatmulTuning>) => (t.fp8Bits === undefined ? '' : ` fp8Bits=${+t.fp8Bits}`);
const GEMV_ODD: Partial<MatmulTuning>[] = [
  { gemv: 'rows', gemvWG: 8, gemvR: 3 },
  { gemv: 'split', gemvWG: 32, gemvR: 1 },
];
// gemmFloat (Q8_0 x's products as exact f32 FMAs) changes only the q8 / q4 kernels: they run both ways.
const GEMM_LAYOUTS: Partial<MatmulTuning>[] = [
  { gemm: 'rows', gemmWG: 64, gemmR: 2, gemmTT: 4, gemmFloat: false },
  { gemm: 'rows', gemmWG: 64, gemmR: 2, gemmTT: 4, gemmFloat: true },
  { gemm: 'rows8', gemmWG: 16, gemmR: 4 }, // lavapipe's ('rows' where subgroups may have fewer than 8 lanes)
  { gemm: 'flat', gemmWG: 16, gemmFloat: false }, // SwiftShader's
  { gemm: 'flat', gemmWG: 16, gemmFloat: true },
  { gemm: 'tiled' },
];
const GEMM_ODD: Partial<MatmulTuning>[] = [{ gemm: 'rows', gemmWG: 8, gemmR: 4, gemmTT: 3, gemmFloat: true }, { gemm: 'rows8', gemmWG: 8, gemmR: 3 }];

const BF16_CASES = [[7, 14, 3], [40, 172, 9]] as const;
// Q8_0 / Q4_0 rows of an odd number of blocks, their f16 scales in pairs.
const PAIRED_SCALES = [['q8', 96], ['q8', 160], ['q4', 96]] as const;
// The row-tile cases: each tile runs one layout past row-major, turning with the case's place here (test/helpers/cover.ts),
// so that over the table every tile meets every layout.
const ROW_TILE_KINDS = [
  ['q8', 96],
  ['int8', 96],
  ['q8-g64', 96],
  ['q4', 96],
  ['fp8e4m3', 96],
  ['fp8e5m2-g32', 96],
  ['fp8e4m3-b128', 96],
  ['f32', 90], // rows padded to whole vec4s: a block's last pieces read the row's last vec4 again
  ['f16', 90], // rows padded to whole vec4<u32>s of 8 halves, read by vec2
  ['bf16', 90], // rows padded to whole vec2<u32>s of 4 values
] as const;

describe.each(VARIANTS)('matmul (%s device)', (variant) => {
  describe.each(KINDS)('%s weights', (kind) => {
    const extra = EXTRA_CASES[kind] ?? [];
    const blocks = kind === 'fp8e4m3-b128'; // its own shapes only
    const all = variant === 'f16';
    const q8x = kind === 'q8' || kind === 'q4' || kind === 'int8' || kind === 'q8-g64';
    const e4m3 = kind === 'fp8e4m3' || kind === 'fp8e4m3-g32' || kind === 'fp8e4m3-b128';
    // Each kind runs each entry point on one of the two devices, and each launch shape on one device for every third
    // kind, the odd ones on the f16 device for every second, turning (test/helpers/cover.ts: halves).
    const place = KINDS.indexOf(kind);
    const gemvLayouts = [
      ...halves([...GEMV_LAYOUTS, ...(q8x ? GEMV_FLOAT : []), ...(e4m3 ? GEMV_FP8_ROUTES : [])], variant, place),
      ...halves(GEMV_SHAPES, variant, place, 3),
    ];
    for (const tuning of all ? [...gemvLayouts, ...halves(GEMV_ODD, 'f16', place)] : gemvLayouts) {
      const tn = `${tuning.gemv} WG=${tuning.gemvWG} R=${tuning.gemvR}${tuning.gemvFloat ? ' float' : ''}${tuning.gemvXVec ? ` X_VEC=${tuning.gemvXVec}` : ''}${bitsName(tuning)}`;
      it.each([...(blocks ? [] : GEMV_CASES), ...extra.filter((c) => c.T <= 2)].map((c) => [caseName(c), c] as const))(`gemv ${tn} %s`, async (_, c) => {
        expect(await check(variant, kind, 'gemv', tuning, c)).toBeLessThanOrEqual(1);
      });
    }
    // Q8_0 x's products as exact f32 FMAs (gemmFloat) change only the q8 / q4 kernels.
    const variantGemm = kind === 'q8' || kind === 'q4' || kind === 'int8' || kind === 'q8-g64';
    const layouts = halves([...GEMM_LAYOUTS.filter((t) => variantGemm || !t.gemmFloat), ...(e4m3 ? GEMM_FP8_ROUTES : [])], variant, place);
    for (const tuning of all ? [...layouts, ...halves(GEMM_ODD, 'f16', place)] : layouts) {
      const tn = tuning.gemm === 'rows' ? `rows WG=${tuning.gemmWG} R=${tuning.gemmR} TT=${tuning.gemmTT}${tuning.gemmFloat ? ' float' : ''}${bitsName(tuning)}`
        : tuning.gemm === 'rows8' ? `rows8 WG=${tuning.gemmWG} R=${tuning.gemmR}` : tuning.gemm;
      // The tiled GEMM's first compile takes lavapipe minutes on a loaded machine.
      it.each([...(blocks ? [] : GEMM_CASES), ...extra].map((c) => [caseName(c), c] as const))(`gemm ${tn} %s`, async (_, c) => {
        expect(await check(variant, kind, 'gemm', tuning, c)).toBeLessThanOrEqual(1);
      }, 600_000);
    }
  });

  it.each(['e4m3', 'e5m2'] as const)('FP8 %s: all 256 codes decode as src/quant/fp8.ts (half the GEMV and GEMM layouts, both E4M3 decodes, embedding gather)', async (fmt) => {
    const gpu = await device(variant);
    const alloc = new Allocator(gpu);
    try {
      const values = fmt === 'e4m3' ? FP8_E4M3_VALUES : FP8_E5M2_VALUES;
      const format = fmt === 'e4m3' ? 'fp8e4m3' : 'fp8e5m2';
      // Row c holds code c then three zero codes, scale 1; x = (1, 0, 0, 0): y[c] = value of code c.
      const rowsW: WeightData = { format, rows: 256, cols: 4, data: Uint32Array.from({ length: 256 }, (_, c) => c), scales: new Float32Array(256).fill(1), scaleLayout: { blockRows: 1, blockCols: 4 } };
      const x = alloc.upload('x', new Float32Array([1, 0, 0, 0]));
      const same = (got: number, want: number) => (Number.isNaN(want) ? Number.isNaN(got) : got === want);
      // E4M3: also a matrix without the NaN codes (0x7F, 0xFF: zeros instead), which the decoder takes
      // without the NaN check (FP8_NAN false); every other code must still decode exactly.
      const isNan = (c: number) => fmt === 'e4m3' && (c & 0x7f) === 0x7f;
      const noNan: WeightData = { ...rowsW, data: Uint32Array.from({ length: 256 }, (_, c) => (isNan(c) ? 0 : c)) };
      for (const wd of fmt === 'e4m3' ? [rowsW, noNan] : [rowsW]) {
        const w = uploadWeights(alloc, 'w', wd);
        expect(w.nanCodes).toBe(fmt === 'e4m3' ? wd === rowsW : undefined);
        expect(w.fp8Bits).toBe(fmt === 'e4m3' ? wd === noNan : undefined);
        const layouts: Partial<MatmulTuning>[] = [{ gemv: 'rows', gemvXVec: 1 }, { gemv: 'rows', gemvXVec: 4 }, { gemv: 'split' }, { gemm: 'tiled' }, { gemm: 'rows' }];
        // Half the layouts here, the others on the other device, the two decodes in turns (test/helpers/cover.ts).
        const tunings = FULL_MATRIX ? layouts.flatMap((t) => [{ ...t, fp8Bits: false }, { ...t, fp8Bits: true }]) : halves(layouts, variant, 0).map((t, i) => ({ ...t, fp8Bits: i % 2 === 1 }));
        for (const tuning of tunings) {
          const yb = alloc.storage('y', 256 * 4);
          const mm = await buildMatmul(gpu, alloc, { label: 'mm', w, x, y: yb, step: stepBuffer(alloc, { n_tokens: 1 }), maxTokens: 1, tuning });
          run(gpu, tuning.gemm ? mm.gemm : mm.gemv, 1);
          const y = new Float32Array(await readBuffer(gpu, yb, 256 * 4));
          const want = (c: number) => (wd === noNan && isNan(c) ? 0 : values[c]);
          const wrong = [...values.keys()].filter((c) => !same(y[c], want(c)));
          expect(wrong.map((c) => [c, y[c], want(c)]), JSON.stringify(tuning)).toEqual([]);
        }
      }
      // The embedding gather's copy of the decoding, one table row of all 256 codes: also -0.
      const table = uploadWeights(alloc, 'table', { format, rows: 1, cols: 256, data: Uint32Array.from({ length: 64 }, (_, i) => (4 * i) | ((4 * i + 1) << 8) | ((4 * i + 2) << 16) | ((4 * i + 3) << 24)), scales: new Float32Array([1]), scaleLayout: { blockRows: 1, blockCols: 256 } });
      const xe = alloc.storage('xe', 256 * 4);
      const step = stepBuffer(alloc, { n_tokens: 1 });
      run(gpu, await buildEmbedding(gpu, alloc, { table, ids: alloc.upload('ids', new Uint32Array([0])), x: xe, step }), 1);
      const e = new Float32Array(await readBuffer(gpu, xe, 256 * 4));
      expect([...values.keys()].filter((c) => !Object.is(e[c], values[c]))).toEqual([]);
    } finally {
      alloc.destroyAll();
    }
  });

  it.each(['int8', 'fp8e5m2-g32', 'fp8e4m3-b128'] as const)('embedding gather of %s rows: the dequantized table', async (kind) => {
    const gpu = await device(variant);
    const alloc = new Allocator(gpu);
    try {
      const [vocab, dim] = [150, 160];
      const wd = makeWeights(kind, vocab, dim, rng(11));
      const ids = [0, 149, 77, 128, 127];
      const xe = alloc.storage('xe', ids.length * dim * 4);
      const t = uploadWeights(alloc, 'table', wd, { maxChunkBytes: 60 * gpuRowWords(wd.format, dim) * 4 });
      const d = await buildEmbedding(gpu, alloc, { table: t, ids: alloc.upload('ids', new Uint32Array(ids)), x: xe, step: stepBuffer(alloc, { n_tokens: ids.length }) });
      // Chunks of 60 rows (128x128 blocks cut across chunks); on lavapipe whole tiles: int8 48 (tiles of 16), FP8 32.
      expect(d.length).toBe({ 16: 4, 32: 5 }[t.rowTile ?? 1] ?? 3);
      run(gpu, d, ids.length);
      const got = new Float32Array(await readBuffer(gpu, xe, ids.length * dim * 4));
      const table = dequantize(wd);
      const want = new Float32Array(ids.flatMap((id) => [...table.subarray(id * dim, (id + 1) * dim)]));
      expect(worstRatio(got, want, 0, 0)).toBe(0);
    } finally {
      alloc.destroyAll();
    }
  });

  it.each(['q8', 'q4'] as const)('%s: f32 products of the codes (gemmFloat, gemvFloat) give the same bits as the integer dots', async (kind) => {
    const gpu = await device(variant);
    const alloc = new Allocator(gpu);
    try {
      const [N, K, T] = [40, 320, 9];
      const r = rng(17);
      const w = uploadWeights(alloc, 'w', makeWeights(kind, N, K, r));
      const x = alloc.upload('x', randn(r, T * K, 3));
      const outputs: number[][] = [];
      for (const [path, f] of [['gemm', false], ['gemm', true], ['gemv', false], ['gemv', true]] as const) {
        const yb = alloc.storage('y', T * N * 4);
        const tuning: Partial<MatmulTuning> = { gemm: 'rows', gemv: 'rows', gemmFloat: f, gemvFloat: f };
        const mm = await buildMatmul(gpu, alloc, { label: 'mm', w, x, y: yb, step: stepBuffer(alloc, { n_tokens: T }), maxTokens: T, tuning });
        run(gpu, mm[path], T);
        outputs.push(Array.from(new Uint32Array(await readBuffer(gpu, yb, T * N * 4))));
      }
      expect(outputs[1]).toEqual(outputs[0]);
      expect(outputs[3]).toEqual(outputs[2]);
    } finally {
      alloc.destroyAll();
    }
  });

  it('q8 codes offset by 128 (offsetCodes): the same bits as codes as they are, every code from -128 to 127, half the layouts (all over both devices) and the gather', async () => {
    const gpu = await device(variant);
    const alloc = new Allocator(gpu);
    try {
      const [N, K, T] = [72, 320, 9];
      const r = rng(23);
      const codes = new Uint32Array((N * K) / 4);
      for (let i = 0; i < codes.length; i++) codes[i] = (Math.floor(r() * 2 ** 16) * 2 ** 16 + Math.floor(r() * 2 ** 16)) >>> 0;
      codes[0] = 0x80808080; // -128 four times, then 127 and -1
      codes[1] = 0x7f7fffff;
      const scales = Float32Array.from({ length: (N * K) / 32 }, () => roundF16(0.001 + 0.01 * r()));
      const wd: WeightData = { format: 'q8', rows: N, cols: K, data: codes, scales };
      const x = alloc.upload('x', randn(r, T * K, 3));
      const step = stepBuffer(alloc, { n_tokens: T });
      // Every layout over the two devices, half of them on each (test/helpers/cover.ts).
      const tunings = halves<[('gemv' | 'gemm'), Partial<MatmulTuning>]>([
        ['gemv', { gemv: 'rows', gemvXVec: 8 }], ['gemv', { gemv: 'rows', gemvXVec: 4 }], ['gemv', { gemv: 'rows', gemvXVec: 1 }],
        ['gemv', { gemv: 'flat' }], ['gemv', { gemv: 'split', gemvWG: 64, gemvR: 2, gemvLanes: 8 }],
        ['gemm', { gemm: 'rows8' }], ['gemm', { gemm: 'rows', gemmR: 2, gemmTT: 4 }], ['gemm', { gemm: 'tiled' }], ['gemm', { gemm: 'flat' }],
      ], variant, 0);
      const outputs = async (offsetCodes: boolean) => {
        const w = uploadWeights(alloc, 'w', wd, { offsetCodes });
        expect(w.offsetCodes).toBe(offsetCodes || undefined);
        const out: number[][] = [];
        for (const [path, tuning] of tunings) {
          const yb = alloc.storage('y', T * N * 4);
          const mm = await buildMatmul(gpu, alloc, { label: 'mm', w, x, y: yb, step, maxTokens: T, tuning });
          run(gpu, mm[path], T);
          out.push(Array.from(new Uint32Array(await readBuffer(gpu, yb, T * N * 4))));
        }
        const ids = [0, 71, 5];
        const xe = alloc.storage('xe', ids.length * K * 4);
        run(gpu, await buildEmbedding(gpu, alloc, { table: w, ids: alloc.upload('ids', new Uint32Array(ids)), x: xe, step: stepBuffer(alloc, { n_tokens: ids.length }) }), ids.length);
        out.push(Array.from(new Uint32Array(await readBuffer(gpu, xe, ids.length * K * 4))));
        return out;
      };
      const plain = await outputs(false);
      const offset = await outputs(true);
      offset.forEach((o, i) => expect(o, tunings[i]?.[1] ? JSON.stringify(tunings[i][1]) : 'gather').toEqual(plain[i]));
      // and the codes as they are match the reference (the gather exactly)
      const table = dequantize(wd);
      expect(worstRatio(new Float32Array(new Uint32Array(plain.at(-1)!).buffer), new Float32Array([0, 71, 5].flatMap((id) => [...table.subarray(id * K, (id + 1) * K)])), 0, 0)).toBe(0);
    } finally {
      alloc.destroyAll();
    }
  });

  it('quantize_x: codes and scales exactly as ggml (ties away from zero, d rounded to f16)', async () => {
    const gpu = await device(variant);
    const alloc = new Allocator(gpu);
    try {
      const T = 3;
      const K = 96;
      const x = randn(rng(5), T * K, 2);
      x.fill(0, 32, 64); // an all-zero block: d = 0, id = 0
      // amax 127 -> d = 1: halves are exact ties, roundf sends them away from zero (round() would not).
      x.set([127, 2.5, -2.5, 0.5, -0.5, 1.5, 126.5, -3.5], 64);
      x.set(randn(rng(6), 32, 1e-3), 2 * K); // a tiny amax: d is an f16 subnormal
      // Identity weights are not needed: the q8 GEMV path's scratch holds the quantized x.
      const wd = packQ8(new Float32Array(32 * K), 32, K);
      const mm = await buildMatmul(gpu, alloc, {
        label: 'mm',
        w: uploadWeights(alloc, 'w', wd),
        x: alloc.upload('x', x),
        y: alloc.storage('y', T * 32 * 4),
        step: stepBuffer(alloc, { n_tokens: T }),
        maxTokens: T,
      });
      run(gpu, [mm.gemv[0]], T);
      expect(mm.gemv[0].label).toBe('matmul_quantize_x/q8');
      const q = new Int8Array(await readBuffer(gpu, mm.quantizedX!.codes, T * K));
      const d = new Float32Array(await readBuffer(gpu, mm.quantizedX!.scales, (T * K) / 8));
      const ref = quantizeQ8_0(x, T, K);
      expect(Array.from(q)).toEqual(Array.from(ref.q));
      expect(Array.from(d)).toEqual(Array.from(ref.d));
      expect(Array.from(q.subarray(64, 72))).toEqual([127, 3, -3, 1, -1, 2, 127, -4]);
    } finally {
      alloc.destroyAll();
    }
  });

  it('f16 weights: x is rounded to f16, ties to even', async () => {
    const gpu = await device(variant);
    const alloc = new Allocator(gpu);
    try {
      const K = 8;
      const eye = new Float32Array(K * K);
      for (let i = 0; i < K; i++) eye[i * K + i] = 1;
      const u = 2 ** -10; // f16 spacing in [1, 2)
      const x = new Float32Array([1 + u / 2, 1 + 1.5 * u, 1 + 0.75 * u, -(1 + u / 2), 2 ** -20, 3e-8, 65519, 0.1]);
      const yb = alloc.storage('y', K * 4);
      const mm = await buildMatmul(gpu, alloc, {
        label: 'mm',
        w: uploadWeights(alloc, 'w', packF16(eye, K, K)),
        x: alloc.upload('x', x),
        y: yb,
        step: stepBuffer(alloc, { n_tokens: 1 }),
        maxTokens: 1,
      });
      run(gpu, mm.gemv, 1);
      const y = new Float32Array(await readBuffer(gpu, yb, K * 4));
      const expected = Array.from(x, roundF16);
      expect(Array.from(y)).toEqual(expected);
      expect(expected.slice(0, 4)).toEqual([1, 1 + 2 * u, 1 + u, -1]);
    } finally {
      alloc.destroyAll();
    }
  });

  // bf16 is f32's values in half the bytes, read in f32's blocks and pieces: the same sums in the same order.
  it.each(BF16_CASES)('bf16 weights (%i x %i) give the bits of the f32 weights they equal: a quarter of the GEMV and GEMM layouts a case and device (all of them over the four), the gather', async (N, K, T) => {
    const gpu = await device(variant);
    const alloc = new Allocator(gpu);
    try {
      const r = rng(N * 31 + K);
      const b16 = packBf16(randn(r, N * K, 0.1), N, K);
      const f32: WeightData = { format: 'f32', rows: N, cols: K, data: dequantize(b16) };
      const x = alloc.upload('x', randn(r, T * K, 2));
      const ids = [0, N - 1, 3];
      // A quarter of the layouts, the others in the other case and on the other device (test/helpers/cover.ts): all of
      // them over the two cases on both devices.
      const every: [Partial<MatmulTuning>, 'gemv' | 'gemm'][] = [
        ...[...GEMV_LAYOUTS, ...GEMV_SHAPES].map((t) => [t, 'gemv'] as [Partial<MatmulTuning>, 'gemv']),
        ...GEMM_LAYOUTS.filter((t) => !t.gemmFloat).map((t) => [t, 'gemm'] as [Partial<MatmulTuning>, 'gemm']),
      ];
      const places = BF16_CASES.length * VARIANTS.length;
      const part = Math.ceil(every.length / places);
      const place = BF16_CASES.findIndex(([n]) => n === N) * VARIANTS.length + VARIANTS.indexOf(variant);
      const layouts = cover([0], every, part * place, part).map(([, l]) => l);
      const outputs = (wd: WeightData, tile: number) => layoutOutputs(gpu, alloc, uploadWeights(alloc, 'w', wd, { rowTile: tile }), x, T, ids, layouts);
      // Row-major f32 against bf16 in lavapipe's tiles (bf16's row-major runs with the row-tile kinds).
      expect(await outputs(b16, 32)).toEqual(await outputs(f32, 1));
      expect(uploadWeights(alloc, 'w', b16, { rowTile: 1 }).bytes).toBe(N * Math.ceil(K / 4) * 8); // half of f32's
    } finally {
      alloc.destroyAll();
    }
  });
});

describe('matmul uniforms and validation', () => {
  it('rowScales repeats each block scale for its rows (partial blocks at the edges)', () => {
    // 3 x 12 weights in 2 x 4 blocks: 2 block rows (the second partial), 3 block columns.
    const scales = new Float32Array([1, 2, 3, 4, 5, 6]);
    const w: WeightData = { format: 'fp8e4m3', rows: 3, cols: 12, data: new Uint32Array(9), scales, scaleLayout: { blockRows: 2, blockCols: 4 } };
    const r = rowScales(w);
    expect(r.scaleLayout).toEqual({ blockRows: 1, blockCols: 4 });
    expect(Array.from(r.scales!)).toEqual([1, 2, 3, 1, 2, 3, 4, 5, 6]);
    expect(rowScales(r)).toBe(r);
  });

  it('every matmul shader declares MatmulParams / QuantizeParams as the TS layouts, and gets Step from it', () => {
    // The skeletons and decoders share MatmulParams through matmul_common.wgsl; the quantize pass declares its own.
    const fields = (l: typeof MATMUL_PARAMS | typeof QUANTIZE_PARAMS) => l.fields.map(([n, t]) => [n, t]);
    expect(parseWgslStruct(MATMUL_COMMON_SOURCE, 'MatmulParams')).toEqual(fields(MATMUL_PARAMS));
    expect(parseWgslStruct(MATMUL_SOURCES.matmul_quantize_x, 'QuantizeParams')).toEqual(fields(QUANTIZE_PARAMS));
    for (const [part, source] of Object.entries(MATMUL_SOURCES)) expect(parseWgslStruct(source, 'Step'), `${part} must not declare Step itself`).toBeNull();
    expect(parseWgslStruct(shaderText(MATMUL_SOURCES.matmul_quantize_x), 'Step')).toEqual(STEP.fields.map(([n, t]) => [n, t]));
    for (const format of WEIGHT_FORMATS) {
      const code = decoderShader({ subgroups: false, dot4I8: false }, format, MATMUL_SOURCES.matmul);
      expect(parseWgslStruct(code, 'Step'), format).toEqual(STEP.fields.map(([n, t]) => [n, t]));
    }
  });

  it('X_VEC 8 is taken for Q8_0 x on subgroups of 8 or more lanes only, and is the CPU GEMV default there, as rows8 the GEMM\'s', async () => {
    const sg8 = { subgroups: true, subgroupMinSize: 8 };
    expect(effectiveXVec('q8', 64, 8, sg8)).toBe(8);
    expect(effectiveXVec('q4', 64, 8, sg8)).toBe(8);
    expect(effectiveXVec('q8', 64, 8, { subgroups: true, subgroupMinSize: 4 })).toBe(1);
    expect(effectiveXVec('q8', 64, 8, { subgroups: true })).toBe(1); // sizes not reported
    expect(effectiveXVec('q8', 64, 8, { subgroups: false, subgroupMinSize: 8 })).toBe(1);
    expect(effectiveXVec('f32', 64, 8, sg8)).toBe(1);
    expect(effectiveXVec('f32', 6, 4, sg8)).toBe(1);
    expect(effectiveXVec('f32', 8, 4, sg8)).toBe(4);
    const caps = (await testGpu('f16')).caps; // lavapipe: 8-lane subgroups
    expect(caps.cpu && caps.subgroups && caps.subgroupMinSize).toBe(8);
    expect(matmulTuning(caps, 'q8').gemvXVec).toBe(8);
    expect(matmulTuning(caps, 'q8').gemmXVec).toBe(1);
    expect([matmulTuning(caps, 'q8').gemm, matmulTuning(caps, 'f32').gemm, matmulTuning(caps, 'f32').gemmR]).toEqual(['rows8', 'rows8', 4]);
    expect([matmulTuning({ ...caps, subgroups: false }, 'f32').gemm, matmulTuning({ ...caps, subgroups: false }, 'f32').gemmR]).toEqual(['rows', 2]);
    expect(matmulTuning(caps, 'fp8e4m3').gemvXVec).toBe(4);
    expect(matmulTuning({ ...caps, subgroups: false }, 'q8').gemvXVec).toBe(1);
    expect(matmulTuning({ ...caps, cpu: false }, 'q8').gemvXVec).toBe(1);
    // GPUs: the K-split in lane groups of a warp, or of the adapter's largest subgroup where that is more.
    expect(matmulTuning({ ...caps, cpu: false, subgroupMaxSize: 32 }, 'q8')).toMatchObject({ gemv: 'split', gemvWG: 256, gemvR: 4, gemvLanes: 32 });
    // A lane group sums by its subgroup alone only where every subgroup is the group's size.
    expect(laneGroupIsSubgroup({ subgroups: true, subgroupMinSize: 32, subgroupMaxSize: 32 }, 32)).toBe(true);
    expect(laneGroupIsSubgroup({ subgroups: true, subgroupMinSize: 32, subgroupMaxSize: 64 }, 64)).toBe(false);
    expect(laneGroupIsSubgroup({ subgroups: true, subgroupMinSize: 32, subgroupMaxSize: 32 }, 64)).toBe(false);
    expect(laneGroupIsSubgroup({ subgroups: false, subgroupMinSize: 32, subgroupMaxSize: 32 }, 32)).toBe(false);
    expect(matmulTuning({ ...caps, cpu: false, subgroupMaxSize: 64 }, 'q8').gemvLanes).toBe(64);
  });

  it('FP8 E4M3 by f32 bits: the default on lavapipe only, and only for weights with no NaN code and scales below 2^60', async () => {
    const gpu = await testGpu('f16');
    const caps = gpu.caps; // lavapipe
    expect(matmulTuning(caps, 'fp8e4m3').fp8Bits).toBe(true);
    expect(matmulTuning({ ...caps, cpu: false }, 'fp8e4m3').fp8Bits).toBe(false); // GPUs may flush f32 subnormals
    expect(matmulTuning({ ...caps, adapterName: 'SwiftShader Device (Subzero)' }, 'fp8e4m3').fp8Bits).toBe(false);
    expect(matmulTuning({ ...caps, adapterName: 'Microsoft Basic Render Driver' }, 'fp8e4m3').fp8Bits).toBe(false); // not known to keep them
    // 4 rows a lane in workgroups of 16, 2 rows in 32: 64 rows a workgroup either way
    const formats = ['fp8e4m3', 'f16', 'f32', 'q8'] as const;
    expect(formats.map((f) => matmulTuning(caps, f).gemvWG * matmulTuning(caps, f).gemvR)).toEqual([64, 64, 64, 64]);
    const alloc = new Allocator(gpu);
    try {
      const r = rng(31);
      const [N, K] = [9, 64];
      const wd = packFp8(randn(r, N * K, 1), N, K, 'e4m3');
      expect(uploadWeights(alloc, 'w', wd).fp8Bits).toBe(true);
      // A scale of 2^61 (weights near 2^70) takes the f16-field decode, even where the tuning asks for bits.
      const huge = { ...wd, scales: Float32Array.from(wd.scales!, (v, i) => (i === 3 ? 2 ** 61 : v)) };
      const w = uploadWeights(alloc, 'huge', huge);
      expect(w.fp8Bits).toBe(false);
      const xs = randn(r, K, 1);
      const want = matmulRef(huge, xs, 1);
      const yb = alloc.storage('y', N * 4);
      const mm = await buildMatmul(gpu, alloc, { label: 'mm', w, x: alloc.upload('x', xs), y: yb, step: stepBuffer(alloc, { n_tokens: 1 }), maxTokens: 1, tuning: { gemv: 'rows', fp8Bits: true } });
      run(gpu, mm.gemv, 1);
      const y = new Float32Array(await readBuffer(gpu, yb, N * 4));
      for (let i = 0; i < N; i++) expect(Math.abs(y[i] - want[i]), `row ${i}`).toBeLessThanOrEqual(1e-5 * Math.abs(want[i]) + 1e-6);
    } finally {
      alloc.destroyAll();
    }
  });

  it('autotune wakes a GPU left idle before timing it, and never a CPU adapter', () => {
    expect(gpuWarmupMs({ cpu: false }, Infinity)).toBeGreaterThan(0); // the first shape of a load
    expect(gpuWarmupMs({ cpu: false }, 5000)).toBeGreaterThan(0);
    expect(gpuWarmupMs({ cpu: false }, 10)).toBe(0); // shapes timed one after another
    expect(gpuWarmupMs({ cpu: false }, 500)).toBe(0); // a compile between them
    expect(gpuWarmupMs({ cpu: true }, Infinity)).toBe(0);
  });

  it('autotune: times the GPU-style and CPU-SIMD candidates once per shape, keeps one, and its lists are right; \'prefill\' times the GEMM alone', async () => {
    const gpu = await testGpu('f16');
    const alloc = new Allocator(gpu);
    resetAutotune();
    try {
      const [N, K, T] = [70, 96, 5];
      const r = rng(23);
      const wd = packQ8(randn(r, N * K, 0.1), N, K);
      const x = randn(r, T * K);
      const w = uploadWeights(alloc, 'w', wd);
      const build = (y: GPUBuffer) => buildMatmul(gpu, alloc, { label: 'mm', w, x: alloc.upload('x', x), y, step: stepBuffer(alloc, { n_tokens: T }), maxTokens: T, autotune: true });
      const y = alloc.storage('y', T * N * 4);
      const mm = await build(y);
      const made = await autotuneChoices(gpu.caps.adapterName);
      expect(made.map((c) => c.path)).toEqual(['gemv', 'gemm']);
      const names = (path: 'gemv' | 'gemm') => candidates(matmulTuning(gpu.caps, 'q8'), path).map(variantName);
      expect(names('gemv')).toEqual(expect.arrayContaining(['split WG=64 R=4', 'split WG=256 R=4 LANES=32', 'split WG=128 R=2 LANES=32', 'split WG=256 R=4 LANES=32 ITERS=4', 'rows WG=64 R=2', 'rows WG=64 R=2 X_VEC=4']));
      expect(names('gemm')).toEqual(expect.arrayContaining(['tiled', 'rows WG=64 R=4 TT=4 float', 'rows WG=64 R=4 TT=4']));
      // A candidate runs merged over the defaults: on a GPU (whose defaults have lanes) each still runs as it is named.
      const gpuDefaults = matmulTuning({ ...gpu.caps, cpu: false, subgroupMaxSize: 32 }, 'q8');
      for (const v of candidates(gpuDefaults, 'gemv')) expect(variantName({ ...gpuDefaults, ...v })).toBe(variantName(v));
      for (const c of made) {
        if (c.path === 'attention') throw new Error('a matmul made an attention choice');
        expect(names(c.path)).toContain(c.chosen);
        expect(Object.keys(c.us)).toEqual(names(c.path));
        expect(Object.values(c.us).every((us) => us > 0)).toBe(true);
      }
      expect(variantName({ gemv: mm.tuning.gemv, gemvWG: mm.tuning.gemvWG, gemvR: mm.tuning.gemvR, gemvFloat: mm.tuning.gemvFloat, gemvXVec: mm.tuning.gemvXVec, gemvLanes: mm.tuning.gemvLanes, gemvIters: mm.tuning.gemvIters })).toBe(made[0].chosen);
      run(gpu, mm.gemm, T);
      const want = matmulRef(wd, x, T);
      expect(worstRatio(new Float32Array(await readBuffer(gpu, y, T * N * 4)), want, 2e-6, 2e-6)).toBeLessThanOrEqual(1);
      // The same shape again: the cached choice, no new trial.
      const again = await build(alloc.storage('y2', T * N * 4));
      expect(again.tuning).toEqual(mm.tuning);
      expect(await autotuneChoices(gpu.caps.adapterName)).toHaveLength(2);
      // A model that never decodes (autotune 'prefill', an encoder's): another shape's GEMM is timed, not its GEMV.
      const w2 = uploadWeights(alloc, 'w2', packQ8(randn(r, 2 * N * K, 0.1), 2 * N, K));
      await buildMatmul(gpu, alloc, { label: 'mm2', w: w2, x: alloc.upload('x2', x), y: alloc.storage('y3', T * 2 * N * 4), step: stepBuffer(alloc, { n_tokens: T }), maxTokens: T, autotune: 'prefill' });
      expect((await autotuneChoices(gpu.caps.adapterName)).map((c) => c.path)).toEqual(['gemv', 'gemm', 'gemm']);
    } finally {
      resetAutotune();
      alloc.destroyAll();
    }
  });

  it.each(ROW_TILE_KINDS)('%s (K=%i) in a row tile (8, 16 or 32, turning) gives the bits of row-major: a GEMV or GEMM layout (turning), gather; chunks of whole tiles', async (kind, K) => {
    const gpu = await testGpu('f16');
    const alloc = new Allocator(gpu);
    try {
      const [N, T] = [37, 5]; // N: two whole tiles of 16 and a padded one (rowTileOutputs)
      const r = rng(23);
      const wd = makeWeights(kind, N, K, r);
      const x = alloc.upload('x', randn(r, T * K, 2));
      const ids = [0, 36, 17, 16, 15];
      const place = ROW_TILE_KINDS.findIndex(([k, kk]) => k === kind && kk === K);
      const outputs = await rowTileOutputs(gpu, alloc, wd, x, T, ids, undefined, undefined, place);
      for (const tile of tilesPast(outputs)) expect(outputs.get(tile), `rowTile ${tile}`).toEqual(rowMajorWhere(outputs, tile));
      // And row-major is right: the GEMV against the reference, the gather against the dequantized table.
      const y1 = new Float32Array(Uint32Array.from(outputs.get(1)![0]!).buffer);
      expect(worstRatio(y1, matmulRef(wd, new Float32Array(await readBuffer(gpu, x, K * 4)), 1), 1e-5, 2e-5)).toBeLessThanOrEqual(1);
      const table = dequantize(wd);
      const e1 = new Float32Array(Uint32Array.from(outputs.get(1)!.at(-1)!).buffer);
      expect(worstRatio(e1, new Float32Array(ids.flatMap((id) => [...table.subarray(id * K, (id + 1) * K)])), 0, 0)).toBe(0);
    } finally {
      alloc.destroyAll();
    }
  });

  it.each(PAIRED_SCALES)('%s with f16 scale pairs (K=%i, an odd number of blocks) gives the bits of f32 scales: GEMV, split GEMV, GEMMs, gather, row tiles', async (kind, K) => {
    const gpu = await testGpu('f16');
    const alloc = new Allocator(gpu);
    try {
      const [N, T] = [37, 5];
      const r = rng(29);
      const wd = makeWeights(kind, N, K, r); // Q8_0 / Q4_0: f16 scales
      const paired = uploadWeights(alloc, 'w', wd, { rowTile: 1, halfScales: true });
      expect(paired.halfScales).toBe(true);
      expect(paired.group).toBe(64);
      const plain = uploadWeights(alloc, 'w', wd, { rowTile: 1, halfScales: false });
      expect(plain.halfScales).toBeUndefined();
      expect(plain.group).toBe(32);
      expect(uploadWeights(alloc, 'w', wd).halfScales).toBe(gpu.caps.cpu ? undefined : true); // the default: GPUs only
      expect(plain.bytes - paired.bytes).toBe(N * (K / 32 - Math.ceil(K / 64)) * 4);
      const x = alloc.upload('x', randn(r, T * K, 2));
      const ids = [0, 36, 17, 16, 15];
      const place = PAIRED_SCALES.findIndex(([k, kk]) => k === kind && kk === K);
      const pairs = await rowTileOutputs(gpu, alloc, wd, x, T, ids, true, undefined, place);
      const f32s = await rowTileOutputs(gpu, alloc, wd, x, T, ids, false, undefined, place);
      expect(pairs).toEqual(f32s);
    } finally {
      alloc.destroyAll();
    }
  });

  it('f16Exact gives the f16 bits of exactly the f32s that are f16 values (every f16, and random and edge f32s)', () => {
    const f32 = new Float32Array(1);
    const bits = new Uint32Array(f32.buffer);
    const expected = (b: number) => {
      bits[0] = b;
      const h = f32ToF16Bits(f32[0]);
      return Number.isNaN(f32[0]) || f16ToF32(h) !== f32[0] || !Number.isFinite(f32[0]) ? -1 : h;
    };
    for (let h = 0; h < 0x10000; h++) {
      const v = f16ToF32(h);
      if (!Number.isFinite(v)) continue;
      f32[0] = v;
      expect(f16Exact(bits[0])).toBe(h);
    }
    const r = rng(37);
    const edges = [0x33800000, 0x33000000, 0x387fc000, 0x38800000, 0x477fe000, 0x47800000, 0x7f800000, 0x7fc00000, 0x00000001, 0x3f800001, 0x80000000];
    for (const b of [...edges, ...Array.from({ length: 20000 }, () => Math.floor(r() * 2 ** 32))]) expect(f16Exact(b >>> 0)).toBe(expected(b >>> 0));
  });

  it('pairs q8 and q4 scales only where each is one per 32-block of a row, an f16 value, and a row has two blocks', () => {
    const r = rng(31);
    const q8 = makeWeights('q8', 3, 96, r);
    const pairs = pairedScales(q8)!;
    expect(pairs.length).toBe(3 * 2);
    const half = (s: number) => f32ToF16Bits(s);
    expect(pairs[0]).toBe((half(q8.scales![0]) | (half(q8.scales![1]) << 16)) >>> 0);
    expect(pairs[1]).toBe(half(q8.scales![2])); // the odd block's pair: its high half 0
    const off = { ...q8, scales: q8.scales!.map((s, i) => (i === 4 ? s * (1 + 2 ** -20) : s)) };
    expect(pairedScales(off)).toBeUndefined(); // one scale not an f16 value: all stay f32
    expect(pairedScales(makeWeights('int8', 3, 96, r))).toBeUndefined(); // a scale per row
    expect(pairedScales(makeWeights('q8-g64', 3, 128, r))).toBeUndefined(); // a scale per 64
    expect(pairedScales(makeWeights('q8', 3, 32, r))).toBeUndefined(); // one block a row
    expect(pairedScales(makeWeights('q4', 3, 96, r))).toBeDefined(); // Q4_0's scales are f16 values too
    expect(pairedScales(makeWeights('fp8e4m3-g32', 3, 96, r))).toBeUndefined(); // only q8 and q4
  });

  it('rejects row tiles other than 8, 16 or 32, and takes the device default', async () => {
    const gpu = await testGpu('f16');
    const alloc = new Allocator(gpu);
    try {
      const f32: WeightData = { format: 'f32', rows: 2, cols: 4, data: new Float32Array(8) };
      expect(() => uploadWeights(alloc, 'w', f32, { rowTile: 4 })).toThrow(/\(f32\): rowTile 4; tiles are of 8, 16 or 32 rows/);
      expect(() => uploadWeights(alloc, 'w', makeWeights('q8', 4, 32, rng(1)), { rowTile: 12 })).toThrow(/rowTile 12/);
      expect(() => uploadWeights(alloc, 'w', makeWeights('f16', 4, 32, rng(1)), { rowTile: 64 })).toThrow(/\(f16\): rowTile 64/);
      // lavapipe: f32 in tiles of 16, f16, FP8 and Q8_0 of 32, Q6_K of 16; elsewhere row-major (rowTile unset)
      const lavapipe = /llvmpipe|lavapipe/i.test(gpu.caps.adapterName);
      expect(uploadWeights(alloc, 'w', f32).rowTile).toBe(lavapipe ? 16 : undefined);
      expect(uploadWeights(alloc, 'w', makeWeights('f16', 4, 32, rng(1))).rowTile).toBe(lavapipe ? 32 : undefined);
      expect(uploadWeights(alloc, 'w', makeWeights('fp8e4m3', 4, 32, rng(1))).rowTile).toBe(lavapipe ? 32 : undefined);
      expect(uploadWeights(alloc, 'w', makeWeights('q8', 4, 32, rng(1))).rowTile).toBe(lavapipe ? 32 : undefined);
      expect(rowTileFor(gpu.caps, 'q6_k')).toBe(lavapipe ? 16 : 1);
      // There a tile is the rows one SIMD group of the GEMV reads at once: 8 lanes x gemvR rows
      for (const f of lavapipe ? WEIGHT_FORMATS : []) expect(rowTileFor(gpu.caps, f), f).toBe(8 * matmulTuning(gpu.caps, f).gemvR);
    } finally {
      alloc.destroyAll();
    }
  });

  it('rejects mis-shaped weights and too-small buffers with messages that name both sizes', async () => {
    const gpu = await testGpu('f16');
    const alloc = new Allocator(gpu);
    try {
      expect(() => uploadWeights(alloc, 'w', { format: 'q8', rows: 2, cols: 48, data: new Uint32Array(24), scales: new Float32Array(3) })).toThrow(/multiple of 32/);
      expect(() => uploadWeights(alloc, 'w', { format: 'f32', rows: 2, cols: 4, data: new Float32Array(7) })).toThrow(/expected 8 data words, got 7/);
      const fp8 = { format: 'fp8e4m3', rows: 2, cols: 64, data: new Uint32Array(32), scales: new Float32Array(2), scaleLayout: { blockRows: 1, blockCols: 64 } } as const;
      expect(() => uploadWeights(alloc, 'w', { ...fp8, cols: 6, data: new Uint32Array(3) })).toThrow(/multiple of 4 long/);
      expect(() => uploadWeights(alloc, 'w', { ...fp8, scaleLayout: { blockRows: 1, blockCols: 24 } })).toThrow(/multiple of 16 wide or span the row, got 24/);
      expect(() => uploadWeights(alloc, 'w', { ...fp8, scaleLayout: { blockRows: 1, blockCols: 32 } })).toThrow(/expected 4 scales \(1x32 blocks\), got 2/);
      expect(() => uploadWeights(alloc, 'w', { ...fp8, format: 'q8', scaleLayout: { blockRows: 1, blockCols: 48 } })).toThrow(/multiple of 32 wide, got 48/);
      expect(() => uploadWeights(alloc, 'w', { ...fp8, format: 'q4', data: new Uint32Array(16) })).toThrow(/1x32 blocks\), got 1x64/);
      const w = uploadWeights(alloc, 'w', { format: 'f32', rows: 2, cols: 4, data: new Float32Array(8) });
      const args = { label: 'mm', w, x: alloc.storage('x', 16), y: alloc.storage('y', 8), step: stepBuffer(alloc), maxTokens: 2 };
      await expect(buildMatmul(gpu, alloc, args)).rejects.toThrow(/x needs 32 bytes, the buffer has 16/);
      const ok = { ...args, x: alloc.storage('x2', 32) };
      await expect(buildMatmul(gpu, alloc, { ...ok, tuning: { gemvXVec: 2 as 4 } })).rejects.toThrow(/gemvXVec \(X_VEC\) must be 1, 4 or 8, got 2/);
      // A split GEMV's lane groups: divisors of the workgroup, and with subgroups (lavapipe's 8 lanes) no smaller than one.
      const split = (gemvWG: number, gemvLanes: number) => buildMatmul(gpu, alloc, { ...ok, tuning: { gemv: 'split', gemvWG, gemvR: 4, gemvLanes } });
      await expect(split(64, 24)).rejects.toThrow(/gemvLanes 24 does not fit workgroups of 64/);
      if (gpu.caps.subgroups) await expect(split(64, gpu.caps.subgroupMaxSize! / 2)).rejects.toThrow(/does not fit/);
      expect(gemvLanesFit({ subgroups: true, subgroupMaxSize: 32 }, 256, 32)).toBe(true);
      expect(gemvLanesFit({ subgroups: true, subgroupMaxSize: 64 }, 256, 32)).toBe(false); // AMD's wave64
      expect(gemvLanesFit({ subgroups: false }, 48, 16)).toBe(true);
    } finally {
      alloc.destroyAll();
    }
  });
});
