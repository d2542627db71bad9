import { EmberError } from '../errors.ts';
import { metaBool, metaNumber, type GGUFFile } from '../gguf/reader.ts';
import { printableJson } from '../util/printable.ts';
import { CONFIG_LIMITS } from './validate.ts';

/**
 * A mixture of experts in place of the dense FFN (Qwen3-MoE, Mixtral, LFM2-MoE): a router (experts x D) scores each
 * token, its `used` best experts run (each a SwiGLU FFN of nFf), and their outputs are summed weighted by the router's
 * scores, renormalised over the chosen ones where normTopk. Shader-free: config readers, weight readers and kernels share it.
 */
export interface MoeShape {
  readonly experts: number;
  readonly used: number; // experts a token takes (top-k)
  readonly nFf: number; // one expert's hidden width
  readonly normTopk: boolean;
  /**
   * The router's scores: 'softmax' over every expert's logit (Qwen3-MoE, Mixtral, Granite), or each logit's own
   * 'sigmoid' (LFM2-MoE), renormalised by their sum + 1e-6 as transformers does.
   */
  readonly gating: MoeGating;
  /** A per-expert bias added to the sigmoid scores to choose the experts, not to weigh them (LFM2-MoE's expert_bias; GGUF exp_probs_b). */
  readonly selectionBias: boolean;
  /** Multiplies the chosen experts' weights (routed_scaling_factor; GGUF expert_weights_scale); 1: none. */
  readonly weightScale: number;
  /**
   * A shared expert: the layer's dense FFN (ModelConfig.nFf wide; Granite 4.0's shared_mlp, GGUF ffn_*_shexp) runs on
   * every token beside the chosen experts, its output added to theirs.
   */
  readonly sharedExpert: boolean;
}

export type MoeGating = 'softmax' | 'sigmoid';

/** A softmax router's defaults: no bias, weights unscaled, no shared expert. */
export const SOFTMAX_ROUTER = { gating: 'softmax', selectionBias: false, weightScale: 1, sharedExpert: false } as const;

/** The most experts a token may take (MAX_SLOTS in shaders/moe.wgsl). */
export const MOE_MAX_SLOTS = 16;

/** How each field is named in the source file, for messages. */
export type MoeFieldNames = Readonly<Record<keyof MoeShape, string>>;

/** Returns `s` when the kernels can run it; otherwise BAD_MODEL (or UNSUPPORTED past the router's slots) naming the field. */
export function validateMoe(s: MoeShape, file: string, names: MoeFieldNames): MoeShape {
  const fail = (key: keyof MoeShape, v: unknown, expected: string) =>
    new EmberError('BAD_MODEL', `${file}: ${names[key]} is ${printableJson(v)}; expected ${expected}`, { file, field: names[key].replace(/^(field|metadata key) /, '') });
  if (!Number.isInteger(s.experts) || s.experts < 1 || s.experts > 1024) throw fail('experts', s.experts, 'an integer from 1 to 1024');
  if (!Number.isInteger(s.used) || s.used < 1 || s.used > s.experts) throw fail('used', s.used, `an integer from 1 to the ${s.experts} experts`);
  if (s.used > MOE_MAX_SLOTS) {
    throw new EmberError('UNSUPPORTED', `${file}: ${names.used} is ${s.used}; emberlm's router takes at most ${MOE_MAX_SLOTS} experts a token`, { file, field: names.used });
  }
  if (!Number.isInteger(s.nFf) || s.nFf < 1 || s.nFf > CONFIG_LIMITS.nFf) throw fail('nFf', s.nFf, `an integer from 1 to ${CONFIG_LIMITS.nFf}`);
  if (!(Number.isFinite(s.weightScale) && s.weightScale > 0 && s.weightScale <= 1e4)) throw fail('weightScale', s.weightScale, 'a number above 0, at most 10,000');
  if (s.selectionBias && s.gating !== 'sigmoid') throw fail('selectionBias', s.selectionBias, 'false: a selection bias goes with sigmoid scores');
  return s;
}

/** GGUF architectures whose experts' weights llama.cpp renormalises (build_moe_ffn's norm_w) when the file says nothing. */
const NORM_TOPK: Readonly<Record<string, boolean>> = { qwen3moe: true, llama: true, granitemoe: true, granitehybrid: true, lfm2moe: true, olmoe: false };

/** Architectures whose experts are feed_forward_length wide (llama.cpp's n_ff), not expert_feed_forward_length. */
const EXPERTS_N_FF = ['llama', 'granitemoe', 'granitehybrid', 'olmoe'];

/** Architectures whose shared expert llama.cpp reads (expert_shared_feed_forward_length, ffn_*_shexp): Granite's. */
const SHARED_READ = ['granitemoe', 'granitehybrid'];

/** Architectures whose router llama.cpp reads expert_gating_func for (the others route by softmax whatever it says). */
const GATING_READ = ['lfm2moe'];

/** llama.cpp's expert_gating_func values. */
const GATING: Readonly<Record<number, MoeGating>> = { 1: 'softmax', 2: 'sigmoid' };

/**
 * A GGUF file's mixture (its expert_* keys as llama.cpp reads them), which layers have one, and its shared expert's
 * width (0: none); null where no layer has one.
 */
export function ggufMoe(f: GGUFFile, arch: string, nLayer: number): { moe: MoeShape; layerMoe: boolean[]; sharedFfn: number } | null {
  const key = (s: string) => `${arch}.${s}`;
  const experts = metaNumber(f, key('expert_count'), 0);
  if (experts === 0) return null;
  if (!(arch in NORM_TOPK)) {
    throw new EmberError('UNSUPPORTED', `${f.source.name}: ${arch}.expert_count is ${experts} (a mixture of experts) is not supported for ${arch}; emberlm runs them for ${Object.keys(NORM_TOPK).join(', ')}`, { arch });
  }
  const sharedKey = key('expert_shared_feed_forward_length');
  const sharedFfn = metaNumber(f, sharedKey, 0);
  if (sharedFfn > 0 && !SHARED_READ.includes(arch)) throw new EmberError('UNSUPPORTED', `${f.source.name}: ${sharedKey} is ${sharedFfn}; emberlm runs shared experts for ${SHARED_READ.join(', ')}`, { field: sharedKey });
  if (metaNumber(f, key('expert_shared_count'), 0) > 0) throw new EmberError('UNSUPPORTED', `${f.source.name}: ${key('expert_shared_count')} (several shared experts) is not supported`, { field: key('expert_shared_count') });
  if (!(Number.isInteger(sharedFfn) && sharedFfn >= 0 && sharedFfn <= CONFIG_LIMITS.nFf)) {
    throw new EmberError('BAD_MODEL', `${f.source.name}: metadata key ${sharedKey} is ${sharedFfn}; expected an integer from 0 to ${CONFIG_LIMITS.nFf}`, { field: sharedKey });
  }
  // llama.cpp reads expert_weights_scale for none of these architectures: a file that sets it was made for another reader
  const scale = metaNumber(f, key('expert_weights_scale'), 0);
  if (scale !== 0 && scale !== 1) throw new EmberError('UNSUPPORTED', `${f.source.name}: ${key('expert_weights_scale')} is ${scale}; emberlm, as llama.cpp, runs ${arch}'s experts' weights unscaled`, { field: key('expert_weights_scale') });
  const gatingFunc = metaNumber(f, key('expert_gating_func'), 1);
  const gating = GATING_READ.includes(arch) || gatingFunc === 1 ? GATING[gatingFunc] : undefined;
  if (!gating) {
    const takes = GATING_READ.includes(arch) ? 'softmax (1) or sigmoid (2)' : `softmax (1) for ${arch}, as llama.cpp does`;
    throw new EmberError('UNSUPPORTED', `${f.source.name}: ${key('expert_gating_func')} is ${gatingFunc}; emberlm routes by ${takes}`, { field: key('expert_gating_func') });
  }
  const layerMoe = Array.from({ length: nLayer }, (_, l) => f.tensors.has(`blk.${l}.ffn_gate_inp.weight`));
  const names: MoeFieldNames = {
    experts: `metadata key ${key('expert_count')}`, used: `metadata key ${key('expert_used_count')}`,
    nFf: `metadata key ${key(EXPERTS_N_FF.includes(arch) ? 'feed_forward_length' : 'expert_feed_forward_length')}`, normTopk: `metadata key ${key('expert_weights_norm')}`,
    gating: `metadata key ${key('expert_gating_func')}`, selectionBias: 'tensor blk.N.exp_probs_b.bias', weightScale: `metadata key ${key('expert_weights_scale')}`,
    sharedExpert: `metadata key ${sharedKey}`,
  };
  const used = metaNumber(f, key('expert_used_count'));
  const moe = validateMoe({
    experts, used,
    // (qwen3moe without the key: feed_forward_length shared out among the experts a token takes, as llama.cpp reads it)
    nFf: EXPERTS_N_FF.includes(arch) ? metaNumber(f, key('feed_forward_length')) : metaNumber(f, key('expert_feed_forward_length'), Math.floor(metaNumber(f, key('feed_forward_length'), 0) / used)),
    normTopk: metaBool(f, key('expert_weights_norm'), NORM_TOPK[arch]),
    gating,
    selectionBias: layerMoe.some((moe, l) => moe && f.tensors.has(`blk.${l}.exp_probs_b.bias`)),
    weightScale: 1,
    sharedExpert: sharedFfn > 0,
  }, f.source.name, names);
  return { moe, layerMoe, sharedFfn };
}
