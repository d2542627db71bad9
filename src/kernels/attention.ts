import source from '../../shaders/attention.wgsl?raw';
import type { Gpu } from '../gpu/device.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { shaderText } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { EmberError } from '../errors.ts';
import { buildKernel, type Dispatch } from './dispatch.ts';
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
] as const);
export const ATTENTION_SOURCE = source;
export const MAX_HEAD_DIM = 256;
/**
 * Workgroup storage: WG * head_dim / 8 vec4s for the merge, the group's queries and the new K and V (decode); WG is
 * halved until it fits WebGPU's default 16 KiB.
 */
function workgroupSize(headDim: number, group: number): number {
  const bytes = (wg: number) => 16 * ((wg * headDim) / 8 + ((group + 2) * headDim) / 4) + 8 * wg;
  let wg = headDim > 128 ? 16 : 32;
  while (wg > 4 && bytes(wg) > 16384) wg /= 2;
  return wg;
}
/** Keys per decode split that make another split worth its workgroup (a few per invocation). */
const KEYS_PER_SPLIT = 128;
const MAX_SPLITS = 16;

/** Decode splits for a layer whose queries see at most `maxKeys` keys. */
export function decodeSplits(maxKeys: number): number {
  return Math.max(1, Math.min(MAX_SPLITS, Math.ceil(maxKeys / KEYS_PER_SPLIT)));
}

export interface AttentionArgs extends KvCacheArgs {
  nHead: number;
  nKv: number;
  headDim: number;
  scale: number; // multiplies q.k
  window: number; // keys pos-window+1..pos; 0 = all
  softcap: number; // 0 = off
  rope: RopeTable; // decode rotates q and the new k itself
  nSplit: number; // decode: workgroups per query head (decodeSplits)
  qkv: GPUBuffer; // (T, q_dim + 2*kv_dim): prefill reads rotated q; decode reads q, k, v as the matmul wrote them
  out: GPUBuffer; // (T, q_dim)
  step: GPUBuffer;
}

export interface AttentionDispatches {
  /** Attention of a prefill pass, after buildRope's dispatch. */
  prefill: Dispatch;
  /** A decode step: RoPE, K/V write and split-K partial states per (kv head, split), then the merge per query head. */
  decode: Dispatch[];
}

export async function buildAttention(gpu: Gpu, alloc: Allocator, a: AttentionArgs): Promise<AttentionDispatches> {
  if (a.headDim > MAX_HEAD_DIM || a.headDim % 4 !== 0) {
    throw new EmberError('UNSUPPORTED', `head_dim ${a.headDim} is not supported by the attention kernel (a multiple of 4, at most ${MAX_HEAD_DIM})`);
  }
  if (a.nHead % a.nKv !== 0) throw new EmberError('BAD_MODEL', `head_count ${a.nHead} is not a multiple of head_count_kv ${a.nKv}`);
  const hd4 = a.headDim / 4;
  const group = a.nHead / a.nKv;
  // (n_head, n_split, head_dim/4) vec4
  const partAcc = alloc.storage('attention.part_acc', a.nHead * a.nSplit * hd4 * 16);
  const partMl = alloc.storage('attention.part_ml', a.nHead * a.nSplit * 8); // (n_head, n_split) (m, l)
  type Entry = 'main' | 'decode' | 'merge';
  const kernel = (entry: Entry, variant: string, bindings: (GPUBuffer | null)[], grid: Dispatch['grid']) =>
    buildKernel(gpu, alloc, {
      label: `attention/${variant}`,
      code: shaderText(source, {}, TANH_LIB, `const GROUP: u32 = ${group}u;`, ...kvShaderParts(a.kvType, a.headDim)),
      entry,
      constants: { WG: workgroupSize(a.headDim, group) },
      params: ATTENTION_PARAMS,
      values: {
        n_head: a.nHead, n_kv: a.nKv, head_dim: a.headDim, scale: a.scale, window: a.window, cache_len: a.cacheLen,
        softcap: a.softcap, n_split: a.nSplit,
        n_rot: a.rope.nRot, neox: a.rope.neox ? 1 : 0, long_from: a.rope.longFrom, mscale: a.rope.mscale,
      },
      step: a.step,
      bindings, // inv_freq, qkv, kv, out, part_acc, part_ml: null where the entry point does not use it
      grid,
    });
  const span = a.window > 0 ? 'window' : 'causal';
  return {
    prefill: await kernel('main', `${span}_${a.kvType}`, [null, a.qkv, a.kv, a.out, null, null], (n) => [a.nHead, n]),
    decode: [
      await kernel('decode', `decode_${a.kvType}`, [a.rope.invFreq, a.qkv, a.kv, null, partAcc, partMl], () => [
        a.nKv,
        a.nSplit,
      ]),
      await kernel('merge', 'merge', [null, null, null, a.out, partAcc, partMl], () => [a.nHead]),
    ],
  };
}
