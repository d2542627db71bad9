import quantizeSource from '../../shaders/matmul_quantize_x.wgsl?raw';
import { Q8_BLOCK_LIB } from './wgsl_lib.ts';
import { EmberError } from '../errors.ts';
import type { Gpu, GpuCaps } from '../gpu/device.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { getPipeline, shaderText } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { bindGroup, ceilDiv, staticUniform, uncountedBindGroup, type Binding, type Dispatch } from './dispatch.ts';
import { candidates, chooseVariant, gemmTrialTokens } from './autotune.ts';
import { FORMATS, GGUF_FORMATS } from './weight_formats.ts';
import { checkExperts, EXPERT_TILE, expertGroups, type ExpertRows } from './matmul_experts.ts';
export { EXPERT_TILE, expertGroups, type ExpertRows } from './matmul_experts.ts';

/**
 * y[t, n] (+)= sum_k W[n, k] x[t, k] (+ bias[n]) for every weight format, on one design: the access
 * patterns (decode GEMV, split GEMV, tiled GEMM) are written once (shaders/matmul.wgsl), and a format
 * is a decoder (shaders/weights/<format>.wgsl, FORMATS in weight_formats.ts) joined to them as text at
 * load, with the x mode it takes: Q8_0 x for q8 and q4 (llama.cpp's CPU numerics, x quantized first by
 * shaders/matmul_quantize_x.wgsl), f32 x for everything else (f16 rounds x to f16 as llama.cpp does).
 * Decode's GEMV fuses what feeds it and what follows (fewer dispatches per token): its prologue reads x
 * raw and RMS-normalises it and/or quantizes it to Q8_0 itself (`gemvX`, shaders/matmul_in_*.wgsl), and
 * its epilogue can write SwiGLU's h from gate/up row pairs (`glu`), and on CPU adapters its last subgroup can run the
 * RMSNorm or Q8_0 quantization that follows (`tail`), each bit for bit what the separate kernels give. Pipelines,
 * uniforms, scratch and bind groups are all made in `buildMatmul`, at load.
 */

export { WEIGHT_FORMATS, GGUF_FORMATS, type WeightFormat } from './weight_formats.ts';
export { matmulTuning, takesFloatDot, type MatmulTuning, type XVec } from './matmul_tuning.ts';
import { gemvLanesFit, laneGroupIsSubgroup, matmulTuning, splitLanes, subgroupsOf8, takesFloatDot, type MatmulTuning, type XVec } from './matmul_tuning.ts';

export {
  gpuRowWords,
  pairedScales,
  rowScales,
  rowTileFor,
  scaleLayoutOf,
  scalesPerRow,
  storedFormat,
  uploadWeights,
  widensCodes,
  type GpuWeights,
  type ScaleLayout,
  type WeightChunk,
  type WeightData,
} from './matmul_weights.ts';
import { hasScaleArray, storedFormat, type GpuWeights, type WeightChunk, type WeightData } from './matmul_weights.ts';
export { decoderShader, effectiveXVec, MATMUL_COMMON_SOURCE, MATMUL_SOURCES, matmulSkeleton, matmulVariantHeader, type MatmulInput } from './matmul_shader.ts';
import { decoderShader, effectiveXVec, matmulSkeleton, type MatmulInput } from './matmul_shader.ts';


export const MATMUL_PARAMS = new UniformLayout('MatmulParams', [
  ['N', 'u32'], // row length of y
  ['K', 'u32'],
  ['row_start', 'u32'], // first row of the chunk
  ['rows', 'u32'], // rows in the chunk
  ['has_bias', 'u32'], // 1: add bias (a uniform, not an override: one pipeline serves every matmul)
  ['accumulate', 'u32'], // 1: y += result
  ['group', 'u32'], // weights per scale group along a row (the last group may be partial)
  ['groups', 'u32'], // scale groups per row, ceil(K / group)
  ['y_offset', 'u32'], // y column of the matrix's row 0
  ['x_norm', 'u32'], // 1: the input RMS-normalises x (decode's fused norm)
  ['eps', 'f32'], // its epsilon
  ['glu', 'u32'], // 0: y = the rows; 1 + act (GLU_ACTS): y = h = act(gate) * up of row pairs
  ['out_scale', 'f32'], // multiplies each output before it is written or added (Granite's residual multiplier), else 1
  ['slots', 'u32'], // the expert matmuls (MatmulArgs.experts): rows of y per token, else 0
  ['x_div', 'u32'], // the expert matmuls: rows of y per row of x, else 1
  ['expert_rows', 'u32'], // the expert matmuls: rows of one expert, else 0
  ['expert_first', 'u32'], // the expert matmuls: the chunk's first expert, else 0
  ['expert_count', 'u32'], // the expert matmuls: the chunk's experts, else 0
  ['experts_all', 'u32'], // the expert GEMM: the mixture's experts, else 0
  ['order_at', 'u32'], // the expert GEMM: where the slot order starts in `groups`, else 0
] as const);

/** The gated FFN activations the GLU epilogue and SwiGLU take (glu_act's codes). */
export const GLU_ACTS = { silu: 0, gelu_tanh: 1 } as const;
export type GluAct = keyof typeof GLU_ACTS;

/** The override constants of every pipeline that decodes `w`: its format's, and its tiling (if any). */
export function weightConstants(w: Pick<GpuWeights, 'format' | 'rowTile'>): Record<string, number> {
  return { ...FORMATS[w.format].constants, ...((w.rowTile ?? 1) > 1 ? { ROW_TILE: w.rowTile! } : {}) };
}

/** MatmulParams of one chunk (also the embedding gather's, which reads K, row_start, rows and the groups). */
export interface ChunkOptions {
  N?: number;
  yOffset?: number;
  bias?: boolean;
  accumulate?: boolean;
  normEps?: number; // the input RMS-normalises x with this epsilon
  tailEps?: number; // the GEMV's tail RMS-normalises y with this epsilon
  glu?: GluAct;
  outScale?: number; // y = outScale * (W x + bias), before accumulate's add
  experts?: Pick<ExpertRows, 'rows' | 'slots' | 'xPerSlot'> & { all?: number; orderAt?: number }; // the expert matmuls
}
export function chunkParams(w: Pick<GpuWeights, 'rows' | 'cols' | 'group'>, c: Pick<WeightChunk, 'rowStart' | 'rows'>, o: ChunkOptions = {}) {
  const e = o.experts;
  return {
    N: o.N ?? e?.rows ?? w.rows,
    K: w.cols,
    row_start: e ? 0 : c.rowStart,
    rows: e ? e.rows : c.rows,
    has_bias: o.bias ? 1 : 0,
    accumulate: o.accumulate ? 1 : 0,
    group: w.group,
    groups: ceilDiv(w.cols, w.group),
    y_offset: o.yOffset ?? 0,
    x_norm: o.normEps === undefined ? 0 : 1,
    eps: o.normEps ?? o.tailEps ?? 0,
    glu: o.glu === undefined ? 0 : 1 + GLU_ACTS[o.glu],
    out_scale: o.outScale ?? 1,
    slots: e?.slots ?? 0,
    x_div: e && !e.xPerSlot ? e.slots : 1,
    expert_rows: e?.rows ?? 0,
    expert_first: e ? c.rowStart / e.rows : 0,
    expert_count: e ? c.rows / e.rows : 0,
    experts_all: e?.all ?? 0,
    order_at: e?.orderAt ?? 0,
  };
}

export const QUANTIZE_PARAMS = new UniformLayout('QuantizeParams', [
  ['K', 'u32'],
  ['pad0', 'u32'],
  ['pad1', 'u32'],
  ['pad2', 'u32'],
] as const);

/** The longest row of x a q8_local GEMV takes (its workgroup memory; LOCAL_K in matmul_in_q8_local.wgsl). */
export const GEMV_LOCAL_K = 8192;

/** Whether decode's GEMV of `w` (as stored on the GPU: storedFormat) can read x raw (normalise and quantize it in its prologue). */
export function gemvReadsRawX(w: Pick<GpuWeights, 'format' | 'cols'> | Pick<WeightData, 'format' | 'cols' | 'gpuQuant'>): boolean {
  return FORMATS[storedFormat(w)].x !== 'q8' || w.cols <= GEMV_LOCAL_K;
}

const GEMV_ENTRY = { rows: 'rows', flat: 'rows_flat', split: 'gemv_split' } as const;
const GEMM_ENTRY = { rows: 'rows', rows8: 'rows8', flat: 'gemm_flat' } as const; // 'tiled': gemm, with GEMM_TILE
const GEMM_TILE = { TM: 32, TN: 32 }; // 64 invocations, 4 x 4 outputs each
const QUANTIZE_WG = 64;

export interface MatmulArgs {
  label: string;
  w: GpuWeights;
  x: GPUBuffer; // (T, K) f32
  y: GPUBuffer; // (T, yWidth) f32; may not alias x
  bias?: GPUBuffer; // (N) f32, N = w.rows
  /**
   * Where the result goes in y: row n of W (output n) to y[t, yOffset + n] of a y whose rows are
   * yWidth long. Defaults 0 and w.rows (y is (T, N)). Lets a fused output (qkv, gate|up) be written by
   * one matmul per part when the parts' formats differ, each into its columns.
   */
  yOffset?: number;
  yWidth?: number;
  /** y += result (y is read first): the residual add, fused. */
  accumulate?: boolean;
  /** The result (W x + bias) is multiplied by this before it is written or added: Granite's residual multiplier. */
  outScale?: number;
  step: GPUBuffer; // the Step uniform
  maxTokens: number; // the most tokens one forward pass runs (sizes the q8/q4 scratch)
  tuning?: Partial<MatmulTuning>;
  /**
   * Pick each list's launch variant by a short timed trial (src/kernels/autotune.ts), among the
   * GPU-style and CPU-SIMD layouts, for the paths `tuning` does not fix; cached per adapter and shape.
   * 'prefill': the GEMM's alone (a model that never decodes: its GEMV keeps the default).
   */
  autotune?: boolean | 'prefill';
  /** false: a model that never decodes (an encoder): no GEMV is built (gemv []), where the GEMM does not run it. */
  decodes?: boolean;
  /** x already in Q8_0 (codes (T, K/4) u32, scales (T, K/32) f32), written by its producer; q8/q4 only. */
  quantizedX?: { codes: GPUBuffer; scales: GPUBuffer };
  /**
   * What decode's GEMV reads instead of x / quantizedX: `x` (T, K) f32, RMS-normalised with `norm` in the
   * kernel (when given), and for q8/q4 quantized to Q8_0 in its prologue: the norm and quantize
   * dispatches stay in the gemm list only. Needs gemvReadsRawX(w).
   */
  gemvX?: { x: GPUBuffer; norm?: { weight: GPUBuffer; eps: number } };
  /**
   * What decode's GEMV reads instead of x / quantizedX: x in Q8_0 written by its producer for decode only
   * (attention/decode_dims_q8); the gemm list keeps its own quantize dispatch. q8/q4 only, not with gemvX.
   */
  gemvQuantizedX?: { codes: GPUBuffer; scales: GPUBuffer };
  /**
   * The rows are gate/up pairs (pairRows): the GEMV writes h[t, j] = act(gate j) * up j into `h`
   * (T, N/2) instead of y (no bias, no accumulate); the gemm writes the pairs to y for SwiGLU (paired).
   */
  glu?: { h: GPUBuffer; act: GluAct };
  /**
   * What follows decode's GEMV, run by its last subgroup (shaders/matmul_tail.wgsl) instead of a dispatch: `norm`, the
   * RMSNorm of y (the residual stream: one token, N = yWidth, no yOffset) into norm.y, and/or `quantized`, that row (or
   * the GLU GEMV's h as it is) in Q8_0: the RMSNorm / SwiGLU kernels' bits. `count`: a zeroed u32 the GEMVs with a tail
   * share. Needs gemvTakesTail; not with gemvX.
   */
  tail?: { count: GPUBuffer; norm?: { weight: GPUBuffer; eps: number; y: GPUBuffer }; quantized?: { codes: GPUBuffer; scales: GPUBuffer } };
  /** The matmuls of stacked experts (ExpertRows, src/kernels/matmul_experts.ts): y and maxTokens count tokens. */
  experts?: ExpertRows;
}

/** Storage buffers a GEMV with a tail binds: x (2), weights (2), y, and the tail's count, weight, y, codes, scales (no bias). */
const TAIL_STORAGE_BUFFERS = 10;

/**
 * Whether decode's GEMV of `w` on this device can end in a tail (MatmulArgs.tail): CPU adapters only (the last subgroup
 * reads what the others wrote, an ordering WGSL does not promise but their threads' atomics give) with subgroups of 8
 * lanes or more (the tail's; SwiftShader's 4 decoded slower with tails than without), a matrix in one chunk, and room
 * for the tail's bindings.
 */
export function gemvTakesTail(caps: GpuCaps, w: Pick<GpuWeights, 'chunks'>): boolean {
  return caps.cpu && subgroupsOf8(caps) && w.chunks.length === 1 && caps.maxStorageBuffersPerStage >= TAIL_STORAGE_BUFFERS;
}

export interface MatmulDispatches {
  gemv: Dispatch[]; // for n_tokens == 1 (correct for any n, but slow; with gemvX or glu, 1 only)
  gemm: Dispatch[]; // for n_tokens > 1
  /** The launch variants used (after autotuning, when it ran). */
  tuning: MatmulTuning;
  /** Tokens one invocation of the GEMM takes ('rows' gemmTT, 'rows8' 8; 1 for the others): a pass of n costs one of a multiple of it. */
  tokenTile: number;
  /** q8, q4: x in Q8_0 as the quantize dispatch leaves it, (T, K/4) u32 codes and (T, K/32) f32 scales. */
  quantizedX?: { codes: GPUBuffer; scales: GPUBuffer };
}

/** Builds the dispatches once at load: the forward pass runs `gemv` for one token and `gemm` for more. */
export async function buildMatmul(gpu: Gpu, alloc: Allocator, a: MatmulArgs): Promise<MatmulDispatches> {
  const { w } = a;
  const { rows: N, cols: K } = w;
  const bad = (msg: string) => new EmberError('BAD_ARGUMENT', `matmul ${a.label} (${w.format}, ${N}x${K}): ${msg}`);
  if (!Number.isInteger(a.maxTokens) || a.maxTokens < 1) throw bad(`maxTokens must be a positive integer, got ${a.maxTokens}`);
  const yOffset = a.yOffset ?? 0;
  const yWidth = a.yWidth ?? a.experts?.rows ?? N;
  if (!(Number.isInteger(yOffset) && Number.isInteger(yWidth) && yOffset >= 0 && yOffset + (a.experts?.rows ?? N) <= yWidth)) {
    throw bad(`yOffset ${yOffset} + ${N} rows must fit in y rows of yWidth ${yWidth}`);
  }
  const need = (what: string, buf: GPUBuffer, bytes: number) => {
    if (buf.size < bytes) throw bad(`${what} needs ${bytes} bytes, the buffer has ${buf.size}`);
  };
  const ex = a.experts;
  // Rows of x and y per token: the expert GEMV's slots (x's too where it reads a row per slot).
  const xPer = ex?.xPerSlot ? ex.slots : 1, yPer = ex?.slots ?? 1;
  if (ex) checkExperts(w, a, bad);
  need('x', a.x, a.maxTokens * xPer * K * 4);
  if (!(ex && a.glu)) need('y', a.y, a.maxTokens * yPer * yWidth * 4); // (the expert GLU GEMV writes h alone)
  if (a.bias) need('bias', a.bias, N * 4);
  const spec = FORMATS[w.format];
  const q8 = spec.x === 'q8';
  if (hasScaleArray(w.format) && (w.chunks.some((c) => !c.scales) || !(w.group >= 1 && w.group <= K))) throw bad('quantized weights need their scales');
  // FLOAT_DOT is off where it changes nothing, so that no variant compiles a second copy of the same kernel.
  const floatDot = takesFloatDot(w.format);
  const tuned = { ...matmulTuning(gpu.caps, w.format), ...a.tuning };
  const defaults = floatDot ? tuned : { ...tuned, gemvFloat: false, gemmFloat: false };
  for (const k of ['gemvR', 'gemmR', 'gemmTT'] as const) {
    if (!(Number.isInteger(defaults[k]) && defaults[k] >= 1 && defaults[k] <= 4)) throw bad(`tuning.${k} must be 1..4, got ${defaults[k]}`);
  }
  for (const k of ['gemvXVec', 'gemmXVec'] as const) {
    if (![1, 4, 8].includes(defaults[k])) throw bad(`tuning.${k} (X_VEC) must be 1, 4 or 8, got ${defaults[k]}`);
  }
  const lanesFit = (t: MatmulTuning) => t.gemv !== 'split' || gemvLanesFit(gpu.caps, t.gemvWG, t.gemvLanes ?? t.gemvWG);
  if (defaults.gemvIters !== undefined && !(Number.isInteger(defaults.gemvIters) && defaults.gemvIters >= 1)) throw bad(`tuning.gemvIters must be a positive integer, got ${defaults.gemvIters}`);
  if (!lanesFit(defaults)) {
    throw bad(`tuning.gemvLanes ${defaults.gemvLanes} does not fit workgroups of ${defaults.gemvWG} (a divisor, and with subgroups a multiple of ${gpu.caps.subgroupMaxSize})`);
  }
  const raw = a.gemvX; // decode's x, read raw
  if (raw) {
    if (!gemvReadsRawX(w)) throw bad(`a GEMV reads x rows of at most ${GEMV_LOCAL_K} raw, K is ${K}`);
    need('gemvX.x', raw.x, a.maxTokens * K * 4);
    if (raw.norm) need('gemvX.norm.weight', raw.norm.weight, K * 4);
  }
  const gemvInput: MatmulInput = raw ? (q8 ? 'q8_local' : raw.norm ? 'f32_norm' : 'f32') : q8 ? 'q8' : 'f32';
  // The Q8_0 prologue quantizes a word a lane, a block's 8 words in one turn of the workgroup (matmul_in_q8_local.wgsl).
  const prologueFits = (t: MatmulTuning) => gemvInput !== 'q8_local' || t.gemvWG % 8 === 0;
  if (!prologueFits(defaults)) throw bad(`a GEMV that quantizes x itself needs workgroups of a multiple of 8 lanes, got ${defaults.gemvWG}`);
  if (a.glu) {
    if (a.bias || a.accumulate || yOffset !== 0 || yWidth !== (ex?.rows ?? N) || yWidth % 2) throw bad('a GLU matmul has gate/up row pairs, no bias, no accumulate, no y offset');
    if (w.chunks.some((c) => c.rowStart % 2 || c.rows % 2)) throw bad('a GLU matmul needs chunks of whole row pairs (uploadWeights rowAlign 2)');
    need('glu.h', a.glu.h, (a.maxTokens * yPer * (ex?.rows ?? N)) / 2 * 4);
  }
  const tail = a.tail;
  if (tail) {
    if (!gemvTakesTail(gpu.caps, w)) throw bad('a GEMV tail needs a CPU adapter with subgroups of 8, one chunk and room for its bindings (gemvTakesTail)');
    if (raw || yOffset !== 0 || yWidth !== N || a.bias) throw bad('a GEMV tail reads the whole y: no gemvX, no y offset, no bias');
    if (tail.norm && a.glu) throw bad('a GEMV tail normalises a residual row, not a GLU\'s h');
    if (!tail.norm && !tail.quantized) throw bad('a GEMV tail needs a norm or Q8_0 output');
    const n = a.glu ? N / 2 : N; // the row it reads
    if (tail.norm) {
      need('tail.norm.y', tail.norm.y, n * 4);
      need('tail.norm.weight', tail.norm.weight, n * 4);
    }
    if (tail.quantized) {
      if (n % 32) throw bad(`a GEMV tail writes Q8_0 of whole 32-blocks, its row is ${n}`);
      need('tail.quantized.codes', tail.quantized.codes, n);
      need('tail.quantized.scales', tail.quantized.scales, n / 8);
    }
  }
  // The GEMV variants that end in gemv_tail.
  const tailFits = (t: MatmulTuning) => !tail || t.gemv !== 'split';
  if (!tailFits(defaults)) throw bad(`a GEMV tail needs the rows or flat GEMV, not ${defaults.gemv}`);
  // Rows per invocation (rows) or workgroup (split) of the GEMV; with a GLU a pair of rows each.
  const pairedR = (r: number) => (a.glu ? r + (r % 2) : r); // a GLU's rows come in pairs
  const gemvR = (t: MatmulTuning) => (t.gemv === 'flat' ? 4 : pairedR(t.gemvR));
  // A split GEMV's lanes per group of rows (LANES), and so its groups per workgroup.
  const gemvLanes = (t: MatmulTuning) => t.gemvLanes ?? t.gemvWG;
  const gemvIters = (t: MatmulTuning) => (t.gemv === 'split' ? t.gemvIters ?? 1 : 1);
  const gemvGroups = (t: MatmulTuning) => (t.gemv === 'split' ? (t.gemvWG / gemvLanes(t)) * gemvIters(t) : t.gemvWG);
  const gemvGrid = (t: MatmulTuning, rows: number, n: number): [number, number] => [ceilDiv(rows, gemvGroups(t) * gemvR(t)), n];
  // Rows and tokens per invocation of the per-row GEMMs ('flat' is 'rows' at 4 x 4).
  // rows8 shares x through subgroups of 8 or more lanes (wide_lanes); where it cannot, it is rows.
  const gemmOf = (t: MatmulTuning) => (t.gemm === 'rows8' && !subgroupsOf8(gpu.caps) ? 'rows' : t.gemm);
  const gemmShape = (t: MatmulTuning) => {
    const gemm = gemmOf(t);
    return gemm === 'flat' ? { R: 4, TT: 4 } : gemm === 'rows8' ? { R: t.gemmR, TT: 8 } : { R: t.gemmR, TT: t.gemmTT };
  };
  const gemmGrid = (t: MatmulTuning, rows: number, n: number): [number, number] =>
    t.gemm === 'tiled'
      ? [ceilDiv(rows, GEMM_TILE.TN), ceilDiv(n, GEMM_TILE.TM)]
      : [ceilDiv(rows, t.gemmWG * gemmShape(t).R), ceilDiv(n, gemmShape(t).TT)];
  const maxGroups = gpu.caps.maxWorkgroupsPerDimension;
  // The expert GEMM's grid: tiles of the pass's padded rows (expertGroups), EXPERT_TILE a workgroup row.
  const nExperts = ex ? w.rows / ex.rows : 0;
  // (rows8 where the device takes it, else rows by 4: two workgroup rows a tile)
  const groupedTT = (t: MatmulTuning) => (gemmOf(t) === 'rows8' ? 8 : 4);
  const groupedR = (t: MatmulTuning) => pairedR(t.gemmR);
  const groupedGrid = (t: MatmulTuning, n: number): [number, number] =>
    [ceilDiv(ex!.rows, t.gemmWG * groupedR(t)), (expertGroups(n, ex!.slots, nExperts).tiles * EXPERT_TILE) / groupedTT(t)];
  const grids = (t: MatmulTuning) =>
    w.chunks.flatMap((c) => (ex ? [gemvGrid(t, ex.rows, a.maxTokens * ex.slots), ...(ex.groups ? [groupedGrid(t, a.maxTokens)] : [])] : [gemvGrid(t, c.rows, a.maxTokens), gemmGrid(t, c.rows, a.maxTokens)]));
  for (const [x, y] of grids(defaults)) {
    if (x > maxGroups || y > maxGroups) throw bad(`a grid of ${x} x ${y} workgroups exceeds the device's ${maxGroups} per dimension`);
  }
  const fits = (t: MatmulTuning) => grids(t).every(([x, y]) => x <= maxGroups && y <= maxGroups);

  const family = `matmul_${w.format}`;
  // The shader text of each list: its input, and the view of f32 x that its x load width takes.
  const xVecOf = (v: XVec) => effectiveXVec(w.format, K, v, gpu.caps);
  const codeOf = (input: MatmulInput, xVec: XVec, withTail = false, experts: 'slots' | 'grouped' | undefined = ex ? 'slots' : undefined) =>
    decoderShader(gpu.caps, w, matmulSkeleton(withTail ? { roundF16: spec.x === 'f16' } : undefined, experts), input, xVec);
  const gemmInput: MatmulInput = q8 ? 'q8' : 'f32';
  // E4M3 weights without NaN codes decode without checking for them (shaders/fp8_codes.wgsl), or by f32 bits where the
  // tuning takes that (FP8_BITS).
  const fmtOf = (t: MatmulTuning) => ({
    ...weightConstants(w),
    ...(w.format === 'fp8e4m3' && w.nanCodes === false ? { FP8_NAN: 0 } : {}),
    ...(w.fp8Bits && t.fp8Bits ? { FP8_BITS: 1 } : {}),
    ...((w.format === 'iq4_nl' || w.format === 'iq4_xs') && t.iq4Selects ? { IQ4_SELECTS: 1 } : {}),
  });
  const quantizeGemm = q8 && !a.quantizedX; // x to Q8_0 first
  const gemvQ = a.gemvQuantizedX;
  if (gemvQ) {
    if (!q8 || raw) throw bad('gemvQuantizedX is for a q8/q4 GEMV that does not read x raw (gemvX)');
    need('gemvQuantizedX.codes', gemvQ.codes, K);
    need('gemvQuantizedX.scales', gemvQ.scales, K / 8);
  }
  const quantizeGemv = gemvInput === 'q8' && !a.quantizedX && !gemvQ;
  // SwiftShader's flat kernels widen the GGUF planes' codes by multiplies (MUL_WIDEN, shaders/weights/planes.wgsl).
  const planes = (GGUF_FORMATS as readonly string[]).includes(w.format);
  const gemvXVec = (t: MatmulTuning) => (t.gemv === 'rows' ? xVecOf(t.gemvXVec) : 1); // X_VEC: rows only
  const gemmXVec = (t: MatmulTuning) => (gemmOf(t) === 'rows' ? xVecOf(t.gemmXVec) : 1);
  const pipelineOf = (path: 'gemv' | 'gemm', t: MatmulTuning) =>
    path === 'gemv'
      ? getPipeline(gpu, family, codeOf(gemvInput, gemvXVec(t), !!tail), GEMV_ENTRY[t.gemv], {
          WG: t.gemvWG,
          R: gemvR(t),
          LANES: t.gemv === 'split' ? gemvLanes(t) : t.gemvWG,
          ROW_ITERS: gemvIters(t),
          WARP: +(t.gemv === 'split' && laneGroupIsSubgroup(gpu.caps, gemvLanes(t))),
          TT: 1,
          FLOAT_DOT: +(t.gemv !== 'split' && t.gemvFloat),
          MUL_WIDEN: +(t.gemv === 'flat' && planes),
          X_VEC: gemvXVec(t),
          ...(tail ? { TAIL_NORM: +!!tail.norm, TAIL_Q8: +!!tail.quantized } : {}),
          ...fmtOf(t),
        })
      : ex
        ? getPipeline(gpu, family, codeOf(gemmInput, groupedTT(t) === 8 ? 1 : xVecOf(t.gemmXVec), false, 'grouped'), groupedTT(t) === 8 ? 'rows8' : 'rows', {
            WG: t.gemmWG, R: groupedR(t), TT: groupedTT(t), FLOAT_DOT: +t.gemmFloat, X_VEC: groupedTT(t) === 8 ? 1 : xVecOf(t.gemmXVec), ...fmtOf(t),
          })
      : t.gemm === 'tiled'
        ? getPipeline(gpu, family, codeOf(gemmInput, 1), 'gemm', { ...GEMM_TILE, ...fmtOf(t) })
        : getPipeline(gpu, family, codeOf(gemmInput, gemmXVec(t)), GEMM_ENTRY[gemmOf(t) as 'rows' | 'rows8' | 'flat'], {
            WG: t.gemmWG,
            ...gemmShape(t),
            FLOAT_DOT: +t.gemmFloat,
            MUL_WIDEN: +(gemmOf(t) === 'flat' && planes),
            X_VEC: gemmXVec(t),
            ...fmtOf(t),
          });

  let quantize: Dispatch | null = null;
  let xBindings: Binding[] = [a.x, null];
  let quantizedX: MatmulDispatches['quantizedX'];
  if (quantizeGemm) {
    const quantPipe = await getPipeline(gpu, 'matmul_quantize_x', shaderText(quantizeSource, {}, Q8_BLOCK_LIB), 'main', { WG: QUANTIZE_WG });
    // Scratch for x in Q8_0, shared by every chunk.
    // (x of an expert GEMV with a row per slot: a token's slots as one row, its blocks the same.)
    const xq = alloc.storage(`${a.label}.xq`, a.maxTokens * xPer * K); // (T, K/4) u32
    const xd = alloc.storage(`${a.label}.xd`, (a.maxTokens * xPer * K) / 8); // (T, K/32) f32
    const params = staticUniform(alloc, `${a.label}.quantize_params`, QUANTIZE_PARAMS, { K: K * xPer, pad0: 0, pad1: 0, pad2: 0 });
    const blocks = (K * xPer) / 32;
    quantize = {
      label: 'matmul_quantize_x/q8',
      pipeline: quantPipe,
      bindGroup: bindGroup(alloc, `${a.label}.quantize_x`, quantPipe, [params, a.step, a.x, xq, xd]),
      grid: (n) => [ceilDiv(blocks, QUANTIZE_WG), n],
    };
    xBindings = [xq, xd];
    quantizedX = { codes: xq, scales: xd };
  } else if (q8 && a.quantizedX) {
    // The producer of x (RMSNorm, SwiGLU) already wrote it in Q8_0: one dispatch fewer.
    need('quantizedX.codes', a.quantizedX.codes, a.maxTokens * xPer * K);
    need('quantizedX.scales', a.quantizedX.scales, (a.maxTokens * xPer * K) / 8);
    xBindings = [a.quantizedX.codes, a.quantizedX.scales];
    quantizedX = a.quantizedX;
  }
  // The GEMV's x: raw f32 x and the norm weight (a dummy, never read, when there is no norm), or as the gemm's.
  const gemvXBindings: Binding[] = raw
    ? [raw.x, raw.norm?.weight ?? (q8 ? alloc.storage(`${a.label}.nonorm`, 4) : null)]
    : gemvQ ? [gemvQ.codes, gemvQ.scales] : xBindings;
  const bias = a.bias ?? alloc.storage(`${a.label}.nobias`, 4); // bound, never read (has_bias is 0)
  const experts = ex && { ...ex, all: nExperts, orderAt: expertGroups(a.maxTokens, ex.slots, nExperts).tiles };
  const opts = { N: yWidth, yOffset, bias: !!a.bias, accumulate: a.accumulate, outScale: a.outScale, experts };
  const gemvOpts = { ...opts, normEps: raw?.norm?.eps, glu: a.glu?.act, tailEps: tail?.norm?.eps };
  const fused = raw?.norm || a.glu || tail;
  // (the expert GEMM writes h from the gate/up pairs, as the GEMV does)
  const params = w.chunks.map((c, i) => staticUniform(alloc, `${a.label}.params[${i}]`, MATMUL_PARAMS, chunkParams(w, c, ex ? gemvOpts : opts)));
  const gemvParams = fused ? w.chunks.map((c, i) => staticUniform(alloc, `${a.label}.gemv_params[${i}]`, MATMUL_PARAMS, chunkParams(w, c, gemvOpts))) : params;
  // One list of a path and variant: a dispatch per chunk. Bindings: 0 params, 1 step, 2-3 x (f32 x, or
  // Q8_0 codes and scales, or f32 x and the norm weight), 4-5 codes and scales, 6 bias, 7 y (the GLU
  // GEMV: h), 8-12 the tail's count, norm weight and y, codes and scales (dummies for what it does not write). A trial
  // binds its own step and y.
  const dummy = (name: string) => alloc.storage(`${a.label}.tail_no_${name}`, 16);
  const tailBindings: Binding[] = tail
    ? [tail.count, tail.norm?.weight ?? dummy('w'), tail.norm?.y ?? dummy('y'), tail.quantized?.codes ?? dummy('q'), tail.quantized?.scales ?? dummy('d')]
    : [];
  const listOf = async (path: 'gemv' | 'gemm', t: MatmulTuning, trial?: { step: GPUBuffer; y: GPUBuffer }): Promise<Dispatch[]> => {
    const pipeline = await pipelineOf(path, t);
    return w.chunks.map((c, i) => {
      const step = trial?.step ?? a.step;
      const weights: Binding[] = [c.data, c.scales ?? null];
      const entries: Binding[] = path === 'gemv'
        ? [gemvParams[i], step, ...gemvXBindings, ...weights, tail ? null : bias, trial?.y ?? a.glu?.h ?? a.y, ...tailBindings, ...(ex ? [ex.ids] : [])]
        : [params[i], step, ...xBindings, ...weights, bias, trial?.y ?? (ex ? a.glu?.h : undefined) ?? a.y, ...(ex?.groups ? [ex.groups] : [])];
      const name = `${a.label}.${path}[${i}]`;
      return {
        label: path === 'gemv' ? `${family}/gemv${ex ? '_experts' : ''}${raw?.norm ? '_norm' : ''}${a.glu ? '_glu' : ''}${tail ? (tail.norm ? '_tailnorm' : '_tailq8') : ''}` : `${family}/gemm${ex ? '_experts' : ''}`,
        pipeline,
        bindGroup: trial ? uncountedBindGroup(gpu, name, pipeline, entries) : bindGroup(alloc, name, pipeline, entries),
        grid: (n: number) => (ex ? (path === 'gemv' ? gemvGrid(t, ex.rows, n * ex.slots) : groupedGrid(t, n)) : path === 'gemv' ? gemvGrid(t, c.rows, n) : gemmGrid(t, c.rows, n)),
      };
    });
  };

  let tune = defaults;
  if (a.autotune && !ex) {
    for (const path of ['gemv', 'gemm'] as const) {
      if (a.tuning?.[path] || (path === 'gemm' && a.maxTokens === 1) || (path === 'gemv' && a.autotune === 'prefill')) continue; // fixed by the caller, or never run
      const cands = candidates(defaults, path, floatDot, splitLanes(gpu.caps)).filter((v) => [fits, lanesFit, prologueFits, tailFits].every((ok) => ok({ ...defaults, ...v })));
      const key = `${w.format}${w.halfScales ? ' f16-scales' : ''}${w.wideCodes ? ' wide' : ''}${w.offsetCodes ? ' offset' : ''} K=${K} N=${N} g=${w.group} ${path}${path === 'gemv' ? ` in=${gemvInput}${a.glu ? ' glu' : ''}` : ''}`;
      const T = path === 'gemv' ? 1 : Math.min(a.maxTokens, gemmTrialTokens(gpu.caps));
      const chosen = await chooseVariant(gpu, key, path, T, T * yWidth * 4, cands, (v, trial) => listOf(path, { ...defaults, ...v }, trial));
      tune = { ...tune, ...chosen };
    }
  }
  const gemmRuns = !ex || !!ex.groups; // (else the expert GEMV runs the prefill too)
  const gemvRuns = a.decodes !== false || !gemmRuns;
  const [gemvList, gemmList] = await Promise.all([gemvRuns ? listOf('gemv', tune) : [], gemmRuns ? listOf('gemm', tune) : null]);
  const gemv = gemvList.length ? [...(quantize && quantizeGemv ? [quantize] : []), ...gemvList] : [];
  const gemm = [...(quantize ? [quantize] : []), ...(gemmList ?? gemvList)];
  const gemmTile = !ex && (gemmOf(tune) === 'rows' || gemmOf(tune) === 'rows8') ? gemmShape(tune).TT : 1;
  return { gemv, gemm, quantizedX, tuning: tune, tokenTile: gemmTile };
}

