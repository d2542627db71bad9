import source from '../../shaders/attention.wgsl?raw';
import flatSource from '../../shaders/attention_flat.wgsl?raw';
import wideSource from '../../shaders/attention_wide.wgsl?raw';
import dimsSource from '../../shaders/attention_dims.wgsl?raw';
import biasSource from '../../shaders/attention_bias.wgsl?raw';
import dimsBiasSource from '../../shaders/attention_dims_bias.wgsl?raw';
import relTableSource from '../../shaders/attention_rel_table.wgsl?raw';
import relDebertaSource from '../../shaders/attention_rel_deberta.wgsl?raw';
import type { Gpu, GpuCaps } from '../gpu/device.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { shaderText } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { EmberError } from '../errors.ts';
import { buildKernel, STEP, STEP_DEFAULTS, type Dispatch } from './dispatch.ts';
import { chooseByTrial } from './autotune.ts';
import { kvCacheBytes } from './kv_layout.ts';
import { TANH_LIB } from './wgsl_lib.ts';
import { kvShaderParts } from './kv_cache.ts';
import type { KvCacheArgs, RopeTable } from './rope.ts';

export const ATTENTION_PARAMS = new UniformLayout('Params', [
  ['n_head', 'u32'],
  ['n_kv', 'u32'],
  ['head_dim', 'u32'],
  ['scale', 'f32'],
  ['window', 'u32'],
  ['cache_len', 'u32'],
  ['softcap', 'f32'],
  ['n_split', 'u32'],
  ['n_rot', 'u32'],
  ['neox', 'u32'],
  ['long_from', 'u32'],
  ['mscale', 'f32'],
  ['temp_beta', 'f32'],
  ['temp_floor', 'u32'],
  ['bidirectional', 'u32'],
  ['rel_rows', 'u32'], // DeBERTa's relative rows (AttentionArgs.disentangled), else 0
] as const);
export const ATTENTION_SOURCE = source;
export const MAX_HEAD_DIM = 256;

/**
 * Invocations per workgroup: on a CPU adapter one SIMD vector (8 lanes; a barrier among more costs ~7x as
 * much on lavapipe), elsewhere 16. A workgroup's keys come in tiles of 4 * KG * WG, its split's keys in whole tiles,
 * and on a GPU each key of a tile costs its V pass a load's latency: with 16 lanes a split is 128 keys, not 256, and
 * 2,048 keys take 16 splits, not 8. A lent H200 (bench/attention.ts --splits 16, one layer, at 128 / 2,048 keys):
 * 86 / 90 us against 81 / 152 with 32 lanes for SmolLM2's 9/3 heads, 97 / 101 against 92 / 170 for Llama-3.2-1B's
 * 32/8 (8 lanes: 92 / 175 and 105 / 199; 64: 81 / 271 and 94 / 313).
 */
export const attentionWorkgroup = (cpu: boolean) => (cpu ? 8 : 16);

/**
 * Prefill tokens per workgroup (TQ): as many as keep NQ = GROUP * TQ within 4 (at least 1). The kernel unrolls its
 * loops over the NQ queries, and lavapipe's compile time grows much faster than the shader (16 queries of
 * head_dim 8: ~5 s of CPU for one pipeline, 8: ~2 s).
 */
const MAX_NQ = 4;
export function prefillTokens(group: number): number {
  return Math.max(1, Math.floor(MAX_NQ / group));
}

/** Workgroup bytes: queries, a tile's scores and maxima, the new K and V (decode). */
function workgroupBytes(nq: number, headDim: number, wg: number, kg: number, decode: boolean): number {
  const staged = (16 * ((nq + (decode ? 2 : 0)) * headDim)) / 4;
  return staged + 16 * nq * kg * wg + 4 * nq * wg;
}

/** Keys per decode split that make another split worth its workgroup on a GPU. */
const KEYS_PER_SPLIT = 128;
const MAX_SPLITS = 16;
/** decode_wide's lanes: a key a lane per pass, and a split's keys in passes of as many (at least MAXD4: heads of 256). */
export const WIDE_WG = 64;
/** decode_wide's splits: of WIDE_WG keys up to 2,048 keys, then longer. */
const WIDE_MAX_SPLITS = 32;
/** The merge's lanes: one a split (so at most MERGE_WG splits), and head vec4s by subsets of the splits (heads of 256 at most). */
const MERGE_WG = 64;

/**
 * Decode splits for a layer whose queries see at most `maxKeys` keys. A CPU adapter runs a workgroup per
 * core, and the kv heads already give it several: one split, and no merge dispatch. decode_wide (`wide`) takes
 * splits of one pass of WIDE_WG keys, as many as WIDE_MAX_SPLITS.
 */
export function decodeSplits(maxKeys: number, cpu = false, wide = false): number {
  if (cpu) return 1;
  if (wide) return Math.max(1, Math.min(WIDE_MAX_SPLITS, Math.ceil(maxKeys / WIDE_WG)));
  return Math.max(1, Math.min(MAX_SPLITS, Math.ceil(maxKeys / KEYS_PER_SPLIT)));
}

/** decode_wide's workgroup bytes: the queries, the new K and V, a pass's weights, the key subsets' outputs. */
function wideBytes(nq: number, headDim: number): number {
  return 16 * (nq + 2) * (headDim / 4) + 4 * nq * WIDE_WG + 16 * nq * WIDE_WG;
}

/** Whether decode_wide can take a layer of `group` query heads per kv head of headDim on this device. */
export function canDecodeWide(caps: GpuCaps, group: number, headDim: number): boolean {
  return headDim <= 4 * WIDE_WG && wideBytes(group, headDim) <= caps.maxWorkgroupStorageSize;
}

/** The decode's partial states per (query head, split): used within one layer's decode, so shared by all layers. */
export interface AttentionScratch {
  partAcc: GPUBuffer; // (n_head, n_split, head_dim/4) vec4
  partMl: GPUBuffer; // (n_head, n_split) (m, l)
}

/** Scratch for layers of at most nHead query heads, nSplit splits and headDim. */
export function attentionScratch(alloc: Allocator, nHead: number, nSplit: number, headDim: number): AttentionScratch {
  return {
    partAcc: alloc.storage('attention.part_acc', nHead * nSplit * headDim * 4),
    partMl: alloc.storage('attention.part_ml', nHead * nSplit * 8),
  };
}

/**
 * Whether decode takes head dimensions for the scores too (decode_dims): on a CPU adapter, where each
 * invocation's load is issued lane by lane and the old decode reloads every query per key. It sums a
 * key's partial dots over the workgroup with subgroup operations, so the workgroup must be exactly one subgroup
 * (an adapter that reports its subgroup size, fixed at wg); canDecodeByDims: whether the adapter can.
 */
export function decodeByDims(caps: GpuCaps, wg: number): boolean {
  return caps.cpu && canDecodeByDims(caps, wg);
}
export function canDecodeByDims(caps: GpuCaps, wg: number): boolean {
  return caps.subgroups && caps.subgroupMinSize === wg && caps.subgroupMaxSize === wg;
}
/**
 * The sum over the workgroup's lanes in decode_dims (built only with subgroups; elsewhere a stub, never called), the
 * same bits in every lane: for a power-of-two workgroup a butterfly of subgroupShuffleXor with constant masks (one
 * lane permute per step on lavapipe), else a tree of subgroupBroadcast from each lane. Both add in the same order,
 * ((x0 + x1) + (x2 + x3)) + ..., and each lane's operands are swapped at most, so the sums are equal bit for bit.
 * subgroupAdd is a loop over the lanes under the execution mask on lavapipe (2,048 keys: 1.7x the time); the
 * butterfly against the broadcast tree, bench/attention.ts --decode dims at 2,048 keys in turns: 459-475 against
 * 483-492 us a layer. `butterfly` false takes the tree for any size (tests compare the two).
 */
export function lanesSumLib(subgroups: boolean, wg: number, butterfly = (wg & (wg - 1)) === 0): string {
  const wrap = (t: string) => (t.includes('+') ? `(${t})` : t);
  const sum = (lo: number, n: number): string =>
    n === 1 ? `subgroupBroadcast(x, ${lo}u)` : `${wrap(sum(lo, Math.ceil(n / 2)))} + ${wrap(sum(lo + Math.ceil(n / 2), Math.floor(n / 2)))}`;
  const steps = Array.from({ length: Math.log2(wg) }, (_, i) => `  s = s + subgroupShuffleXor(s, ${1 << i}u);`).join('\n');
  const xor = `fn lanes_sum4(x: vec4<f32>) -> vec4<f32> {\n  var s = x;\n${steps}\n  return s;\n}`;
  const tree = `fn lanes_sum4(x: vec4<f32>) -> vec4<f32> { return ${subgroups ? sum(0, wg) : 'x'}; }`;
  const sum4 = subgroups && butterfly ? xor : tree;
  // decode_dims_q8's block maximum over the lanes (once per output block: subgroupMax's loop is fine there)
  return `${sum4}\nfn lanes_max(x: f32) -> f32 { return ${subgroups ? 'subgroupMax(x)' : 'x'}; }\n${keyBlockLib(subgroups && butterfly, wg)}`;
}

/**
 * attend_blocks' block size KB and lane operations (shaders/attention_dims.wgsl; a power-of-two workgroup with
 * subgroups, else stubs, never called): lanes_sum_each, lane L gets the sum over the lanes of v[L] (recursive halving: at mask h a lane keeps
 * the half of its values whose key has its bit h and adds its partner's; WG - 1 shuffles); lanes_max4, the maximum over
 * the lanes in every lane (a butterfly); lanes_all, every lane's x (subgroupBroadcast takes only constant lanes).
 */
function keyBlockLib(blocks: boolean, wg: number): string {
  const arr = 'array<vec4<f32>, KB>';
  const kb = `const KB: u32 = ${wg}u; // the workgroup's lanes (WG), as a constant: arrays of private memory take no override`;
  if (!blocks) {
    return [
      kb,
      `fn lanes_sum_each(v: ${arr}, lid: u32) -> vec4<f32> { return v[0]; }`,
      'fn lanes_max4(x: vec4<f32>) -> vec4<f32> { return x; }',
      `fn lanes_all(x: vec4<f32>) -> ${arr} { return ${arr}(); }`,
    ].join('\n');
  }
  const halving: string[] = [];
  for (let h = wg / 2; h >= 1; h /= 2) {
    halving.push(`  let up${h} = (lid & ${h}u) != 0u;`);
    for (let i = 0; i < h; i++) {
      halving.push(`  a[${i}] = select(a[${i}], a[${i + h}], up${h}) + subgroupShuffleXor(select(a[${i + h}], a[${i}], up${h}), ${h}u);`);
    }
  }
  const maxSteps = Array.from({ length: Math.log2(wg) }, (_, i) => `  s = max(s, subgroupShuffleXor(s, ${1 << i}u));`);
  const lanes = Array.from({ length: wg }, (_, i) => `subgroupBroadcast(x, ${i}u)`).join(', ');
  return [
    kb,
    `fn lanes_sum_each(v: ${arr}, lid: u32) -> vec4<f32> {`, '  var a = v;', ...halving, '  return a[0];', '}',
    'fn lanes_max4(x: vec4<f32>) -> vec4<f32> {', '  var s = x;', ...maxSteps, '  return s;', '}',
    `fn lanes_all(x: vec4<f32>) -> ${arr} { return ${arr}(${lanes}); }`,
  ].join('\n');
}

/**
 * Queries of a prefill_dims workgroup with keys in blocks: GROUP query heads of as many tokens as fit. One layer at 512
 * tokens (bench/attention.ts --prefill-by dims@N): SmolLM2's 9/3 heads 22.4, 22.4, 22.1 ms with 3, 4, 5 tokens (31.3
 * with 1); Qwen2.5-0.5B's 14/2 34.3 with 2 tokens against 38.3 with 1.
 */
const DIMS_PREFILL_QUERIES = 15;
/** Private memory a prefill_dims workgroup's queries may take: under WGSL's 8,192 bytes, with room for the rest. */
const PRIVATE_BYTES = 8000;
/**
 * prefill_bias' most tokens a workgroup: each K and V row it loads serves them all, but a lane holds their queries and
 * outputs, all head dimensions. One MPNet-base-shaped layer (12 heads of 64) over 256 tokens on lavapipe (`bench/attention.ts
 * --heads 12/12 --prefill 256 --prefill-by dims,bias --both-ways`): 74, 40, 59 and 70 ms with 1, 2, 4 and 8 tokens
 * (prefill_dims, without a bias, 15 ms): past 2, what a lane holds spills.
 */
const BIAS_TOKENS = 2;
/** The dims kernels' scores without a bias by relative position (prefill_dims_bias puts shaders/attention_dims_bias.wgsl in its place). */
const NO_SCORE_BIAS = 'const REL_BIAS = false;\nfn score_bias(g: u32, j: u32) -> vec4<f32> { return vec4<f32>(0.0); }';

/** decode_flat's workgroup: one SwiftShader subgroup (shaders/attention_flat.wgsl's FW). */
const FLAT_WG = 4;
const FLAT_MAX_HEAD_DIM = 256;

/**
 * Whether decode runs decode_flat (shaders/attention_flat.wgsl): on SwiftShader, whose JIT keeps decode_dims's arrays
 * indexed by loop counters in memory; heads of at most 256 dimensions. canDecodeFlat: whether the adapter and head can
 * run it at all (subgroups of 4 lanes or more).
 */
export function decodeFlat(caps: GpuCaps, headDim: number): boolean {
  return /swiftshader/i.test(caps.adapterName) && canDecodeFlat(caps, headDim);
}
export function canDecodeFlat(caps: GpuCaps, headDim: number): boolean {
  // A workgroup of 4 within one subgroup: SwiftShader's exactly, a wider one's partly (lavapipe's 8, for the tests).
  return caps.subgroups && (caps.subgroupMinSize ?? 0) >= FLAT_WG && headDim <= FLAT_MAX_HEAD_DIM;
}

export interface AttentionArgs extends KvCacheArgs {
  nHead: number;
  nKv: number;
  headDim: number;
  scale: number; // multiplies q.k
  window: number; // keys pos-window+1..pos (with bidirectional, ..pos+window-1 too); 0 = all
  /** The prefill's queries also see the pass's later keys (EmbeddingGemma's attention); decode stays causal. */
  bidirectional?: boolean;
  softcap: number; // 0 = off
  rope: RopeTable; // decode rotates q and the new k itself
  nSplit: number; // decode: workgroups per kv head (decodeSplits)
  wg?: number; // invocations per workgroup (default attentionWorkgroup of the adapter)
  decodeDims?: boolean; // decode by head dimensions (decode_dims) or by keys (decode); default decodeByDims
  flat?: boolean; // decode and prefill by decode_flat and prefill_flat (over decodeDims, prefillDims); default decodeFlat
  wide?: boolean; // decode by decode_wide (a key a lane: for GPUs; over decodeDims); nSplit from decodeSplits(.., wide)
  prefillDims?: boolean; // the prefill by head dimensions (prefill_dims) or by keys (main); default decodeByDims
  /**
   * decode_dims and prefill_dims take keys in blocks of wg (attend_blocks, wg a power of two); default where measured
   * faster: decode with at most 3 query heads a kv head, prefill_dims with at most 4.
   */
  keyBlocks?: boolean;
  prefillDimsTokens?: number; // prefill_dims' tokens a workgroup with keyBlocks (default: DIMS_PREFILL_QUERIES / group, at least 1)
  qkv: GPUBuffer; // (T, q_dim + 2*kv_dim): prefill reads rotated q; decode reads q, k, v as the matmul wrote them
  out: GPUBuffer; // (T, q_dim)
  step: GPUBuffer;
  scratch?: AttentionScratch; // default: the layer's own
  /**
   * Decode also writes its output in Q8_0 here, for a q8/q4 o matmul (codes (1, q_dim/4) u32, scales (1, q_dim/32)
   * f32), where decode_dims (8 invocations) or decode_flat runs with one split and head_dim a multiple of 32;
   * `decodeQ8` says whether it does.
   */
  outQ8?: { codes: GPUBuffer; scales: GPUBuffer };
  /**
   * Where a pass of several inputs says which each token is of ((T) vec4<u32>: its input's first token, one past its
   * last, its token type: src/model/pass_inputs.ts); given, `prefillInputs` attends within each token's input.
   */
  inputs?: GPUBuffer;
  /**
   * A bias on every score by relative position (MPNet's buckets), (n_head, 2R + 1) f32: query head h's for key - query =
   * r at h * (2R + 1) + R + r, r clamped to [-R, R]. Given (with `inputs`, written for every pass), the prefill runs
   * prefill_dims_bias or prefill_bias; decode has no bias (such a model embeds).
   */
  relBias?: GPUBuffer;
  /**
   * DeBERTa's disentangled terms in place of relBias (with `inputs`): `relAt` (2R + 2) u32, debertaRows' table of the
   * relative row of each key - query; `c2p` and `p2c` (T, n_head, rows) f32, written for each pass by buildDisentangled (scaled).
   */
  disentangled?: { relAt: GPUBuffer; c2p: GPUBuffer; p2c: GPUBuffer; rows: number };
  /** false: a model that never decodes (it attends both ways: an encoder), whose decode is not built (decode []). */
  decodes?: boolean;
}

export interface AttentionDispatches {
  /** Attention of a prefill pass, after buildRope's dispatch. */
  prefill: Dispatch;
  /** The same for a pass of several inputs (AttentionArgs.inputs), each token attending within its own. */
  prefillInputs?: Dispatch;
  /**
   * A decode step: RoPE, K/V write and attention per (kv head, split); with more than one split, partial states
   * and then the merge per query head.
   */
  decode: Dispatch[];
  /** Whether decode writes outQ8 (so the o matmul needs no quantize dispatch in decode). */
  decodeQ8: boolean;
}

export async function buildAttention(gpu: Gpu, alloc: Allocator, a: AttentionArgs): Promise<AttentionDispatches> {
  if (a.headDim > MAX_HEAD_DIM || a.headDim % 4 !== 0) {
    throw new EmberError('UNSUPPORTED', `head_dim ${a.headDim} is not supported by the attention kernel (a multiple of 4, at most ${MAX_HEAD_DIM})`);
  }
  if (a.nHead % a.nKv !== 0) throw new EmberError('BAD_MODEL', `head_count ${a.nHead} is not a multiple of head_count_kv ${a.nKv}`);
  const group = a.nHead / a.nKv;
  const wg = a.wg ?? attentionWorkgroup(gpu.caps.cpu);
  const limit = gpu.caps.maxWorkgroupStorageSize;
  // Tokens per prefill workgroup and key groups per tile, lowered until the workgroup memory fits.
  let tq = prefillTokens(group);
  while (tq > 1 && workgroupBytes(group * tq, a.headDim, wg, 1, false) > limit) tq--;
  const kg = (nq: number, decode: boolean) => (workgroupBytes(nq, a.headDim, wg, 2, decode) <= limit ? 2 : 1);
  if (workgroupBytes(group, a.headDim, wg, 1, true) > limit) {
    throw new EmberError('UNSUPPORTED', `attention: ${group} query heads per kv head of head_dim ${a.headDim} need more than the device's ${limit} bytes of workgroup memory`);
  }
  // The decode's partial states (bound even with one split, where the kernel writes the output itself)
  const { partAcc, partMl } = a.scratch ?? attentionScratch(alloc, a.nHead, a.nSplit, a.headDim);
  const dims = a.decodeDims ?? decodeByDims(gpu.caps, wg);
  const prefillDims = a.prefillDims ?? decodeByDims(gpu.caps, wg);
  if ((dims || prefillDims) && !canDecodeByDims(gpu.caps, wg)) {
    const sizes = `${gpu.caps.subgroupMinSize ?? '?'}-${gpu.caps.subgroupMaxSize ?? '?'}`;
    const found = gpu.caps.subgroups ? `subgroups of ${sizes}` : 'no subgroups';
    throw new EmberError('UNSUPPORTED', `attention: decode by head dimensions needs subgroups of exactly ${wg} lanes (the workgroup); the adapter has ${found}`);
  }
  const flat = a.flat ?? decodeFlat(gpu.caps, a.headDim);
  if (flat && !canDecodeFlat(gpu.caps, a.headDim)) {
    throw new EmberError('UNSUPPORTED', `attention: decode_flat needs subgroups of ${FLAT_WG} lanes or more and head_dim at most ${FLAT_MAX_HEAD_DIM}`);
  }
  const wide = a.wide ?? false;
  const pow2 = (wg & (wg - 1)) === 0;
  // Keys in blocks, where they were measured faster: one layer on lavapipe (bench/attention.ts --heads H/KV --decode
  // dims1,dims, at 2,048 keys), blocks against one key at a time: decode with 1, 2, 3 query heads a kv head 0.88x,
  // 0.83x, 0.90x the time (SmolLM2's 9/3: 475 against 526 us; in the model 16.4 against 22.7 ms a token), but with 4
  // (Llama-3.2-1B's 32/8) 1.07x, 7 (Qwen2.5-0.5B's 14/2) 1.17x, 8 1.18x (their blocks' arrays of scores and weights
  // per query group spill). prefill_dims with several tokens a workgroup: 9/3 0.71x the time at 512 tokens, 32/8 0.85x,
  // 14/2 1.09x.
  const keyBlocksFor = (maxGroup: number) => a.keyBlocks ?? (pow2 && group <= maxGroup);
  const decodeBlocks = keyBlocksFor(3);
  const prefillBlocks = keyBlocksFor(4);
  if (a.keyBlocks && !pow2) throw new EmberError('UNSUPPORTED', `attention: keys in blocks need a power-of-two workgroup, not ${wg}`);
  if (wide && !canDecodeWide(gpu.caps, group, a.headDim)) {
    throw new EmberError('UNSUPPORTED', `attention: decode_wide takes heads of at most ${4 * WIDE_WG} dimensions whose ${group} queries fit the device's ${limit} bytes of workgroup memory`);
  }
  if (a.nSplit > MERGE_WG) throw new EmberError('UNSUPPORTED', `attention: decode merges at most ${MERGE_WG} splits, not ${a.nSplit}`);
  type Prefill = 'main' | 'prefill_dims' | 'prefill_flat';
  type Entry = Prefill | `${Prefill}_inputs` | 'prefill_bias' | 'prefill_dims_bias' | 'decode' | 'decode_dims' | 'decode_dims_q8' | 'decode_flat' | 'decode_flat_q8' | 'merge' | 'decode_wide';
  const isFlat = (entry: Entry) => entry === 'decode_flat' || entry === 'decode_flat_q8' || entry.startsWith('prefill_flat');
  const isWide = (entry: Entry) => entry === 'decode_wide';
  const byDims = (entry: Entry) => entry === 'decode_dims' || entry === 'decode_dims_q8' || entry.startsWith('prefill_dims') || isFlat(entry);
  const kernel = (entry: Entry, variant: string, tokens: number, bindings: (GPUBuffer | null)[], grid: Dispatch['grid']) => {
    const lanes = isFlat(entry) ? FLAT_WG : isWide(entry) ? WIDE_WG : entry === 'merge' ? MERGE_WG : entry === 'prefill_bias' ? biasLanes : wg;
    const relSource = a.disentangled ? relDebertaSource : relTableSource; // (the biased entries' rel_score)
    const extra = isFlat(entry) ? flatSource : isWide(entry) ? wideSource : byDims(entry) ? `${dimsSource}\n${entry === 'prefill_dims_bias' ? `${dimsBiasSource}\n${relSource}` : NO_SCORE_BIAS}` : entry === 'prefill_bias' ? `${biasSource}\n${relSource}` : '';
    return buildKernel(gpu, alloc, {
      label: `attention/${variant}`,
      code: shaderText(extra ? `${source}\n${extra}` : source, { subgroups: byDims(entry) }, TANH_LIB, lanesSumLib(byDims(entry), lanes),
        `const GROUP: u32 = ${group}u;`, `const TQ: u32 = ${tokens}u;`, ...(entry === 'prefill_bias' ? [`const BIAS_TQ: u32 = ${biasTq}u;`] : []),
        ...kvShaderParts(a.kvType, a.headDim)),
      entry,
      constants: { WG: lanes, KG: kg(group * tokens, entry === 'decode' || byDims(entry)), ...(byDims(entry) && !isFlat(entry) ? { KEY_BLOCKS: (entry.startsWith('prefill_dims') ? prefillBlocks : decodeBlocks) ? 1 : 0 } : {}) },
      params: ATTENTION_PARAMS,
      values: {
        n_head: a.nHead, n_kv: a.nKv, head_dim: a.headDim, scale: a.scale, window: a.window, cache_len: a.cacheLen,
        softcap: a.softcap, n_split: a.nSplit,
        n_rot: a.rope.nRot, neox: a.rope.neox ? 1 : 0, long_from: a.rope.longFrom, mscale: a.rope.mscale,
        temp_beta: a.rope.tempBeta ?? 0, temp_floor: a.rope.tempFloor ?? 0, bidirectional: a.bidirectional ? 1 : 0, rel_rows: a.disentangled?.rows ?? 0,
      },
      step: a.step,
      bindings, // inv_freq, qkv, kv, out, part_acc, part_ml, out_q, out_d, inputs: null where the entry point does not use it
      grid,
    });
  };
  const span = a.window > 0 ? 'window' : 'causal';
  // prefill_dims' tokens a workgroup: with keys in blocks each K and V load serves DIMS_PREFILL_QUERIES queries or so.
  // Each query holds head_dim floats of q_own and of acc in private memory, which WGSL bounds (8 KiB a module).
  const queries = Math.min(DIMS_PREFILL_QUERIES, Math.floor(PRIVATE_BYTES / (8 * a.headDim + 16)));
  const dimsTq = prefillBlocks ? a.prefillDimsTokens ?? Math.max(1, Math.floor(queries / group)) : 1;
  // prefill_bias' tokens a workgroup: their queries and outputs, and a K row, in private memory (under WGSL's 8 KiB);
  // its lanes: as many as the workgroup's, where their states fit workgroup memory for the merge (heads of 256 on a GPU: 15)
  const biasTq = Math.max(1, Math.min(BIAS_TOKENS, Math.floor((PRIVATE_BYTES / (4 * a.headDim) - 1) / 2)));
  const biasLanes = Math.max(1, Math.min(wg, Math.floor(limit / (4 * a.headDim + 8))));
  // By head dimensions one token a workgroup: on lavapipe one SmolLM2-shaped layer's attention took 1.8 ms against
  // 6.6 by keys for a 128-token pass, 32 against 119 ms for 512 (bench/attention.ts --prefill-by keys,dims).
  const prefillOf = (suffix: '' | '_inputs') => {
    const bindings = [null, a.qkv, a.kv, a.out, null, null, ...(suffix ? [null, null, a.inputs!] : [])];
    return flat
      ? kernel(`prefill_flat${suffix}`, `prefill_flat${suffix}_${span}_${a.kvType}`, 1, bindings, (n) => [a.nKv, n])
      : prefillDims
      ? kernel(`prefill_dims${suffix}`, `prefill_dims${suffix}_${span}_${a.kvType}`, dimsTq, bindings, (n) => [a.nKv, Math.ceil(n / dimsTq)])
      : kernel(`main${suffix}`, `${span}${suffix}_${a.kvType}`, tq, bindings, (n) => [a.nKv, Math.ceil(n / tq)]);
  };
  // A relative position bias: prefill_dims_bias where the prefill goes by head dimensions, else prefill_bias; either reads
  // each token's input in every pass, so it serves both. (One MPNet-base layer over 256 tokens on lavapipe: prefill_bias
  // 40 ms, prefill_dims without a bias 15.)
  // DeBERTa's disentangled terms go by the same entry points, their rel_score the terms' (binding 11 on).
  const d = a.disentangled;
  const biased = a.relBias !== undefined || d !== undefined;
  const biasPrefill = (inputs: GPUBuffer) => {
    const bindings = [null, a.qkv, a.kv, a.out, null, null, null, null, inputs, ...(d ? [d.relAt, d.c2p, d.p2c] : [a.relBias!])];
    const kind = d ? '_deberta' : '';
    return prefillDims
      ? kernel('prefill_dims_bias', `prefill_dims_bias${kind}_${span}_${a.kvType}`, dimsTq, bindings, (n) => [a.nKv, Math.ceil(n / dimsTq)])
      : kernel('prefill_bias', `prefill_bias${kind}_${span}_${a.kvType}`, 1, bindings, (n) => [a.nHead, Math.ceil(n / biasTq)]);
  };
  if (biased && !a.inputs) throw new EmberError('BAD_ARGUMENT', 'attention: a relative position bias needs the pass\'s inputs');
  if (a.relBias && d) throw new EmberError('BAD_ARGUMENT', 'attention: a table of relative biases or disentangled terms, not both');
  const prefill = biased ? await biasPrefill(a.inputs!) : await prefillOf('');
  const prefillInputs = biased ? prefill : a.inputs ? await prefillOf('_inputs') : undefined;
  // Decode's output in Q8_0 as well: on lavapipe, 30 quantize launches of ~30 us a token fewer.
  if (a.decodes === false) return { prefill, prefillInputs, decode: [], decodeQ8: false };
  const q8 = a.outQ8 && !wide && a.nSplit === 1 && a.headDim % 32 === 0 && (flat || (dims && wg === 8)) ? a.outQ8 : null;
  const entry = wide ? 'decode_wide' : flat ? (q8 ? 'decode_flat_q8' : 'decode_flat') : q8 ? 'decode_dims_q8' : dims ? 'decode_dims' : 'decode';
  const decode = [
    await kernel(entry, `${entry}_${a.kvType}`, 1, [a.rope.invFreq, a.qkv, a.kv, a.out, entry === 'decode_flat_q8' ? null : partAcc, partMl, ...(q8 ? [q8.codes, q8.scales] : [])], () => [
      a.nKv,
      a.nSplit,
    ]),
  ];
  if (a.nSplit > 1) decode.push(await kernel('merge', 'merge', 1, [null, null, null, a.out, partAcc, partMl], () => [a.nHead]));
  return { prefill, prefillInputs, decode, decodeQ8: q8 !== null };
}

/** A layer's decode attention as the trial times it: AttentionArgs without the buffers the trial makes itself. */
export type DecodeTrialArgs = Omit<AttentionArgs, 'kv' | 'qkv' | 'out' | 'step' | 'scratch' | 'outQ8' | 'nSplit' | 'wide'> & {
  maxKeys: number; // the most keys a query sees (decodeSplits)
};

/** Keys of the trial's decode: a long-ish context, where the two entry points' split counts differ too. */
const TRIAL_KEYS = 1024;

/**
 * Whether decode attention runs decode_wide on this device, by a short timed trial (autotune): one layer's decode both
 * ways at min(cacheLen, 1,024) keys, on buffers of its own (cache, qkv, output, Step, partial states), with the
 * splits each would run with. The default entry point is kept unless decode_wide is 10% faster; the choice is cached
 * per adapter and shape like the matmuls' (src/kernels/autotune.ts, and `emberlm bench` prints it).
 */
export async function chooseDecodeWide(gpu: Gpu, a: DecodeTrialArgs): Promise<boolean> {
  if (!canDecodeWide(gpu.caps, a.nHead / a.nKv, a.headDim)) return false;
  const shape = `${a.kvType} heads=${a.nHead}/${a.nKv} hd=${a.headDim} keys=${a.maxKeys} ring=${a.cacheLen}${a.window ? ` window=${a.window}` : ''}${a.softcap ? ' softcap' : ''}`;
  const chosen = await chooseByTrial(gpu, `attention ${shape} decode`, 'attention', 1, async (scratch) => {
    const step = scratch.uniform('attention.trial.step', STEP.size);
    gpu.device.queue.writeBuffer(step, 0, STEP.pack({ ...STEP_DEFAULTS, n_tokens: 1, pos: Math.min(a.cacheLen, TRIAL_KEYS) - 1 }));
    const buffers = {
      step,
      kv: scratch.storage('attention.trial.kv', kvCacheBytes(a.kvType, a.cacheLen, a.nKv, a.headDim)),
      qkv: scratch.storage('attention.trial.qkv', (a.nHead + 2 * a.nKv) * a.headDim * 4),
      out: scratch.storage('attention.trial.out', a.nHead * a.headDim * 4),
    };
    const list = async (wide: boolean) =>
      (await buildAttention(gpu, scratch, { ...a, ...buffers, wide, nSplit: decodeSplits(a.maxKeys, gpu.caps.cpu, wide) })).decode;
    return [{ name: 'default', list: await list(false) }, { name: 'wide', list: await list(true) }];
  });
  return chosen === 'wide';
}
