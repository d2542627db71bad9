import { EmberError } from '../errors.ts';
import { metaBool, metaNumber, type GGUFFile } from '../gguf/reader.ts';
import { printableJson } from '../util/printable.ts';
import { CONFIG_LIMITS } from './validate.ts';

/**
 * A mixture of experts in place of the dense FFN (Qwen3-MoE, Mixtral): a router (experts x D) scores each token, its
 * `used` best experts run (each a SwiGLU FFN of nFf), and their outputs are summed weighted by the router's softmax,
 * renormalised over the chosen ones where normTopk. Shader-free: config readers, weight readers and kernels share it.
 */
export interface MoeShape {
  readonly experts: number;
  readonly used: number; // experts a token takes (top-k)
  readonly nFf: number; // one expert's hidden width
  readonly normTopk: boolean;
}

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
  return s;
}

/** GGUF architectures whose experts' weights llama.cpp renormalises (build_moe_ffn's norm_w) when the file says nothing. */
const NORM_TOPK: Readonly<Record<string, boolean>> = { qwen3moe: true, llama: true, granitemoe: true };

/** Architectures whose experts are feed_forward_length wide (llama.cpp's n_ff), not expert_feed_forward_length. */
const EXPERTS_N_FF = ['llama', 'granitemoe'];

/** A GGUF file's mixture (its expert_* keys as llama.cpp reads them) and which layers have one; null where none does. */
export function ggufMoe(f: GGUFFile, arch: string, nLayer: number): { moe: MoeShape; layerMoe: boolean[] } | null {
  const key = (s: string) => `${arch}.${s}`;
  const experts = metaNumber(f, key('expert_count'), 0);
  if (experts === 0) return null;
  if (!(arch in NORM_TOPK)) {
    throw new EmberError('UNSUPPORTED', `${f.source.name}: ${arch}.expert_count is ${experts} (a mixture of experts) is not supported for ${arch}; emberlm runs them for ${Object.keys(NORM_TOPK).join(', ')}`, { arch });
  }
  const shared = metaNumber(f, key('expert_shared_feed_forward_length'), 0) || metaNumber(f, key('expert_shared_count'), 0);
  if (shared > 0) throw new EmberError('UNSUPPORTED', `${f.source.name}: shared experts (${key('expert_shared_feed_forward_length')}) are not supported`, { field: key('expert_shared_feed_forward_length') });
  const scale = metaNumber(f, key('expert_weights_scale'), 0);
  if (scale !== 0 && scale !== 1) throw new EmberError('UNSUPPORTED', `${f.source.name}: ${key('expert_weights_scale')} is ${scale}; emberlm runs experts' weights unscaled`, { field: key('expert_weights_scale') });
  const gating = metaNumber(f, key('expert_gating_func'), 1); // llama.cpp: 1 softmax, 2 sigmoid
  if (gating !== 1) throw new EmberError('UNSUPPORTED', `${f.source.name}: ${key('expert_gating_func')} is ${gating}; emberlm routes by softmax (1)`, { field: key('expert_gating_func') });
  const names: MoeFieldNames = {
    experts: `metadata key ${key('expert_count')}`, used: `metadata key ${key('expert_used_count')}`,
    nFf: `metadata key ${key(EXPERTS_N_FF.includes(arch) ? 'feed_forward_length' : 'expert_feed_forward_length')}`, normTopk: `metadata key ${key('expert_weights_norm')}`,
  };
  const used = metaNumber(f, key('expert_used_count'));
  const moe = validateMoe({
    experts, used,
    // (qwen3moe without the key: feed_forward_length shared out among the experts a token takes, as llama.cpp reads it)
    nFf: EXPERTS_N_FF.includes(arch) ? metaNumber(f, key('feed_forward_length')) : metaNumber(f, key('expert_feed_forward_length'), Math.floor(metaNumber(f, key('feed_forward_length'), 0) / used)),
    normTopk: metaBool(f, key('expert_weights_norm'), NORM_TOPK[arch]),
  }, f.source.name, names);
  return { moe, layerMoe: Array.from({ length: nLayer }, (_, l) => f.tensors.has(`blk.${l}.ffn_gate_inp.weight`)) };
}
