/**
 * The encoders' config.json readings beside configFromHF: which sequence classifiers are cross-encoders, DistilBERT's,
 * MPNet's, T5's and nomic-bert's keys in the ones read there, and what emberlm's BERT and ModernBERT are.
 */
import { EmberError } from '../errors.ts';
import { printableJson } from '../util/printable.ts';
import { isObject } from './config.ts';

/**
 * The sequence classifiers read as cross-encoders (their head: a tanh dense layer over the first token, then one logit;
 * ModernBERT's: a dense layer, GELU and a LayerNorm over the rows' mean or the first, then one logit).
 */
export const CROSS_ENCODERS = [
  'BertForSequenceClassification', 'XLMRobertaForSequenceClassification', 'RobertaForSequenceClassification', 'ModernBertForSequenceClassification',
  'NewForSequenceClassification', 'GteForSequenceClassification', // (gte-multilingual-reranker-base: BERT's pooler and classifier)
  'DebertaV2ForSequenceClassification', // (mxbai-rerank-*-v1: a ContextPooler of GELU, then the classifier)
  'ElectraForSequenceClassification', // (ms-marco-electra-base: a dense layer of GELU over [CLS], then out_proj)
];

/**
 * A cross-encoder (a sequence classifier with one label: ms-marco-MiniLM's BERT, bge-reranker's XLM-R) scores a (query, document) pair by
 * its pooler and classifier: a reranker, its pooling 'rank' as llama.cpp names it. Other heads (several labels, masked-LM
 * heads) are not read: such a checkpoint is its encoder.
 */
export function crossEncoder(cfg: Record<string, unknown>, file: string): boolean {
  const archs = cfg.architectures;
  if (!Array.isArray(archs) || typeof archs[0] !== 'string' || !archs[0].endsWith('ForSequenceClassification')) return false;
  if (!CROSS_ENCODERS.includes(archs[0])) throw new EmberError('UNSUPPORTED', `${file}: ${archs[0]} is not supported (emberlm's cross-encoders: ${CROSS_ENCODERS.join(', ')})`, { file, field: 'architectures' });
  const labels = isObject(cfg.id2label) ? Object.keys(cfg.id2label).length : typeof cfg.num_labels === 'number' ? cfg.num_labels : 2;
  if (labels !== 1) throw new EmberError('UNSUPPORTED', `${file}: ${archs[0]} of ${labels} labels is not supported (a reranker's cross-encoder has one)`, { file, field: 'id2label' });
  return true;
}

/**
 * DistilBERT's config.json in BERT's keys (transformers maps them alike: dim is hidden_size, ...): no token types, its
 * LayerNorms' epsilon fixed at 1e-12. Sinusoidal positions are refused.
 */
export function distilbertConfig(json: Record<string, unknown>, file: string): Record<string, unknown> {
  if (json.sinusoidal_pos_embds === true) throw new EmberError('UNSUPPORTED', `${file}: sinusoidal_pos_embds true is not supported (emberlm reads learned positions)`, { file, field: 'sinusoidal_pos_embds' });
  const { dim, n_heads, n_layers, hidden_dim, activation, ...rest } = json;
  return { ...rest, hidden_size: dim, num_attention_heads: n_heads, num_hidden_layers: n_layers, intermediate_size: hidden_dim, hidden_act: activation, type_vocab_size: 0, layer_norm_eps: 1e-12 };
}

/** MPNet's relative position buckets (T5's): transformers computes them with these, whatever its config says. */
export const MPNET_RELATIVE_BIAS = Object.freeze({ buckets: 32, maxDistance: 128 });

/**
 * MPNet's config.json in BERT's keys: no token types (its positions count from padding_idx + 1, as RoBERTa's); the
 * relative position buckets transformers computes are 32 (relative_attention_num_buckets sizes only their table).
 */
export function mpnetConfig(json: Record<string, unknown>, file: string): Record<string, unknown> {
  const buckets = json.relative_attention_num_buckets ?? MPNET_RELATIVE_BIAS.buckets;
  if (buckets !== MPNET_RELATIVE_BIAS.buckets) {
    throw new EmberError('UNSUPPORTED', `${file}: relative_attention_num_buckets ${printableJson(buckets)} is not supported (MPNet's attention takes ${MPNET_RELATIVE_BIAS.buckets})`, { file, field: 'relative_attention_num_buckets' });
  }
  return { ...json, type_vocab_size: 0 };
}

/**
 * T5's config.json (an encoder's: T5EncoderModel, or the encoder of a T5 checkpoint) in the keys read here: d_model,
 * num_heads of d_kv, d_ff, num_layers, layer_norm_epsilon (its RMSNorm's), n_positions (512 where absent: T5 has no
 * position table; its relative buckets reach any length). The FFN is v1.0's ReLU (feed_forward_proj relu: sentence-t5,
 * gtr-t5) or v1.1's GeGLU with tanh's GELU (gated-gelu); other activations are refused.
 */
export function t5Config(json: Record<string, unknown>, file: string): Record<string, unknown> {
  const proj = json.feed_forward_proj ?? 'relu';
  const act = { relu: 'relu', 'gated-gelu': 'gelu_new' }[String(proj)];
  if (act === undefined) throw new EmberError('UNSUPPORTED', `${file}: feed_forward_proj ${printableJson(proj)} is not supported (T5's relu or gated-gelu)`, { file, field: 'feed_forward_proj' });
  const { d_model, num_heads, d_kv, d_ff, num_layers, layer_norm_epsilon, n_positions, ...rest } = json;
  return {
    ...rest, hidden_size: d_model, num_attention_heads: num_heads, head_dim: d_kv, intermediate_size: d_ff, num_hidden_layers: num_layers,
    rms_norm_eps: layer_norm_epsilon ?? 1e-6, max_position_embeddings: n_positions ?? 512, hidden_act: act, tie_word_embeddings: true,
  };
}

/**
 * nomic-bert's config.json (contrastors' NomicBertConfig, GPT-2's key names) in the keys read here, as llama.cpp's
 * converter reads it: the context is max_trained_positions (n_positions is what dynamic NTK scaling would reach,
 * rotary_scaling_factor, refused). What emberlm runs is what nomic-embed-text-v1 and v1.5 are: post-norm, SwiGLU,
 * RoPE over every dimension in NeoX halves, no biases on q|k|v or the FFN, attention both ways.
 */
export function nomicBertConfig(json: Record<string, unknown>, file: string): Record<string, unknown> {
  const refuse = (field: string, want: string) => {
    throw new EmberError('UNSUPPORTED', `${file}: ${field} ${printableJson(json[field])} is not supported (emberlm runs nomic-bert with ${want})`, { file, field });
  };
  const wants: [string, unknown, string][] = [
    ['activation_function', 'swiglu', 'swiglu'], ['prenorm', false, 'post-norm layers'], ['causal', false, 'attention both ways'],
    ['qkv_proj_bias', false, 'no q|k|v bias'], ['mlp_fc1_bias', false, 'no FFN biases'], ['mlp_fc2_bias', false, 'no FFN biases'],
    ['rotary_emb_fraction', 1, 'RoPE over every dimension'], ['rotary_emb_interleaved', false, 'RoPE in halves'], ['rotary_scaling_factor', null, 'no RoPE scaling'],
    ['use_rms_norm', false, 'LayerNorm'], ['parallel_block', false, 'sequential blocks'],
  ];
  for (const [field, value, want] of wants) if (json[field] !== undefined && json[field] !== value) refuse(field, want);
  const { n_embd, n_head, n_layer, n_inner, layer_norm_epsilon, max_trained_positions, rotary_emb_base, ...rest } = json;
  const inner = n_inner ?? (typeof n_embd === 'number' ? 4 * n_embd : n_inner);
  return { ...rest, hidden_size: n_embd, num_attention_heads: n_head, num_hidden_layers: n_layer, intermediate_size: inner, hidden_act: 'silu', layer_norm_eps: layer_norm_epsilon ?? 1e-12, max_position_embeddings: max_trained_positions, rope_theta: rotary_emb_base ?? 10000 };
}

/**
 * GTE v1.5's config.json (Alibaba-NLP's NewConfig, model_type new; or transformers' GteConfig, model_type gte) in the keys
 * read here. What emberlm runs is what gte-multilingual-base, gte-base/large-en-v1.5, snowflake-arctic-embed-m-v2.0 and
 * gte-multilingual-reranker-base are: post-norm LayerNorms, RoPE over the whole head, fused q|k|v, GeGLU. NewModel's fixed
 * NTK scaling (rope_scaling type ntk, factor f > 1, as vLLM's NTKScalingRotaryEmbedding: inv_freq = (theta f)^(-2i/d) /
 * f^(2/d)) is linear scaling by f^(2/d) at rope_theta theta f; its mixed form (mixed_b) is refused.
 */
export function gteConfig(json: Record<string, unknown>, file: string): Record<string, unknown> {
  const refuse = (field: string, want: string) => {
    throw new EmberError('UNSUPPORTED', `${file}: ${field} ${printableJson(json[field])} is not supported (emberlm runs GTE with ${want})`, { file, field });
  };
  const wants: [string, unknown[], string][] = [
    ['position_embedding_type', ['rope', 'rotary'], 'RoPE'], ['layer_norm_type', ['layer_norm'], 'LayerNorm'], ['pack_qkv', [true], 'q|k|v packed (qkv_proj)'],
    ['logn_attention_scale', [false], 'no log-n attention scale'],
  ];
  for (const [field, values, want] of wants) if (json[field] !== undefined && json[field] !== null && !values.includes(json[field])) refuse(field, want);
  const scaling = json.rope_scaling;
  if (!isObject(scaling) || (scaling.type ?? scaling.rope_type) !== 'ntk') return json;
  if (scaling.mixed_b !== undefined && scaling.mixed_b !== null) refuse('rope_scaling', 'fixed NTK scaling (no mixed_b)');
  const { factor } = scaling, theta = json.rope_theta ?? 10000, headDim = Number(json.hidden_size) / Number(json.num_attention_heads);
  if (typeof factor !== 'number' || !(factor > 0) || !Number.isFinite(factor)) {
    throw new EmberError('BAD_MODEL', `${file}: field rope_scaling.factor is ${printableJson(factor)}; expected a finite number above 0`, { file, field: 'rope_scaling.factor' });
  }
  // (NewModel rescales only past max_position_embeddings; a bad theta or width is named by configFromHF)
  if (factor <= 1 || typeof theta !== 'number' || !Number.isInteger(headDim)) return { ...json, rope_scaling: null };
  return { ...json, rope_theta: theta * factor, rope_scaling: { type: 'linear', factor: factor ** (2 / headDim) } };
}

/**
 * What emberlm's jina-bert-v2 is: jina-embeddings-v2-small-en / base-en's layers (JinaBertConfig): the GeGLU FFN
 * (feed_forward_type geglu: mlp.gated_layers), attention over the whole input (window_size [-1, -1]).
 */
export function checkJinaBert(cfg: Record<string, unknown>, file: string): void {
  const ffn = cfg.feed_forward_type ?? 'geglu';
  if (ffn !== 'geglu') throw new EmberError('UNSUPPORTED', `${file}: feed_forward_type ${printableJson(ffn)} is not supported (emberlm runs jina-bert-v2 with geglu)`, { file, field: 'feed_forward_type' });
  const w = cfg.window_size;
  if (w !== undefined && w !== null && !(Array.isArray(w) && w.every((v) => v === -1))) {
    throw new EmberError('UNSUPPORTED', `${file}: window_size ${printableJson(w)} (local attention) is not supported (emberlm runs jina-bert-v2 with [-1, -1])`, { file, field: 'window_size' });
  }
}

/** What emberlm's BERT is: an encoder with learned absolute positions, no cross-attention. */
export function checkBert(cfg: Record<string, unknown>, file: string, flag: (f: string, d: boolean) => boolean): void {
  const refuse = (field: string, what: string) => new EmberError('UNSUPPORTED', `${file}: ${field} ${what} is not supported (emberlm runs BERT as an encoder with absolute positions)`, { file, field });
  const positions = cfg.position_embedding_type ?? 'absolute';
  if (positions !== 'absolute') throw refuse('position_embedding_type', printableJson(positions) ?? '');
  if (flag('is_decoder', false)) throw refuse('is_decoder', 'true');
  if (flag('add_cross_attention', false)) throw refuse('add_cross_attention', 'true');
}

/**
 * What emberlm's ModernBERT is: an encoder whose LayerNorms have no bias (norm_bias false, as every published one); as a
 * cross-encoder (gte-reranker-modernbert-base), its head's activation GELU by erf (classifier_activation gelu).
 */
export function checkModernBert(cfg: Record<string, unknown>, file: string, flag: (f: string, d: boolean) => boolean): void {
  if (flag('norm_bias', false)) throw new EmberError('UNSUPPORTED', `${file}: norm_bias true (LayerNorms with a bias) is not supported for ModernBERT`, { file, field: 'norm_bias' });
  const act = cfg.classifier_activation ?? 'gelu';
  if (act !== 'gelu') throw new EmberError('UNSUPPORTED', `${file}: classifier_activation ${printableJson(act)} is not supported (gelu)`, { file, field: 'classifier_activation' });
  const pooling = cfg.classifier_pooling ?? 'cls';
  if (pooling !== 'cls' && pooling !== 'mean') throw new EmberError('BAD_MODEL', `${file}: field classifier_pooling is ${printableJson(pooling)}; expected "cls" or "mean"`, { file, field: 'classifier_pooling' });
}

/**
 * DeBERTa-v2/v3's config.json (DebertaV2Config, model_type deberta-v2): what emberlm runs is what deberta-v3-xsmall to
 * -large and their cross-encoders (mxbai-rerank-*-v1) are: relative attention with log position buckets, c2p and p2c
 * (pos_att_type) through the layer's own key and query projections (share_att_key), the relative rows LayerNorm'd
 * (norm_rel_ebd layer_norm), no absolute positions (position_biased_input false), no convolution after the first layer
 * (conv_kernel_size), a ContextPooler of GELU. Its keys are BERT's otherwise (type_vocab_size 0: no token types).
 */
export function debertaConfig(json: Record<string, unknown>, file: string): Record<string, unknown> {
  const refuse = (field: string, want: string) => {
    throw new EmberError('UNSUPPORTED', `${file}: ${field} ${printableJson(json[field])} is not supported (emberlm runs DeBERTa-v2/v3 with ${want})`, { file, field });
  };
  const att = json.pos_att_type;
  const types = typeof att === 'string' ? att.toLowerCase().split('|').map((s) => s.trim()) : Array.isArray(att) ? att : [];
  if (!(types.length === 2 && types.includes('c2p') && types.includes('p2c'))) refuse('pos_att_type', 'p2c and c2p');
  const norm = typeof json.norm_rel_ebd === 'string' ? json.norm_rel_ebd.toLowerCase().split('|').map((s) => s.trim()) : [];
  if (!norm.includes('layer_norm')) refuse('norm_rel_ebd', 'layer_norm');
  const wants: [string, unknown[], string][] = [
    ['relative_attention', [true], 'relative attention'], ['share_att_key', [true], 'the key and query projections shared (share_att_key)'],
    ['position_biased_input', [false], 'no absolute positions (position_biased_input false)'], ['conv_kernel_size', [0, undefined, null], 'no convolution layer'],
    ['embedding_size', [undefined, null, json.hidden_size], 'embeddings of hidden_size'], ['pooler_hidden_size', [undefined, null, json.hidden_size], 'a pooler of hidden_size'],
    ['pooler_hidden_act', [undefined, 'gelu'], 'a pooler of gelu'], ['attention_head_size', [undefined, null], 'heads of hidden_size / num_attention_heads'],
  ];
  for (const [field, values, want] of wants) if (!values.includes(json[field])) refuse(field, want);
  const buckets = json.position_buckets;
  if (!(typeof buckets === 'number' && Number.isInteger(buckets) && buckets > 0)) refuse('position_buckets', 'log buckets (a positive position_buckets)');
  return { ...json, type_vocab_size: json.type_vocab_size ?? 0 };
}

/** DeBERTa's buckets (ModelConfig.disentangled): position_buckets, and max_relative_positions (max_position_embeddings where below 1). */
export function debertaBuckets(cfg: Record<string, unknown>, contextTrain: number, file: string): { buckets: number; maxPosition: number } {
  const own = typeof cfg.max_relative_positions === 'number' && cfg.max_relative_positions >= 1;
  const max = own ? cfg.max_relative_positions as number : contextTrain;
  const buckets = cfg.position_buckets as number;
  // (the log buckets divide by log((max - 1) / (buckets / 2)))
  if (!(Number.isInteger(max) && max - 1 > Math.floor(buckets / 2))) {
    const field = own ? 'max_relative_positions' : 'max_position_embeddings';
    throw new EmberError('BAD_MODEL', `${file}: field ${field} is ${max}; DeBERTa's log buckets need an integer above position_buckets / 2 + 1 (${Math.floor(buckets / 2) + 1})`, { file, field });
  }
  return { buckets, maxPosition: max };
}

/**
 * ELECTRA's config.json (ElectraConfig: BERT's keys): its discriminator is BERT's encoder where embedding_size is
 * hidden_size (the base and large models); a smaller embedding_size, projected up by embeddings_project (ELECTRA-small),
 * is refused.
 */
export function electraConfig(json: Record<string, unknown>, file: string): Record<string, unknown> {
  const e = json.embedding_size;
  if (e !== undefined && e !== null && e !== json.hidden_size) {
    throw new EmberError('UNSUPPORTED', `${file}: embedding_size ${printableJson(e)} is not supported (emberlm runs ELECTRA with embeddings of hidden_size, no embeddings_project)`, { file, field: 'embedding_size' });
  }
  return json;
}
