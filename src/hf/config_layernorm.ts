/**
 * The decoders whose norms are LayerNorms with a bias (ModelConfig.preLayerNorms): Phi-1/1.5/2 (`phi`), StableLM 2
 * (`stablelm`) and GPT-NeoX / Pythia (`gpt_neox`). Their config.json keys in the ones configFromHF reads, and what each
 * runs beyond Llama: biases, partial rotary, the FFN beside attention (parallelFfn), an ungated GELU FFN.
 */
import { EmberError } from '../errors.ts';
import type { ModelConfig } from '../model/config.ts';
import { isObject } from './config.ts';

export type LayerNormType = 'phi' | 'stablelm' | 'gpt_neox';
export const LAYER_NORM_TYPES: readonly string[] = ['phi', 'stablelm', 'gpt_neox'];

/**
 * config.json in Llama's keys: GPT-NeoX's rotary_pct and rotary_emb_base (transformers 4's names; 5 keeps them in
 * rope_parameters) as partial_rotary_factor and rope_theta; each family's activation where the file leaves it out.
 * q and k normalised per head (qk_layernorm: StableLM 2 12B, Phi's option) are refused.
 */
export function layerNormConfig(json: Record<string, unknown>, type: LayerNormType, file: string): Record<string, unknown> {
  if (json.qk_layernorm === true) throw new EmberError('UNSUPPORTED', `${file}: qk_layernorm true (LayerNorms of q and k per head) is not supported`, { file, field: 'qk_layernorm' });
  const act = json.hidden_act ?? { phi: 'gelu_new', stablelm: 'silu', gpt_neox: 'gelu' }[type];
  if (type !== 'gpt_neox') return { ...json, hidden_act: act };
  const { rotary_pct, rotary_emb_base, attention_bias, ...rest } = json;
  const rp = isObject(json.rope_parameters) ? json.rope_parameters : null;
  return {
    ...rest, hidden_act: act,
    ...(rp || rotary_pct === undefined ? {} : { partial_rotary_factor: rotary_pct }),
    ...(rp || rotary_emb_base === undefined || json.rope_theta !== undefined ? {} : { rope_theta: rotary_emb_base }),
    ...(attention_bias === false ? {} : { attention_bias_qkv: true }), // (GPTNeoXConfig's default: biases on q|k|v and dense)
  };
}

/** What a family runs (ModelConfig's fields); `flag` reads a config boolean with its default. */
export function layerNormFeatures(type: LayerNormType, cfg: Record<string, unknown>, act: string, flag: (field: string, d: boolean) => boolean): Partial<ModelConfig> {
  const parallel = flag('use_parallel_residual', type === 'gpt_neox');
  const gelu = act === 'gelu' ? 'gelu' as const : 'gelu_tanh' as const;
  const ungated = type === 'stablelm' ? {} : { ffnGated: false, ffnAct: gelu };
  return {
    preLayerNorms: true,
    // (Phi runs its FFN beside attention on the one norm, whatever the config; StableLM where use_parallel_residual)
    parallelFfn: type === 'phi' || (type === 'stablelm' && parallel) ? 'shared' : type === 'gpt_neox' && parallel ? 'own' : null,
    qkvBias: type === 'phi' || (type === 'stablelm' ? flag('use_qkv_bias', false) : cfg.attention_bias_qkv === true),
    ...ungated,
  };
}

/** The activations each family takes: GELU by erf or tanh's (Phi's gelu_new), StableLM's SwiGLU. */
export function layerNormActs(type: LayerNormType): string[] {
  return type === 'stablelm' ? ['silu'] : ['gelu', 'gelu_new', 'gelu_pytorch_tanh'];
}
