/**
 * The matmul's shader text: the WGSL sources, the inputs x comes from, the device-variant header (subgroups or not,
 * dot4I8Packed or not) and a decoder joined to them (decoderShader). src/kernels/matmul.ts builds its pipelines from it.
 */
import skeletonSource from '../../shaders/matmul.wgsl?raw';
import flatSource from '../../shaders/matmul_flat.wgsl?raw';
import xF32Source from '../../shaders/matmul_x_f32.wgsl?raw';
import xQ8Source from '../../shaders/matmul_x_q8.wgsl?raw';
import inF32Source from '../../shaders/matmul_in_f32.wgsl?raw';
import inF32NormSource from '../../shaders/matmul_in_f32_norm.wgsl?raw';
import inQ8Source from '../../shaders/matmul_in_q8.wgsl?raw';
import inQ8LocalSource from '../../shaders/matmul_in_q8_local.wgsl?raw';
import quantizeSource from '../../shaders/matmul_quantize_x.wgsl?raw';
import commonSource from '../../shaders/matmul_common.wgsl?raw';
import tailSource from '../../shaders/matmul_tail.wgsl?raw';
import expertsSource from '../../shaders/matmul_experts.wgsl?raw';
import expertsGroupedSource from '../../shaders/matmul_experts_grouped.wgsl?raw';
import { GLU_LIB, Q8_BLOCK_LIB, Q8_BLOCK_ONLY, RMS_LIB, ROUND_F16_LIB, TILED_INDEX_LIB } from './wgsl_lib.ts';
import type { GpuCaps } from '../gpu/device.ts';
import { shaderText } from '../gpu/pipelines.ts';
import { decoderOf, FORMATS, isFp8, type WeightFormat } from './weight_formats.ts';
import { subgroupsOf8, type XVec } from './matmul_tuning.ts';
import type { GpuWeights } from './matmul_weights.ts';

/** The matmul shader parts (for the uniform-layout test and documentation). */
export const MATMUL_COMMON_SOURCE = `${commonSource}\n${TILED_INDEX_LIB}`;
export const MATMUL_SOURCES = {
  matmul: skeletonSource,
  matmul_flat: flatSource,
  matmul_x_f32: xF32Source,
  matmul_x_q8: xQ8Source,
  matmul_in_f32: inF32Source,
  matmul_in_f32_norm: inF32NormSource,
  matmul_in_q8: inQ8Source,
  matmul_in_q8_local: inQ8LocalSource,
  matmul_quantize_x: quantizeSource,
  matmul_tail: tailSource,
  matmul_experts: expertsSource,
  matmul_experts_grouped: expertsGroupedSource,
} as const;

/**
 * The skeletons a decoder goes in front of (decoderShader's `main`): every access pattern, and the GEMVs' tail, the
 * RMSNorm or Q8_0 their last subgroup runs (shaders/matmul_tail.wgsl) where `tail`, with no bias (its binding unused), or
 * an empty one. `tail.roundF16`: the decoder's x mode has round_f16 already (f16 weights), which the tail's Q8_0 needs.
 * `experts`: the matmuls over stacked experts' matrices, a row of y per token's slot: the GEMVs' (`slots`,
 * shaders/matmul_experts.wgsl) or the GEMM's over runs of one expert's slots (`grouped`,
 * shaders/matmul_experts_grouped.wgsl); else the plain matrix's hooks, which fold away.
 */
export function matmulSkeleton(tail?: { roundF16: boolean }, experts?: 'slots' | 'grouped'): string {
  const end = tail
    ? `fn bias_at(n: u32) -> f32 { return 0.0; }\n${RMS_LIB}\n${tail.roundF16 ? Q8_BLOCK_ONLY : Q8_BLOCK_LIB}\n${tailSource}`
    : 'fn bias_at(n: u32) -> f32 { return bias[n]; }\nfn gemv_tail(groups: u32) {}';
  const hooks = experts === 'slots' ? expertsSource : experts === 'grouped' ? expertsGroupedSource : PLAIN_ROWS;
  return `${GLU_LIB}\n${skeletonSource}\n${flatSource}\n${end}\n${hooks}`;
}

/**
 * A plain matrix's row hooks: which rows a dispatch computes and where they come from and go: y_rows (rows of y this
 * pass), expert_start (the first weight row of a workgroup's rows, or NOT_HERE), x_rows4 / x_row (the rows of x they
 * read), y_row (the row of y each writes). Here the pass's tokens and 0, which fold away; a mixture's slots for the
 * expert matmuls (shaders/matmul_experts.wgsl, matmul_experts_grouped.wgsl; binding 8). (Kept out of
 * shaders/matmul.wgsl's text: a change there costs lavapipe a recompile of every matmul pipeline, minutes of CI.)
 */
const PLAIN_ROWS = `const NOT_HERE: u32 = 0xffffffffu;
fn y_rows() -> u32 { return step.n_tokens; }
fn y_row(t: u32) -> u32 { return t; }
fn x_row(t: u32) -> u32 { return t; }
fn x_rows4(t0: u32, nt: u32) -> vec4<u32> { return min(vec4<u32>(t0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(nt - 1u)); }
fn expert_start(t: u32, lid: u32) -> u32 { return 0u; }`;

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
export function matmulVariantHeader(caps: Pick<GpuCaps, 'subgroups' | 'dot4I8' | 'subgroupMinSize'>): string {
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
  // token l's piece and block scale and widens the piece, and lanes8_vec4f / x_lane_scale hand token i lane i's (a
  // constant lane: x_lane_scale's switch folds once the token loop unrolls). Without subgroups each lane loads all it
  // needs itself.
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
fn lanes8_vec4f(v: vec4<f32>) -> array<vec4<f32>, 8> {
  return array<vec4<f32>, 8>(subgroupBroadcast(v, 0u), subgroupBroadcast(v, 1u), subgroupBroadcast(v, 2u), subgroupBroadcast(v, 3u),
    subgroupBroadcast(v, 4u), subgroupBroadcast(v, 5u), subgroupBroadcast(v, 6u), subgroupBroadcast(v, 7u));
}
const X_HELD: bool = true; // x_shared hands out x_fetch's words (X_VEC 4 and 8)
fn x_shared(held: vec4<u32>, t: u32, k: u32, lane: u32) -> vec4<u32> {
  if (X_VEC == 4u) { return subgroupShuffle(held, ((k % XW) / 4u) & 3u); }
  if (X_VEC == 8u) { return x_broadcast4(held.x, k & 4u); }
  return x_broadcast4(x_word(t, k + (lane & 3u)), 0u);
}`
    : `fn subgroup_lane() -> u32 { return 0u; }
fn x_fetch(t: u32, k: u32, lane: u32, n: u32) -> vec4<u32> { return vec4<u32>(); }
const X_HELD: bool = false;
fn x_shared(held: vec4<u32>, t: u32, k: u32, lane: u32) -> vec4<u32> { return x_quad(t, k); }
fn x_lane_scale(s: f32, l: u32) -> f32 { return s; }
fn lanes8_vec4f(v: vec4<f32>) -> array<vec4<f32>, 8> { return array<vec4<f32>, 8>(v, v, v, v, v, v, v, v); }`;
  // gemv_split's reduction: with subgroups, each lane holds its subgroup's sum and the workgroup step
  // adds one lane per subgroup, taking subgroups to be runs of consecutive invocation indices (as every
  // implementation lays out a 1D workgroup); without, every lane's partial.
  const lanes = caps.subgroups
    ? 'fn lanes_partial(v: f32) -> f32 { return subgroupAdd(v); }\nfn lanes_stride() -> u32 { return subgroupAdd(1u); }'
    : 'fn lanes_partial(v: f32) -> f32 { return v; }\nfn lanes_stride() -> u32 { return 1u; }';
  // X_VEC 8's x block sums (rows): lanes 0-7's values summed (x_fetch gives lane l word l % 8 of the block, so every
  // lane gets the block's sum), by broadcasts: a butterfly of subgroupShuffleXor made the GLU GEMV with its tail 1.3x
  // slower on lavapipe (docs/kernels.md, "Unsigned codes on lavapipe").
  const lanes8 = caps.subgroups
    ? `fn lanes8_sum(v: i32) -> i32 {
  let lo = vec4<i32>(subgroupBroadcast(v, 0u), subgroupBroadcast(v, 1u), subgroupBroadcast(v, 2u), subgroupBroadcast(v, 3u));
  let hi = vec4<i32>(subgroupBroadcast(v, 4u), subgroupBroadcast(v, 5u), subgroupBroadcast(v, 6u), subgroupBroadcast(v, 7u));
  let s = lo + hi;
  return (s.x + s.y) + (s.z + s.w);
}`
    : 'fn lanes8_sum(v: i32) -> i32 { return v; }';
  // The q8_local prologue's block maximum over a block's 8 lanes (8 consecutive invocations, in one subgroup where every
  // subgroup has 8 lanes or more) by a butterfly of shuffles, where it otherwise goes through workgroup memory and two
  // barriers a turn (matmul_in_q8_local.wgsl).
  const by8 = subgroupsOf8(caps);
  const blockMax = by8
    ? `fn lanes_block_max(v: f32) -> f32 {
  var m = max(v, subgroupShuffleXor(v, 1u));
  m = max(m, subgroupShuffleXor(m, 2u));
  return max(m, subgroupShuffleXor(m, 4u));
}`
    : 'fn lanes_block_max(v: f32) -> f32 { return v; }';
  return [dot4, share, lanes, lanes8, `const BLOCK_MAX_BY_LANES: bool = ${by8};`, blockMax].join('\n');
}

/**
 * A format's decoder with what it needs in front of it: the variant header, the x mode (and, for f16
 * weights, x rounded to f16), MatmulParams. The matmul puts its skeleton after it with an input (`input`;
 * default: x from a buffer), the embedding its gather.
 */
export function decoderShader(
  caps: Pick<GpuCaps, 'subgroups' | 'dot4I8' | 'subgroupMinSize'>,
  weights: WeightFormat | Pick<GpuWeights, 'format' | 'halfScales' | 'wideCodes' | 'offsetCodes'>, // a format, or uploaded weights (their decoder)
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
  return shaderText(MATMUL_COMMON_SOURCE, { subgroups: caps.subgroups }, matmulVariantHeader(caps), xMode, decoderOf(w), main);
}
