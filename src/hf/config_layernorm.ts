/**
 * The decoders whose norms are LayerNorms with a bias (ModelConfig.preLayerNorms): Phi-1/1.5/2 (`phi`), StableLM 2
 * (`stablelm`), GPT-NeoX / Pythia (`gpt_neox`), StarCoder2 (`starcoder2`) and GPT-2 (`gpt2`). Their config.json keys in
 * the ones configFromHF reads, and what each runs beyond Llama: biases, partial rotary or learned positions, the FFN
 * beside attention (parallelFfn), an ungated GELU FFN.
 */
import { EmberError } from '../errors.ts';
import type { ModelConfig } from '../model/config.ts';
import { printableJson } from '../util/printable.ts';
import { isObject } from './config.ts';

export type LayerNormType = 'phi' | 'stablelm' | 'gpt_neox' | 'starcoder2' | 'gpt2';
export const LAYER_NORM_TYPES: readonly string[] = ['phi', 'stablelm', 'gpt_neox', 'starcoder2', 'gpt2'];

/** Set by layerNormConfig: whether the projections have biases (GPT-NeoX's attention_bias, StarCoder2's use_bias). */
const BIASES = 'emberlm_projection_biases';

/**
 * config.json in Llama's keys: GPT-NeoX's rotary_pct and rotary_emb_base (transformers 4's names; 5 keeps them in
 * rope_parameters) as partial_rotary_factor and rope_theta, StarCoder2's norm_epsilon, GPT-2's own names (n_embd, ...);
 * each family's activation where the file leaves it out. q and k normalised per head (qk_layernorm: StableLM 2 12B,
 * Phi's option) and GPT-2's attention variants are refused.
 */
export function layerNormConfig(json: Record<string, unknown>, type: LayerNormType, file: string): Record<string, unknown> {
  const refuse = (field: string, what: string) => {
    throw new EmberError('UNSUPPORTED', `${file}: ${field} ${printableJson(json[field])} (${what}) is not supported`, { file, field });
  };
  if (json.qk_layernorm === true) refuse('qk_layernorm', 'LayerNorms of q and k per head');
  const act = json.hidden_act ?? { phi: 'gelu_new', stablelm: 'silu', gpt_neox: 'gelu', starcoder2: 'gelu_pytorch_tanh', gpt2: 'gelu_new' }[type];
  if (type === 'gpt2') return gpt2Config(json, refuse);
  if (type === 'starcoder2') {
    // (the first StarCoder2 configs' norm_type and mlp_type, which transformers no longer reads: what it runs)
    if (json.norm_type !== undefined && json.norm_type !== 'layer_norm') refuse('norm_type', 'StarCoder2 runs layer_norm');
    if (json.mlp_type !== undefined && json.mlp_type !== 'default') refuse('mlp_type', 'StarCoder2 runs default');
    const { use_bias, norm_epsilon, ...rest } = json;
    return { ...rest, hidden_act: act, layer_norm_eps: norm_epsilon, [BIASES]: use_bias !== false };
  }
  if (type !== 'gpt_neox') return { ...json, hidden_act: act };
  const { rotary_pct, rotary_emb_base, attention_bias, ...rest } = json;
  const rp = isObject(json.rope_parameters) ? json.rope_parameters : null;
  return {
    ...rest, hidden_act: act, [BIASES]: attention_bias !== false, // (GPTNeoXConfig's default: biases on q|k|v and dense)
    ...(rp || rotary_pct === undefined ? {} : { partial_rotary_factor: rotary_pct }),
    ...(rp || rotary_emb_base === undefined || json.rope_theta !== undefined ? {} : { rope_theta: rotary_emb_base }),
  };
}

/** GPT-2's keys (n_embd, n_layer, n_head, n_inner: 4 n_embd where null, n_positions, layer_norm_epsilon, activation_function). */
function gpt2Config(json: Record<string, unknown>, refuse: (field: string, what: string) => never): Record<string, unknown> {
  if (json.scale_attn_by_inverse_layer_idx === true) refuse('scale_attn_by_inverse_layer_idx', 'scores divided by the layer index too');
  if (json.scale_attn_weights === false) refuse('scale_attn_weights', 'scores not scaled by 1 / sqrt(head_dim)');
  if (json.add_cross_attention === true) refuse('add_cross_attention', 'cross-attention');
  const { n_embd, n_layer, n_head, n_inner, n_positions, layer_norm_epsilon, activation_function, ...rest } = json;
  const inner = n_inner ?? (typeof n_embd === 'number' ? 4 * n_embd : n_inner);
  return {
    ...rest, hidden_size: n_embd ?? 768, num_hidden_layers: n_layer ?? 12, num_attention_heads: n_head ?? 12, intermediate_size: inner ?? 3072,
    max_position_embeddings: n_positions ?? 1024, layer_norm_eps: layer_norm_epsilon ?? 1e-5, hidden_act: activation_function ?? 'gelu_new',
  };
}

/** What a family runs (ModelConfig's fields); `flag` reads a config boolean with its default. */
export function layerNormFeatures(type: LayerNormType, cfg: Record<string, unknown>, act: string, nLayer: number, flag: (field: string, d: boolean) => boolean): Partial<ModelConfig> {
  const parallel = flag('use_parallel_residual', type === 'gpt_neox');
  const gelu = act === 'gelu' ? 'gelu' as const : 'gelu_tanh' as const;
  const ungated = type === 'stablelm' ? {} : { ffnGated: false, ffnAct: gelu };
  // GPT-2: learned absolute positions added to the embeddings (position_embd), no RoPE
  const positions = type === 'gpt2' ? { learnedPositions: true, layerRope: Object.freeze(Array<boolean>(nLayer).fill(false)) } : {};
  return {
    preLayerNorms: true,
    // (Phi runs its FFN beside attention on the one norm, whatever the config; StableLM where use_parallel_residual)
    parallelFfn: type === 'phi' || (type === 'stablelm' && parallel) ? 'shared' : type === 'gpt_neox' && parallel ? 'own' : null,
    qkvBias: type === 'phi' || type === 'gpt2' || (type === 'stablelm' ? flag('use_qkv_bias', false) : cfg[BIASES] === true),
    ...ungated,
    ...positions,
  };
}

/** The activations each family takes: GELU by erf or tanh's (Phi's gelu_new), StableLM's SwiGLU. */
export function layerNormActs(type: LayerNormType): string[] {
  return type === 'stablelm' ? ['silu'] : ['gelu', 'gelu_new', 'gelu_pytorch_tanh'];
}
