import skeletonSource from '../../shaders/matmul.wgsl?raw';
import xF32Source from '../../shaders/matmul_x_f32.wgsl?raw';
import xQ8Source from '../../shaders/matmul_x_q8.wgsl?raw';
import inF32Source from '../../shaders/matmul_in_f32.wgsl?raw';
import inF32NormSource from '../../shaders/matmul_in_f32_norm.wgsl?raw';
import inQ8Source from '../../shaders/matmul_in_q8.wgsl?raw';
import inQ8LocalSource from '../../shaders/matmul_in_q8_local.wgsl?raw';
import quantizeSource from '../../shaders/matmul_quantize_x.wgsl?raw';
import commonSource from '../../shaders/matmul_common.wgsl?raw';
import { GLU_LIB, Q8_BLOCK_LIB, RMS_LIB, ROUND_F16_LIB } from './wgsl_lib.ts';
import { EmberError } from '../errors.ts';
import type { Gpu, GpuCaps } from '../gpu/device.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { getPipeline, shaderText } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { bindGroup, ceilDiv, staticUniform, uncountedBindGroup, type Binding, type Dispatch } from './dispatch.ts';
import { candidates, chooseVariant, GEMM_TRIAL_TOKENS } from './autotune.ts';
import { decoderOf, FORMATS, isFp8, type WeightFormat } from './weight_formats.ts';

/**
 * y[t, n] (+)= sum_k W[n, k] x[t, k] (+ bias[n]) for every weight format, on one design: the access
 * patterns (decode GEMV, split GEMV, tiled GEMM) are written once (shaders/matmul.wgsl), and a format
 * is a decoder (shaders/weights/<format>.wgsl, FORMATS in weight_formats.ts) joined to them as text at
 * load, with the x mode it takes: Q8_0 x for q8 and q4 (llama.cpp's CPU numerics, x quantized first by
 * shaders/matmul_quantize_x.wgsl), f32 x for everything else (f16 rounds x to f16 as llama.cpp does).
 * Decode's GEMV fuses what feeds it and what follows (fewer dispatches per token): its prologue reads x
 * raw and RMS-normalises it and/or quantizes it to Q8_0 itself (`gemvX`, shaders/matmul_in_*.wgsl), and
 * its epilogue can write SwiGLU's h from gate/up row pairs (`glu`), each bit for bit what the separate
 * kernels give. Pipelines, uniforms, scratch and bind groups are all made in `buildMatmul`, at load.
 */

export { WEIGHT_FORMATS, GGUF_FORMATS, type WeightFormat } from './weight_formats.ts';
export { matmulTuning, takesFloatDot, type MatmulTuning, type XVec } from './matmul_tuning.ts';
import { matmulTuning, subgroupsOf8, takesFloatDot, type MatmulTuning, type XVec } from './matmul_tuning.ts';

export {
  gpuRowWords,
  pairedScales,
  rowScales,
  rowTileFor,
  scaleLayoutOf,
  scalesPerRow,
  uploadWeights,
  type GpuWeights,
  type ScaleLayout,
  type WeightChunk,
  type WeightData,
} from './matmul_weights.ts';
import { hasScaleArray, type GpuWeights, type WeightChunk, type WeightData } from './matmul_weights.ts';


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
  ['glu', 'u32'], // 0: y = the rows; 1 + act (0 silu, 1 tanh GELU): y = h = act(gate) * up of row pairs
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
  glu?: GluAct;
}
export function chunkParams(w: Pick<GpuWeights, 'rows' | 'cols' | 'group'>, c: Pick<WeightChunk, 'rowStart' | 'rows'>, o: ChunkOptions = {}) {
  return {
    N: o.N ?? w.rows,
    K: w.cols,
    row_start: c.rowStart,
    rows: c.rows,
    has_bias: o.bias ? 1 : 0,
    accumulate: o.accumulate ? 1 : 0,
    group: w.group,
    groups: ceilDiv(w.cols, w.group),
    y_offset: o.yOffset ?? 0,
    x_norm: o.normEps === undefined ? 0 : 1,
    eps: o.normEps ?? 0,
    glu: o.glu === undefined ? 0 : 1 + GLU_ACTS[o.glu],
  };
}

export const QUANTIZE_PARAMS = new UniformLayout('QuantizeParams', [
  ['K', 'u32'],
  ['pad0', 'u32'],
  ['pad1', 'u32'],
  ['pad2', 'u32'],
] as const);

/** The matmul shader parts (for the uniform-layout test and documentation). */
export const MATMUL_COMMON_SOURCE = commonSource;
export const MATMUL_SOURCES = {
  matmul: skeletonSource,
  matmul_x_f32: xF32Source,
  matmul_x_q8: xQ8Source,
  matmul_in_f32: inF32Source,
  matmul_in_f32_norm: inF32NormSource,
  matmul_in_q8: inQ8Source,
  matmul_in_q8_local: inQ8LocalSource,
  matmul_quantize_x: quantizeSource,
} as const;

/**
 * Where x's words come from (shaders/matmul_in_*.wgsl): a buffer of f32 x or of Q8_0 x, or for the GEMV
 * f32 x read raw and RMS-normalised as it is read (f32_norm), or quantized to Q8_0, normalised first or
 * not, in the prologue (q8_local).
 */
export type MatmulInput = 'f32' | 'f32_norm' | 'q8' | 'q8_local';
const INPUTS: Record<MatmulInput, string> = {
  f32: inF32Source,
  f32_norm: `${RMS_LIB}\n${inF32NormSource}`,
  q8: inQ8Source,
  q8_local: `${RMS_LIB}\n${Q8_BLOCK_LIB}\n${inQ8LocalSource}`,
};
/**
 * How the f32 inputs (f32, f32_norm) bind x and the norm weight: as f32, or as vec4<f32> for X_VEC 4 (one
 * vec4 load per quad; needs K % 4 == 0, so that rows start on vec4s and the buffers are whole vec4s).
 */
function xView(xVec: XVec, arrays: readonly string[]): string {
  const fns = (a: string) =>
    xVec === 4
      ? `fn ${a}_f(i: u32) -> f32 { return ${a}[i / 4u][i % 4u]; }\n` + `fn ${a}_f4(i: u32) -> vec4<f32> { return ${a}[i / 4u]; }`
      : `fn ${a}_f(i: u32) -> f32 { return ${a}[i]; }\n` +
        `fn ${a}_f4(i: u32) -> vec4<f32> { return vec4<f32>(${a}[i], ${a}[i + 1u], ${a}[i + 2u], ${a}[i + 3u]); }`;
  return [`alias XE = ${xVec === 4 ? 'vec4<f32>' : 'f32'};`, ...arrays.map(fns)].join('\n');
}
/**
 * The X_VEC a matmul of `format`, rows K long, takes when asked for `xVec`: 1 where f32 x rows are not whole vec4s
 * (for 4), and where x is not Q8_0 (whole 32-blocks, so that 8 words never run past a row) or the subgroups may
 * have fewer than 8 lanes (for 8).
 */
export function effectiveXVec(format: WeightFormat, K: number, xVec: XVec, caps: Pick<GpuCaps, 'subgroups' | 'subgroupMinSize'>): XVec {
  const q8 = FORMATS[format].x === 'q8';
  if (xVec === 8) return q8 && subgroupsOf8(caps) ? 8 : 1;
  return !q8 && K % 4 ? 1 : xVec;
}

/** The longest row of x a q8_local GEMV takes (its workgroup memory; LOCAL_K in matmul_in_q8_local.wgsl). */
export const GEMV_LOCAL_K = 8192;

/** Whether decode's GEMV of `w` can read x raw (normalise and quantize it in its prologue). */
export function gemvReadsRawX(w: Pick<GpuWeights | WeightData, 'format' | 'cols'>): boolean {
  return FORMATS[w.format].x !== 'q8' || w.cols <= GEMV_LOCAL_K;
}

/**
 * `name(v, l)`: lane l's v (l < 8), by subgroupBroadcast, whose lane must be a constant: a switch that folds once the
 * caller's loop over l unrolls.
 */
function laneValue(name: string, type: string): string {
  const cases = Array.from({ length: 7 }, (_, l) => `    case ${l}u: { return subgroupBroadcast(v, ${l}u); }`);
  return `fn ${name}(v: ${type}, l: u32) -> ${type} {
  switch l {
${cases.join('\n')}
    default: { return subgroupBroadcast(v, 7u); }
  }
}`;
}

/**
 * The few functions whose WGSL must differ with the device (WGSL has no #if, and a builtin a device
 * lacks may not even be named): chosen from caps, prepended to every matmul shader.
 */
export function matmulVariantHeader(caps: Pick<GpuCaps, 'subgroups' | 'dot4I8'>): string {
  const dot4 = caps.dot4I8
    ? 'fn dot4i8(a: u32, b: u32) -> i32 { return dot4I8Packed(a, b); }'
    : `fn dot4i8(a: u32, b: u32) -> i32 {
  let ia = bitcast<i32>(a);
  let ib = bitcast<i32>(b);
  return extractBits(ia, 0u, 8u) * extractBits(ib, 0u, 8u) + extractBits(ia, 8u, 8u) * extractBits(ib, 8u, 8u)
       + extractBits(ia, 16u, 8u) * extractBits(ib, 16u, 8u) + extractBits(ia, 24u, 8u) * extractBits(ib, 24u, 8u);
}`;
  // rows: every lane needs the same words of x, and a lane's loads are not merged across lanes on
  // CPU SIMD (each active lane issues its own). With subgroups (at least 4 wide in WebGPU), lanes share
  // (lane: the index in the subgroup, counted while every invocation is active). X_VEC 1: each lane loads
  // word k + lane % 4 of a piece and the 4 are broadcast. X_VEC 4: x_fetch has lanes 0-3 load 4 pieces'
  // quads (one vec4 load each where the view allows), the other lanes' loads masked off (on CPU SIMD a
  // masked lane issues no load: half the loads of an 8-wide group, for a branch), and x_shared hands
  // piece v its quad by shuffle. X_VEC 8 (subgroups of 8 or more): x_fetch has lane l load word l % 8 of
  // two pieces (held in .x), and x_shared broadcasts piece v's half. rows8 (subgroups of 8 or more): lane l loads
  // token l's piece and block scale, and x_lane_quad / x_lane_scale hand token i lane i's (a constant lane once
  // the token loop unrolls). Without subgroups each lane loads all it needs itself.
  const share = caps.subgroups
    ? `fn subgroup_lane() -> u32 { return subgroupExclusiveAdd(1u); }
fn x_fetch(t: u32, k: u32, lane: u32, n: u32) -> vec4<u32> {
  if (X_VEC == 8u) { return vec4<u32>(x_word(t, k + (lane & 7u)), 0u, 0u, 0u); }
  var q = vec4<u32>();
  if (lane < n) { q = x_quad(t, k + 4u * lane); }
  return q;
}
// Lanes first .. first + 3's v (first 0 or 4: constant lanes, as subgroupBroadcast needs).
fn x_broadcast4(v: u32, first: u32) -> vec4<u32> {
  let lo = vec4<u32>(subgroupBroadcast(v, 0u), subgroupBroadcast(v, 1u), subgroupBroadcast(v, 2u), subgroupBroadcast(v, 3u));
  if (first == 0u) { return lo; }
  return vec4<u32>(subgroupBroadcast(v, 4u), subgroupBroadcast(v, 5u), subgroupBroadcast(v, 6u), subgroupBroadcast(v, 7u));
}
${laneValue('x_lane_scale', 'f32')}
${laneValue('x_lane_quad', 'vec4<u32>')}
fn x_shared(held: vec4<u32>, t: u32, k: u32, lane: u32) -> vec4<u32> {
  if (X_VEC == 4u) { return subgroupShuffle(held, ((k % XW) / 4u) & 3u); }
  if (X_VEC == 8u) { return x_broadcast4(held.x, k & 4u); }
  return x_broadcast4(x_word(t, k + (lane & 3u)), 0u);
}`
    : `fn subgroup_lane() -> u32 { return 0u; }
fn x_fetch(t: u32, k: u32, lane: u32, n: u32) -> vec4<u32> { return vec4<u32>(); }
fn x_shared(held: vec4<u32>, t: u32, k: u32, lane: u32) -> vec4<u32> { return x_quad(t, k); }
fn x_lane_scale(s: f32, l: u32) -> f32 { return s; }
fn x_lane_quad(h: vec4<u32>, l: u32) -> vec4<u32> { return h; }`;
  // gemv_split's reduction: with subgroups, each lane holds its subgroup's sum and the workgroup step
  // adds one lane per subgroup, taking subgroups to be runs of consecutive invocation indices (as every
  // implementation lays out a 1D workgroup); without, every lane's partial.
  const lanes = caps.subgroups
    ? 'fn lanes_partial(v: f32) -> f32 { return subgroupAdd(v); }\nfn lanes_stride() -> u32 { return subgroupAdd(1u); }'
    : 'fn lanes_partial(v: f32) -> f32 { return v; }\nfn lanes_stride() -> u32 { return 1u; }';
  return [dot4, share, lanes].join('\n');
}

/**
 * A format's decoder with what it needs in front of it: the variant header, the x mode (and, for f16
 * weights, x rounded to f16), MatmulParams. The matmul puts its skeleton after it with an input (`input`;
 * default: x from a buffer), the embedding its gather.
 */
export function decoderShader(
  caps: Pick<GpuCaps, 'subgroups' | 'dot4I8'>,
  weights: WeightFormat | Pick<GpuWeights, 'format' | 'halfScales'>, // a format, or uploaded weights (their decoder)
  main: string,
  input?: MatmulInput,
  xVec: XVec = 1, // the view of f32 x (xView)
): string {
  const w = typeof weights === 'string' ? { format: weights } : weights;
  const format = w.format;
  const f = FORMATS[format];
  const q8 = f.x === 'q8';
  // FP8 with FP8_BITS (shaders/weights/fp8.wgsl): x in units of 2^-60, half of what fp8x4_bits's codes need.
  const round =
    f.x === 'f16'
      ? `${ROUND_F16_LIB}\nfn x_round(v: vec4<f32>) -> vec4<f32> { return round_f16(v); }`
      : isFp8(format)
        ? 'fn x_round(v: vec4<f32>) -> vec4<f32> { return select(v, v * BITS_UNIT, FP8_BITS); }'
        : 'fn x_round(v: vec4<f32>) -> vec4<f32> { return v; }';
  const inp = input ?? (q8 ? 'q8' : 'f32');
  if (q8 !== inp.startsWith('q8')) throw new Error(`matmul input ${inp} does not fit ${format}'s x mode ${f.x}`);
  const view = inp === 'f32' ? xView(xVec, ['x']) : inp === 'f32_norm' ? xView(xVec, ['x', 'nw']) : '';
  const xMode = `${q8 ? xQ8Source : `${xF32Source}\n${round}`}\n${view}\n${INPUTS[inp]}`;
  // No f16 arithmetic: f16 weights are widened exactly with unpack2x16float, x is rounded by bit operations.
  return shaderText(commonSource, { subgroups: caps.subgroups }, matmulVariantHeader(caps), xMode, decoderOf(w), main);
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
  step: GPUBuffer; // the Step uniform
  maxTokens: number; // the most tokens one forward pass runs (sizes the q8/q4 scratch)
  tuning?: Partial<MatmulTuning>;
  /**
   * Pick each list's launch variant by a short timed trial (src/kernels/autotune.ts), among the
   * GPU-style and CPU-SIMD layouts, for the paths `tuning` does not fix; cached per adapter and shape.
   */
  autotune?: boolean;
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
  const yWidth = a.yWidth ?? N;
  if (!(Number.isInteger(yOffset) && Number.isInteger(yWidth) && yOffset >= 0 && yOffset + N <= yWidth)) {
    throw bad(`yOffset ${yOffset} + ${N} rows must fit in y rows of yWidth ${yWidth}`);
  }
  const need = (what: string, buf: GPUBuffer, bytes: number) => {
    if (buf.size < bytes) throw bad(`${what} needs ${bytes} bytes, the buffer has ${buf.size}`);
  };
  need('x', a.x, a.maxTokens * K * 4);
  need('y', a.y, a.maxTokens * yWidth * 4);
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
  const raw = a.gemvX; // decode's x, read raw
  if (raw) {
    if (!gemvReadsRawX(w)) throw bad(`a GEMV reads x rows of at most ${GEMV_LOCAL_K} raw, K is ${K}`);
    need('gemvX.x', raw.x, a.maxTokens * K * 4);
    if (raw.norm) need('gemvX.norm.weight', raw.norm.weight, K * 4);
  }
  const gemvInput: MatmulInput = raw ? (q8 ? 'q8_local' : raw.norm ? 'f32_norm' : 'f32') : q8 ? 'q8' : 'f32';
  if (a.glu) {
    if (a.bias || a.accumulate || yOffset !== 0 || yWidth !== N || N % 2) throw bad('a GLU matmul has gate/up row pairs, no bias, no accumulate, no y offset');
    if (w.chunks.some((c) => c.rowStart % 2 || c.rows % 2)) throw bad('a GLU matmul needs chunks of whole row pairs (uploadWeights rowAlign 2)');
    need('glu.h', a.glu.h, (a.maxTokens * N) / 2 * 4);
  }
  // Rows per invocation (rows) or workgroup (split) of the GEMV; with a GLU a pair of rows each.
  const gemvR = (t: MatmulTuning) => (t.gemv === 'flat' ? 4 : a.glu ? t.gemvR + (t.gemvR % 2) : t.gemvR);
  const gemvGrid = (t: MatmulTuning, rows: number, n: number): [number, number] => [ceilDiv(rows, t.gemv === 'split' ? gemvR(t) : t.gemvWG * gemvR(t)), n];
  // Rows and tokens per invocation of the per-row GEMMs ('flat' is 'rows' at 4 x 4).
  // rows8 shares x through subgroups of 8 or more lanes (x_lane_quad); where it cannot, it is rows.
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
  const grids = (t: MatmulTuning) => w.chunks.flatMap((c) => [gemvGrid(t, c.rows, a.maxTokens), gemmGrid(t, c.rows, a.maxTokens)]);
  for (const [x, y] of grids(defaults)) {
    if (x > maxGroups || y > maxGroups) throw bad(`a grid of ${x} x ${y} workgroups exceeds the device's ${maxGroups} per dimension`);
  }
  const fits = (t: MatmulTuning) => grids(t).every(([x, y]) => x <= maxGroups && y <= maxGroups);

  const family = `matmul_${w.format}`;
  const main = `${GLU_LIB}\n${skeletonSource}`;
  // The shader text of each list: its input, and the view of f32 x that its x load width takes.
  const xVecOf = (v: XVec) => effectiveXVec(w.format, K, v, gpu.caps);
  const codeOf = (input: MatmulInput, xVec: XVec) => decoderShader(gpu.caps, w, main, input, xVec);
  const gemmInput: MatmulInput = q8 ? 'q8' : 'f32';
  // E4M3 weights without NaN codes decode without checking for them (shaders/fp8_codes.wgsl), or by f32 bits where the
  // tuning takes that (FP8_BITS).
  const fmtOf = (t: MatmulTuning) => ({
    ...weightConstants(w),
    ...(w.format === 'fp8e4m3' && w.nanCodes === false ? { FP8_NAN: 0 } : {}),
    ...(w.fp8Bits && t.fp8Bits ? { FP8_BITS: 1 } : {}),
  });
  const quantizeGemm = q8 && !a.quantizedX; // x to Q8_0 first
  const gemvQ = a.gemvQuantizedX;
  if (gemvQ) {
    if (!q8 || raw) throw bad('gemvQuantizedX is for a q8/q4 GEMV that does not read x raw (gemvX)');
    need('gemvQuantizedX.codes', gemvQ.codes, K);
    need('gemvQuantizedX.scales', gemvQ.scales, K / 8);
  }
  const quantizeGemv = gemvInput === 'q8' && !a.quantizedX && !gemvQ;
  const gemvXVec = (t: MatmulTuning) => (t.gemv === 'rows' ? xVecOf(t.gemvXVec) : 1); // X_VEC: rows only
  const gemmXVec = (t: MatmulTuning) => (gemmOf(t) === 'rows' ? xVecOf(t.gemmXVec) : 1);
  const pipelineOf = (path: 'gemv' | 'gemm', t: MatmulTuning) =>
    path === 'gemv'
      ? getPipeline(gpu, family, codeOf(gemvInput, gemvXVec(t)), GEMV_ENTRY[t.gemv], {
          WG: t.gemvWG,
          R: gemvR(t),
          TT: 1,
          FLOAT_DOT: +(t.gemv === 'rows' && t.gemvFloat),
          X_VEC: gemvXVec(t),
          ...fmtOf(t),
        })
      : t.gemm === 'tiled'
        ? getPipeline(gpu, family, codeOf(gemmInput, 1), 'gemm', { ...GEMM_TILE, ...fmtOf(t) })
        : getPipeline(gpu, family, codeOf(gemmInput, gemmXVec(t)), GEMM_ENTRY[gemmOf(t) as 'rows' | 'rows8' | 'flat'], {
            WG: t.gemmWG,
            ...gemmShape(t),
            FLOAT_DOT: +t.gemmFloat,
            X_VEC: gemmXVec(t),
            ...fmtOf(t),
          });

  let quantize: Dispatch | null = null;
  let xBindings: Binding[] = [a.x, null];
  let quantizedX: MatmulDispatches['quantizedX'];
  if (quantizeGemm) {
    const quantPipe = await getPipeline(gpu, 'matmul_quantize_x', shaderText(quantizeSource, {}, Q8_BLOCK_LIB), 'main', { WG: QUANTIZE_WG });
    // Scratch for x in Q8_0, shared by every chunk.
    const xq = alloc.storage(`${a.label}.xq`, a.maxTokens * K); // (T, K/4) u32
    const xd = alloc.storage(`${a.label}.xd`, (a.maxTokens * K) / 8); // (T, K/32) f32
    const params = staticUniform(alloc, `${a.label}.quantize_params`, QUANTIZE_PARAMS, { K, pad0: 0, pad1: 0, pad2: 0 });
    const blocks = K / 32;
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
    need('quantizedX.codes', a.quantizedX.codes, a.maxTokens * K);
    need('quantizedX.scales', a.quantizedX.scales, (a.maxTokens * K) / 8);
    xBindings = [a.quantizedX.codes, a.quantizedX.scales];
    quantizedX = a.quantizedX;
  }
  // The GEMV's x: raw f32 x and the norm weight (a dummy, never read, when there is no norm), or as the gemm's.
  const gemvXBindings: Binding[] = raw
    ? [raw.x, raw.norm?.weight ?? (q8 ? alloc.storage(`${a.label}.nonorm`, 4) : null)]
    : gemvQ ? [gemvQ.codes, gemvQ.scales] : xBindings;
  const bias = a.bias ?? alloc.storage(`${a.label}.nobias`, 4); // bound, never read (has_bias is 0)
  const opts = { N: yWidth, yOffset, bias: !!a.bias, accumulate: a.accumulate };
  const gemvOpts = { ...opts, normEps: raw?.norm?.eps, glu: a.glu?.act };
  const fused = raw?.norm || a.glu;
  const params = w.chunks.map((c, i) => staticUniform(alloc, `${a.label}.params[${i}]`, MATMUL_PARAMS, chunkParams(w, c, opts)));
  const gemvParams = fused ? w.chunks.map((c, i) => staticUniform(alloc, `${a.label}.gemv_params[${i}]`, MATMUL_PARAMS, chunkParams(w, c, gemvOpts))) : params;
  // One list of a path and variant: a dispatch per chunk. Bindings: 0 params, 1 step, 2-3 x (f32 x, or
  // Q8_0 codes and scales, or f32 x and the norm weight), 4-5 codes and scales, 6 bias, 7 y (the GLU
  // GEMV: h). A trial binds its own step and y.
  const listOf = async (path: 'gemv' | 'gemm', t: MatmulTuning, trial?: { step: GPUBuffer; y: GPUBuffer }): Promise<Dispatch[]> => {
    const pipeline = await pipelineOf(path, t);
    return w.chunks.map((c, i) => {
      const step = trial?.step ?? a.step;
      const weights: Binding[] = [c.data, c.scales ?? null];
      const entries: Binding[] = path === 'gemv'
        ? [gemvParams[i], step, ...gemvXBindings, ...weights, bias, trial?.y ?? a.glu?.h ?? a.y]
        : [params[i], step, ...xBindings, ...weights, bias, trial?.y ?? a.y];
      const name = `${a.label}.${path}[${i}]`;
      return {
        label: path === 'gemv' ? `${family}/gemv${raw?.norm ? '_norm' : ''}${a.glu ? '_glu' : ''}` : `${family}/gemm`,
        pipeline,
        bindGroup: trial ? uncountedBindGroup(gpu, name, pipeline, entries) : bindGroup(alloc, name, pipeline, entries),
        grid: (n: number) => (path === 'gemv' ? gemvGrid(t, c.rows, n) : gemmGrid(t, c.rows, n)),
      };
    });
  };

  let tune = defaults;
  if (a.autotune) {
    for (const path of ['gemv', 'gemm'] as const) {
      if (a.tuning?.[path] || (path === 'gemm' && a.maxTokens === 1)) continue; // fixed by the caller, or never run
      const cands = candidates(defaults, path, floatDot).filter((v) => fits({ ...defaults, ...v }));
      const key = `${w.format}${w.halfScales ? ' f16-scales' : ''} K=${K} N=${N} g=${w.group} ${path}${path === 'gemv' ? ` in=${gemvInput}${a.glu ? ' glu' : ''}` : ''}`;
      const T = path === 'gemv' ? 1 : Math.min(a.maxTokens, GEMM_TRIAL_TOKENS);
      const chosen = await chooseVariant(gpu, key, path, T, T * yWidth * 4, cands, (v, trial) => listOf(path, { ...defaults, ...v }, trial));
      tune = { ...tune, ...chosen };
    }
  }
  const [gemvList, gemmList] = await Promise.all([listOf('gemv', tune), listOf('gemm', tune)]);
  const gemv = [...(quantize && quantizeGemv ? [quantize] : []), ...gemvList];
  const gemm = [...(quantize ? [quantize] : []), ...gemmList];
  const gemmTile = gemmOf(tune) === 'rows' || gemmOf(tune) === 'rows8' ? gemmShape(tune).TT : 1;
  return { gemv, gemm, quantizedX, tuning: tune, tokenTile: gemmTile };
}
