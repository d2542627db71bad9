import source from '../../shaders/rope.wgsl?raw';
import type { Gpu } from '../gpu/device.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { shaderText } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { buildKernel, type Dispatch } from './dispatch.ts';
import { kvShaderParts } from './kv_cache.ts';
import type { KvCacheType } from './kv_layout.ts';

export const ROPE_PARAMS = new UniformLayout('Params', [
  ['n_head', 'u32'],
  ['n_kv', 'u32'],
  ['head_dim', 'u32'],
  ['n_rot', 'u32'],
  ['neox', 'u32'],
  ['cache_len', 'u32'],
  ['long_from', 'u32'],
  ['mscale', 'f32'],
  ['temp_beta', 'f32'],
  ['temp_floor', 'u32'],
  ['pad0', 'u32'],
  ['pad1', 'u32'],
] as const);
/** long_from for a model with one table: never switch. */
export const ONE_TABLE = 0xffffffff;
export const ROPE_SOURCE = source;

/**
 * Invocations per workgroup (one head of one token each): on CPU adapters one SIMD group (8), whose barrier costs
 * no switches between groups: a 128-token pass of SmolLM2's 12 heads took 1.55-1.81 ms against 2.12-3.29 with 32
 * on lavapipe (one process, load ~3).
 */
export const ropeWorkgroup = (cpu: boolean) => (cpu ? 8 : 32);

/** A layer's RoPE: the frequencies as src/model/rope_tables.ts makes them. */
export interface RopeTable {
  nRot: number;
  neox: boolean;
  invFreq: GPUBuffer; // (tables, nRot/2) f32, see ropeInvFreq: one table, or LongRoPE's short then long
  longFrom: number; // the long table for a pass whose last position + 1 exceeds this; ONE_TABLE: never
  mscale: number; // multiplies cos and sin (LongRoPE attention factor), else 1
  tempBeta?: number; // q times 1 + tempBeta ln(1 + floor(pos / tempFloor)) after RoPE (Ministral 3); tempFloor 0 or absent: off
  tempFloor?: number;
}

/** A layer's K/V cache: one buffer, stored as src/kernels/kv_layout.ts says. */
export interface KvCacheArgs {
  kvType: KvCacheType;
  cacheLen: number; // rows of the K/V ring
  kv: GPUBuffer; // codes (2, n_kv, cacheLen, head_dim) then scales (2, n_kv, cacheLen)
}

export interface RopeArgs extends RopeTable, KvCacheArgs {
  nHead: number;
  nKv: number;
  headDim: number;
  qkv: GPUBuffer; // (T, q_dim + 2*kv_dim), q rotated in place
  step: GPUBuffer;
  wg?: number; // invocations per workgroup (default ropeWorkgroup of the adapter)
}

/** RoPE of a prefill pass's q and k, and its K/V cache write (decode steps do both in attention). */
export function buildRope(gpu: Gpu, alloc: Allocator, a: RopeArgs): Promise<Dispatch> {
  return buildKernel(gpu, alloc, {
    label: `rope/qk_cache_${a.kvType}`,
    code: shaderText(source, {}, ...kvShaderParts(a.kvType, a.headDim)),
    constants: { WG: a.wg ?? ropeWorkgroup(gpu.caps.cpu) },
    params: ROPE_PARAMS,
    values: { n_head: a.nHead, n_kv: a.nKv, head_dim: a.headDim, n_rot: a.nRot, neox: a.neox ? 1 : 0, cache_len: a.cacheLen, long_from: a.longFrom, mscale: a.mscale,
      temp_beta: a.tempBeta ?? 0, temp_floor: a.tempFloor ?? 0, pad0: 0, pad1: 0,
    },
    step: a.step,
    bindings: [a.invFreq, a.qkv, a.kv],
    grid: (n) => [a.nHead + a.nKv, n],
  });
}

export interface RopeScaling {
  /** Llama 3 style: per-frequency smoothing between the original and a stretched wavelength. */
  llama3?: { factor: number; lowFreqFactor: number; highFreqFactor: number; originalContext: number };
  /** Per-dimension divisors (GGUF rope_freqs.weight), length nRot/2. */
  freqFactors?: Float32Array;
  /** Linear position scaling (rope.scaling.factor with type linear): theta uses pos / factor. */
  linearFactor?: number;
  /** LongRoPE: per-dimension divisors applied as transformers does, 1 / (factor[i] * base^(2i/nRot)). */
  extFactors?: ArrayLike<number>;
  /** YaRN: pairs below the ramp keep their frequency, pairs above it are divided by factor, the ramp blends them. */
  yarn?: { factor: number; originalContext: number; betaFast: number; betaSlow: number; truncate: boolean };
}

/**
 * YaRN's ramp over the nRot/2 pairs: the fraction of pair i's frequency divided by factor (0 below `low`, 1 above
 * `high`), where low and high are the pairs that turn betaFast and betaSlow times in originalContext positions
 * (transformers' find_correction_range and linear_ramp_factor, llama.cpp's ggml_rope_yarn_corr_dims and rope_yarn_ramp).
 */
function yarnRamp(nRot: number, base: number, y: NonNullable<RopeScaling['yarn']>): (i: number) => number {
  const pairOf = (turns: number) => (nRot * Math.log(y.originalContext / (turns * 2 * Math.PI))) / (2 * Math.log(base));
  let low = pairOf(y.betaFast);
  let high = pairOf(y.betaSlow);
  if (y.truncate) [low, high] = [Math.floor(low), Math.ceil(high)];
  low = Math.max(low, 0);
  high = Math.min(high, nRot - 1);
  const width = high === low ? 0.001 : high - low;
  return (i) => Math.min(1, Math.max(0, (i - low) / width));
}

/** inv_freq[i] = base^(-2i/nRot), adjusted for the model's scaling; computed once at load. */
export function ropeInvFreq(nRot: number, base: number, s: RopeScaling = {}): Float32Array {
  const out = new Float32Array(nRot / 2);
  const ramp = s.yarn && yarnRamp(nRot, base, s.yarn);
  for (let i = 0; i < nRot / 2; i++) {
    let f = Math.pow(base, (-2 * i) / nRot);
    if (ramp) f = f / s.yarn!.factor * ramp(i) + f * (1 - ramp(i));
    if (s.extFactors) f = 1 / (s.extFactors[i] * Math.fround(Math.pow(base, (2 * i) / nRot)));
    if (s.freqFactors) f /= s.freqFactors[i];
    if (s.llama3) {
      const { factor, lowFreqFactor, highFreqFactor, originalContext } = s.llama3;
      const wavelen = (2 * Math.PI) / f;
      const lowWavelen = originalContext / lowFreqFactor;
      const highWavelen = originalContext / highFreqFactor;
      if (wavelen > lowWavelen) f = f / factor;
      else if (wavelen >= highWavelen) {
        const smooth = (originalContext / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
        f = (1 - smooth) * (f / factor) + smooth * f;
      }
    }
    if (s.linearFactor) f /= s.linearFactor;
    out[i] = f;
  }
  return out;
}
