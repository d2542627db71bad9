import { EmberError } from '../errors.ts';
import { gemmaEmbedScale, layerWindows, nopeEvery, PLAIN_FEATURES, ropeOnEveryLayer, type Arch, type ModelConfig } from '../model/config.ts';
import { CONFIG_LIMITS, validateConfig, type ConfigFieldNames } from '../model/validate.ts';
import { falconMup, graniteLayers, mambaShape } from './config_ssm.ts';
import { qwen35Layers, qwen35TextConfig } from './config_delta.ts';
import { graniteMoeLayers, lfm2MoeLayers, olmoeLayers, qwen3MoeLayers } from './config_moe.ts';
import { printableJson } from '../util/printable.ts';
import { checkBert, checkJinaBert, checkModernBert, crossEncoder, debertaBuckets, debertaConfig, distilbertConfig, electraConfig, gteConfig, MPNET_RELATIVE_BIAS, mpnetConfig, nomicBertConfig, t5Config } from './config_encoders.ts';
import { llama4Temperature, rope } from './config_rope.ts';
import { layerNormActs, layerNormConfig, layerNormFeatures, LAYER_NORM_TYPES, type LayerNormType } from './config_layernorm.ts';

/** Hugging Face `model_type`s emberlm runs, and the `architectures` class each one names. */
export const HF_MODEL_TYPES = {
  llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM',
  gemma2: 'Gemma2ForCausalLM', gemma3_text: 'Gemma3ForCausalLM', phi3: 'Phi3ForCausalLM', smollm3: 'SmolLM3ForCausalLM',
  ernie4_5: 'Ernie4_5ForCausalLM', granite: 'GraniteForCausalLM', olmo2: 'Olmo2ForCausalLM', olmo3: 'Olmo3ForCausalLM',
  lfm2: 'Lfm2ForCausalLM', granitemoehybrid: 'GraniteMoeHybridForCausalLM', ministral3: 'Ministral3ForCausalLM',
  falcon_h1: 'FalconH1ForCausalLM', qwen3_5_text: 'Qwen3_5ForCausalLM', qwen3_5: 'Qwen3_5ForConditionalGeneration',
  qwen3_moe: 'Qwen3MoeForCausalLM', granitemoe: 'GraniteMoeForCausalLM', lfm2_moe: 'Lfm2MoeForCausalLM', olmoe: 'OlmoeForCausalLM',
  phi: 'PhiForCausalLM', stablelm: 'StableLmForCausalLM', gpt_neox: 'GPTNeoXForCausalLM', starcoder2: 'Starcoder2ForCausalLM', gpt2: 'GPT2LMHeadModel',
  bert: 'BertModel', roberta: 'RobertaModel', 'xlm-roberta': 'XLMRobertaModel', distilbert: 'DistilBertModel',
  modernbert: 'ModernBertModel', nomic_bert: 'NomicBertModel', mpnet: 'MPNetModel', t5: 'T5EncoderModel', new: 'NewModel', gte: 'GteModel', jina_bert: 'JinaBertModel',
  'deberta-v2': 'DebertaV2Model', electra: 'ElectraModel', jina_embeddings_v3: 'JinaEmbeddingsV3Model',
} as const;
export type HFModelType = keyof typeof HF_MODEL_TYPES;
/** The forward pass's architecture for each model_type. */
const ARCH_OF: Record<HFModelType, Arch> = {
  llama: 'llama', mistral: 'mistral', qwen2: 'qwen2', qwen3: 'qwen3', gemma2: 'gemma2', gemma3_text: 'gemma3', phi3: 'phi3', smollm3: 'smollm3', ernie4_5: 'ernie4_5', granite: 'granite',
  olmo2: 'olmo2', olmo3: 'olmo2', // OLMo 3 is OLMo 2 with windowed layers (as llama.cpp's olmo2 runs it)
  lfm2: 'lfm2',
  granitemoehybrid: 'granite', // Granite 4.0 (Mamba-2 layers in the -H models, experts beside the shared MLP in -H-Tiny/Small)
  ministral3: 'mistral3', // llama.cpp's name for it
  falcon_h1: 'falcon-h1', // llama.cpp's name for it
  qwen3_5_text: 'qwen35', qwen3_5: 'qwen35', // (the second: the text model of a checkpoint with a vision tower)
  qwen3_moe: 'qwen3', // Qwen3 with mixtures of experts (ModelConfig.moe)
  granitemoe: 'granite', // Granite 3.0/3.1's mixtures of experts (llama.cpp's granitemoe runs as its granite)
  lfm2_moe: 'lfm2', // LFM2 with mixtures of experts (LFM2-8B-A1B)
  olmoe: 'llama', // OLMoE: Llama with q/k RMSNorms over all heads and a mixture in every layer (llama.cpp's olmoe)
  phi: 'phi2', stablelm: 'stablelm', gpt_neox: 'gptneox', starcoder2: 'starcoder2', gpt2: 'gpt2', // LayerNorms with biases (src/hf/config_layernorm.ts; llama.cpp's names)
  bert: 'bert', // the encoder of all-MiniLM, bge, e5 and gte: an embedding model
  roberta: 'bert', 'xlm-roberta': 'bert', // (BERT with its positions counted from padding_idx + 1: multilingual-e5, bge-m3)
  distilbert: 'bert', // (BERT with its own names and keys, no token types: msmarco-distilbert, multi-qa-distilbert)
  modernbert: 'modern-bert', // (llama.cpp's name) pre-norm LayerNorms, RoPE, GeGLU: gte-modernbert, modernbert-embed, granite-embedding-r2
  nomic_bert: 'bert', // (as llama.cpp's nomic-bert runs: BERT with RoPE and SwiGLU) nomic-embed-text-v1, v1.5
  mpnet: 'bert', // (RoBERTa's positions, no token types, a bias by relative position on the scores) all-mpnet-base-v2, multi-qa-mpnet
  t5: 't5', // T5's encoder: sentence-t5, gtr-t5 (pre-norm RMSNorm, a bias by relative position, no positions)
  new: 'bert', gte: 'bert', // GTE v1.5 (Alibaba-NLP's NewModel; transformers' GteModel): BERT with RoPE and GeGLU, gte-multilingual-base
  jina_bert: 'bert', // (model_type bert with position_embedding_type alibi: JinaBertModel, jina-embeddings-v2) BERT with ALiBi and GeGLU
  'deberta-v2': 'bert', // DeBERTa-v2/v3 (mxbai-rerank-*-v1): BERT's layers, no positions but disentangled attention
  electra: 'bert', // ELECTRA's discriminator (ms-marco-electra-base): BERT under its own prefix, a head of GELU
  jina_embeddings_v3: 'bert', // jina-embeddings-v3 (-hf): XLM-R's post-norm encoder with RoPE, an ungated GELU FFN
};

/** The model_types of BERT's layout (ModelConfig.postLayerNorms), and the prefix a *For* checkpoint keeps its encoder under. */
export const BERT_TYPES: Readonly<Partial<Record<HFModelType, string>>> = { bert: 'bert.', roberta: 'roberta.', 'xlm-roberta': 'roberta.', distilbert: 'distilbert.', mpnet: 'mpnet.', 'deberta-v2': 'deberta.', electra: 'electra.' };
/** The encoders' model_types (BERT's layouts and ModernBERT's: names of their own, no `model.layers`), by the prefix a *For* checkpoint keeps the encoder under. */
export const ENCODER_TYPES: Readonly<Partial<Record<HFModelType, string>>> = { ...BERT_TYPES, modernbert: 'model.', nomic_bert: 'bert.', t5: 'encoder.', new: 'new.', gte: 'gte.', jina_bert: 'bert.', jina_embeddings_v3: 'roberta.' };

/** What an HF model needs beyond `ModelConfig` (fields the forward pass does not read yet). */
export interface HFExtra {
  readonly modelType: HFModelType;
  /** Qwen3: RMSNorm over each head of q and k (weights of head_dim) before RoPE. */
  readonly qkNorm: boolean;
  /** The attention window of its windowed layers (ModelConfig.layerWindow says which), or null when none is. */
  readonly slidingWindow: number | null;
  /** FP8 checkpoints: rows x cols of the blocks that share one `weight_scale_inv` entry (null when not FP8). */
  readonly fp8BlockSize: readonly [number, number] | null;
}

/** transformers' defaults for `max_position_embeddings` where a config.json leaves it out. */
const DEFAULT_CONTEXT: Record<HFModelType, number> = {
  llama: 2048, mistral: 4096 * 32, qwen2: 32768, qwen3: 32768, gemma2: 8192, gemma3_text: 131072, phi3: 4096, smollm3: 32768, ernie4_5: 131072, granite: 2048, olmo2: 2048, olmo3: 2048, lfm2: 128000, granitemoehybrid: 2048, ministral3: 262144, falcon_h1: 8192, qwen3_5_text: 32768, qwen3_5: 32768, qwen3_moe: 32768, granitemoe: 2048, lfm2_moe: 128000, olmoe: 4096, phi: 2048, stablelm: 4096, gpt_neox: 2048, starcoder2: 4096, gpt2: 1024, bert: 512, roberta: 514, 'xlm-roberta': 514, distilbert: 512, modernbert: 8192, nomic_bert: 2048, mpnet: 514, t5: 512, new: 512, gte: 8192, jina_bert: 8192, 'deberta-v2': 512, electra: 512, jina_embeddings_v3: 8194,
};

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * config.json -> ModelConfig. `file` names the file in errors. HF checkpoints keep q/k rows in the
 * order that their `rotate_half` expects (the GGUF converter permutes Llama's into adjacent pairs; HF
 * files are not permuted), so the families here rotate half-split (`ropeNeox`), except ERNIE 4.5,
 * whose own rotate_half takes adjacent pairs (2i, 2i + 1).
 */
export function configFromHF(json: unknown, file = 'config.json', fallbackName = 'model'): { config: ModelConfig; extra: HFExtra } {
  if (!isObject(json)) throw new EmberError('BAD_MODEL', `${file}: expected a JSON object`, { file });
  const modelType = typeFrom(json, file);
  const layerNormType = LAYER_NORM_TYPES.includes(modelType) ? modelType as LayerNormType : null;
  const transform = layerNormType ? (j: Record<string, unknown>, f: string) => layerNormConfig(j, layerNormType, f) : { qwen3_5: qwen35TextConfig, distilbert: distilbertConfig, nomic_bert: nomicBertConfig, mpnet: mpnetConfig, t5: t5Config, new: gteConfig, gte: gteConfig, 'deberta-v2': debertaConfig, electra: electraConfig }[modelType as string];
  const cfg = transform ? transform(json, file) : json;
  const bad = (field: string, msg: string) => new EmberError('BAD_MODEL', `${file}: field ${field} ${msg}`, { file, field });

  const has = (field: string) => cfg[field] !== undefined && cfg[field] !== null;
  const num = (field: string, fallback?: number): number => {
    if (!has(field)) {
      if (fallback === undefined) throw bad(field, 'is missing');
      return fallback;
    }
    const v = cfg[field];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(field, `is ${printableJson(v)}; expected a number`);
    return v;
  };
  const posInt = (field: string, fallback?: number): number => {
    const v = num(field, fallback);
    if (!Number.isInteger(v) || v <= 0) throw bad(field, `is ${v}; expected a positive integer`);
    return v;
  };
  const flag = (field: string, fallback: boolean): boolean => {
    if (!has(field)) return fallback;
    if (typeof cfg[field] !== 'boolean') throw bad(field, `is ${printableJson(cfg[field])}; expected true or false`);
    return cfg[field] as boolean;
  };

  const gemma = modelType === 'gemma2' || modelType === 'gemma3_text';
  const granite4 = modelType === 'granitemoehybrid';
  const granite = modelType === 'granite' || granite4 || modelType === 'granitemoe';
  const olmo = modelType === 'olmo2' || modelType === 'olmo3';
  const lfm2 = modelType === 'lfm2' || modelType === 'lfm2_moe';
  const falcon = modelType === 'falcon_h1';
  const qwen35 = modelType === 'qwen3_5' || modelType === 'qwen3_5_text';
  if (falcon && flag('projectors_bias', false)) throw new EmberError('UNSUPPORTED', `${file}: projectors_bias true (a bias on the Mamba-2 out_proj) is not supported`, { file, field: 'projectors_bias' });
  if (modelType === 'olmoe' && has('clip_qkv')) throw new EmberError('UNSUPPORTED', `${file}: clip_qkv ${printableJson(cfg.clip_qkv)} (q, k and v clamped) is not supported`, { file, field: 'clip_qkv' });
  if (lfm2 && flag('conv_bias', false)) throw new EmberError('UNSUPPORTED', `${file}: conv_bias true (biases on the short convolutions) is not supported`, { file, field: 'conv_bias' });
  const bert = modelType in BERT_TYPES;
  const modernbert = modelType === 'modernbert';
  const nomic = modelType === 'nomic_bert';
  const gte = modelType === 'new' || modelType === 'gte';
  const jinaV3 = modelType === 'jina_embeddings_v3';
  const jina = modelType === 'jina_bert';
  if (jina) checkJinaBert(cfg, file);
  if (modernbert) checkModernBert(cfg, file, flag);
  const deberta = modelType === 'deberta-v2';
  const roberta = modelType === 'roberta' || modelType === 'xlm-roberta' || modelType === 'mpnet';
  // RoBERTa's position ids count from padding_idx + 1 (create_position_ids_from_input_ids): rows it never reads
  const positionOffset = roberta ? num('pad_token_id', 1) + 1 : 0;
  if (bert) checkBert(cfg, file, flag);
  // Gemma's and ModernBERT's MLP read hidden_activation (GeGLU); the others hidden_act (SwiGLU; BERT's ungated GELU)
  const actField = gemma || modernbert ? 'hidden_activation' : 'hidden_act';
  const geluEncoder = bert || modernbert || gte || jina || jinaV3; // (GELU by erf unless the config names tanh's)
  const act = cfg[actField] ?? (gemma ? 'gelu_pytorch_tanh' : geluEncoder ? 'gelu' : 'silu'); // (nomic_bert's: silu, nomicBertConfig)
  const t5 = modelType === 't5';
  const wantAct = layerNormType ? layerNormActs(layerNormType) : gemma ? ['gelu_pytorch_tanh', 'gelu_new'] : geluEncoder ? ['gelu', 'gelu_new', 'gelu_pytorch_tanh'] : t5 ? ['relu', 'gelu_new'] : ['silu'];
  if (!wantAct.includes(act as string)) {
    throw new EmberError('UNSUPPORTED', `${file}: ${actField} ${printableJson(act)} is not supported (emberlm runs ${wantAct.join(' or ')} here)`, { file, field: actField });
  }
  const gelu = act === 'gelu' ? 'gelu' as const : 'gelu_tanh' as const; // an encoder's FFN activation
  // an encoder's token types: type_vocab_size's rows (0: none, gte-base-en-v1.5's)
  const tokenTypes = (fallback: number) => (cfg.type_vocab_size === 0 ? 0 : posInt('type_vocab_size', fallback));
  // EmbeddingGemma: transformers' Gemma 3 attends both ways with it (other families' configs do not have it)
  const bidirectional = flag('use_bidirectional_attention', false);
  if (bidirectional && modelType !== 'gemma3_text') throw new EmberError('UNSUPPORTED', `${file}: use_bidirectional_attention true is supported for gemma3_text (EmbeddingGemma) only`, { file, field: 'use_bidirectional_attention' });

  const nEmbd = posInt('hidden_size');
  const nHead = posInt('num_attention_heads');
  const nKv = posInt('num_key_value_heads', nHead);
  if (!has('head_dim') && nEmbd % nHead !== 0) throw bad('hidden_size', `${nEmbd} is not a multiple of num_attention_heads ${nHead} (and head_dim is not given)`);
  const headDim = posInt('head_dim', (gemma || qwen35) && !has('head_dim') ? 256 : nEmbd / nHead);
  const rp = isObject(cfg.rope_parameters) ? cfg.rope_parameters : {};
  const partial = typeof rp.partial_rotary_factor === 'number' ? rp.partial_rotary_factor : num('partial_rotary_factor', qwen35 ? 0.25 : 1);
  const nRot = Math.trunc(headDim * partial); // transformers: int(head_dim * partial_rotary_factor)
  if (!(partial > 0 && partial <= 1) || nRot % 2 !== 0) throw bad('partial_rotary_factor', `is ${partial}; expected a fraction of head_dim ${headDim} giving an even number of rotated dims`);

  // Biases: Qwen2 always has q/k/v biases; Llama's attention_bias adds them to o_proj too.
  if (flag('attention_bias', false)) throw new EmberError('UNSUPPORTED', `${file}: attention_bias true (a bias on o_proj as well as q/k/v) is not supported`, { file, field: 'attention_bias' });
  if (flag('mlp_bias', false)) throw new EmberError('UNSUPPORTED', `${file}: mlp_bias true is not supported`, { file, field: 'mlp_bias' });
  if (flag('use_bias', false)) throw new EmberError('UNSUPPORTED', `${file}: use_bias true (biases on every projection) is not supported`, { file, field: 'use_bias' });

  const nLayer = posInt('num_hidden_layers');
  // bounded before any per-layer list is built (a config claiming 1e8 layers must not allocate them)
  if (nLayer > CONFIG_LIMITS.nLayer) throw bad('num_hidden_layers', `is ${nLayer}; expected an integer from 1 to ${CONFIG_LIMITS.nLayer}`);
  const granite4Layers = granite4 ? graniteLayers(cfg, file, bad, nLayer, posInt('hidden_size')) : null;
  const contextTrain = posInt('max_position_embeddings', DEFAULT_CONTEXT[modelType]);
  const { ropeBase, ropeScaling, ropeBaseLocal, ropeField } = rope(cfg, file, bad, { modelType, nRot, contextTrain });
  // Granite 4.0 rotates only with position_embedding_type "rope" (GraniteMoeHybridConfig's default is none: NoPE)
  const layerRope = modelType === 'smollm3' ? nopeLayers(cfg, nLayer, bad, posInt) : granite4 && cfg.position_embedding_type !== 'rope' ? Array<boolean>(nLayer).fill(false) : ropeOnEveryLayer(nLayer);
  const layerConv = lfm2 ? convLayers(cfg, nLayer, bad) : [];
  const qwen35Mixers = qwen35 ? qwen35Layers(cfg, file, bad, nLayer) : null;
  const experts = moeLayers(cfg, modelType, file, bad, nLayer);
  // (LFM2's, Granite 4.0's and Qwen3.5's layer_types name their layers' kinds, no windows)
  const causalWindows = lfm2 || granite4 || falcon || qwen35 ? Array<number>(nLayer).fill(0) : slidingWindows(cfg, modelType, nLayer, bad, posInt, flag, layerRope);
  // Bidirectional, Gemma3TextConfig reads sliding_window S as keys less than S // 2 + 1 away on either side (ModernBERT's local_attention too)
  const windows = bidirectional || modernbert ? causalWindows.map((w) => (w > 0 ? Math.floor(w / 2) + 1 : 0)) : causalWindows;
  const slidingWindow = windows.some((w) => w > 0) ? Math.max(...windows) : null;
  const softcap = (field: string, fallback: number) => (cfg[field] === null ? 0 : num(field, fallback));

  const config: ModelConfig = validateConfig(Object.freeze({
    ...PLAIN_FEATURES,
    arch: ARCH_OF[modelType],
    name: typeof cfg._name_or_path === 'string' && cfg._name_or_path ? cfg._name_or_path : fallbackName,
    nLayer,
    nEmbd,
    nFf: modelType === 'lfm2' ? lfm2FfnWidth(cfg, posInt, num, flag) : granite4 ? posInt('shared_intermediate_size', 1024) : posInt('intermediate_size'),
    nHead,
    nKv,
    headDim,
    nRot,
    vocab: posInt('vocab_size'),
    contextTrain,
    eps: lfm2 || modernbert ? num('norm_eps', 1e-5) : layerNormType ? num('layer_norm_eps', 1e-5) : bert || nomic || gte || jina || jinaV3 ? num('layer_norm_eps', 1e-12) : num('rms_norm_eps', olmo || falcon || modelType === 'olmoe' ? 1e-5 : 1e-6),
    ropeBase,
    ropeNeox: modelType !== 'ernie4_5',
    ropeScaling: Object.freeze(ropeScaling),
    ropeBaseLocal,
    qkvBias: modelType === 'qwen2',
    qkNorm: modelType === 'qwen3' || modelType === 'qwen3_moe' || modelType === 'gemma3_text' || olmo || lfm2 || qwen35 || modelType === 'olmoe',
    qkNormAllHeads: olmo || modelType === 'olmoe',
    // (Lfm2Config: tie_embedding, when given, wins)
    tiedEmbeddings: flag(lfm2 && has('tie_embedding') ? 'tie_embedding' : 'tie_word_embeddings', gemma || modelType === 'smollm3' || modelType === 'ernie4_5' || lfm2 || modelType === 'starcoder2' || modelType === 'gpt2'),
    layerWindow: Object.freeze(windows),
    layerRope: Object.freeze(layerRope),
    ...(gemma ? { embedScale: gemmaEmbedScale(nEmbd), postNorms: true, ffnAct: 'gelu_tanh' as const, bidirectional } : {}),
    ...(olmo ? { preNorms: false, postNorms: true } : {}), // OLMo 2/3 normalise each sublayer's output only
    // BERT: no RoPE (learned positions), biases everywhere, no LM head read (BertModel has none)
    ...(bert ? {
      preNorms: false, postLayerNorms: true, learnedPositions: true, bidirectional: true, ffnGated: false, ffnAct: gelu,
      qkvBias: true, tiedEmbeddings: true, layerRope: Object.freeze(Array<boolean>(nLayer).fill(false)), tokenTypes: tokenTypes(2),
      positionOffset, contextTrain: contextTrain - positionOffset,
      ...(modelType === 'mpnet' ? { relativeBias: MPNET_RELATIVE_BIAS } : {}),
      ...(crossEncoder(cfg, file) ? { pooling: 'rank' as const } : {}),
    } : {}),
    // DeBERTa-v2/v3: no position rows, but the scores' relative terms (c2p, p2c) at 1 / sqrt(3 head_dim), as the content's
    ...(deberta ? { learnedPositions: false, tokenTypes: tokenTypes(0), disentangled: debertaBuckets(cfg, contextTrain, file), classifierAct: 'gelu' as const } : {}),
    ...(modelType === 'electra' ? { classifierAct: 'gelu' as const } : {}), // (its ElectraClassificationHead)
    // ModernBERT: LayerNorms without biases before each sublayer, over the embeddings and at the end; GeGLU by erf
    ...(modernbert ? {
      layerNorms: true, bidirectional: true, tiedEmbeddings: true, ffnAct: gelu,
      ...(crossEncoder(cfg, file) ? { pooling: 'rank' as const, classifierPooling: cfg.classifier_pooling === 'mean' ? 'mean' as const : 'cls' as const } : {}),
    } : {}),
    // T5's encoder: pre-norm RMSNorms, no positions but a bias by relative position, q.k unscaled, ReLU or GeGLU (tanh)
    ...(t5 ? {
      bidirectional: true, layerRope: Object.freeze(Array<boolean>(nLayer).fill(false)), tiedEmbeddings: true,
      relativeBias: { buckets: posInt('relative_attention_num_buckets', 32), maxDistance: posInt('relative_attention_max_distance', 128) },
      ffnGated: act !== 'relu', ffnAct: act === 'relu' ? 'relu' as const : 'gelu_tanh' as const,
    } : {}),
    // nomic-bert: BERT's post-norm layers and token types, RoPE in every layer, SwiGLU, no projection biases
    ...(nomic ? { preNorms: false, postLayerNorms: true, bidirectional: true, tiedEmbeddings: true, tokenTypes: posInt('type_vocab_size', 2) } : {}),
    // GTE v1.5: nomic-bert's layout with biases on q|k|v, o and down, GeGLU (erf's GELU), token types where any (gte-base-en-v1.5: none)
    ...(gte ? {
      preNorms: false, postLayerNorms: true, bidirectional: true, tiedEmbeddings: true, qkvBias: true, ffnAct: gelu,
      tokenTypes: tokenTypes(1),
      ...(crossEncoder(cfg, file) ? { pooling: 'rank' as const } : {}),
    } : {}),
    // jina-embeddings-v3: GTE's layout (post-norm, RoPE, fused q|k|v) with an ungated GELU FFN, biases everywhere
    ...(jinaV3 ? {
      preNorms: false, postLayerNorms: true, bidirectional: true, tiedEmbeddings: true, qkvBias: true, ffnGated: false, ffnAct: gelu, tokenTypes: tokenTypes(1),
    } : {}),
    // jina-bert-v2: BERT's post-norm layers and token types, no positions but ALiBi (llama.cpp's slopes for 8), GeGLU
    ...(jina ? {
      preNorms: false, postLayerNorms: true, bidirectional: true, tiedEmbeddings: true, qkvBias: true, layerRope: Object.freeze(Array<boolean>(nLayer).fill(false)),
      alibiMaxBias: 8, ffnAct: gelu, tokenTypes: tokenTypes(2),
    } : {}),
    ...(layerNormType ? layerNormFeatures(layerNormType, cfg, act as string, nLayer, flag) : {}),
    ...(lfm2 ? { layerConv: Object.freeze(layerConv), convKernel: posInt('conv_L_cache', 3) } : {}),
    // (empty where every layer attends, as GGUF's granite files read)
    ...(granite4Layers?.ssm ? { layerSsm: Object.freeze(granite4Layers.layerSsm), ssm: Object.freeze(granite4Layers.ssm) } : {}),
    ...(qwen35Mixers ? { layerDelta: Object.freeze(qwen35Mixers.layerDelta), delta: Object.freeze(qwen35Mixers.delta), attnGate: true } : {}),
    ...(modelType === 'ministral3' ? { attnTemperature: llama4Temperature(cfg, bad) } : {}),
    ...(experts ? { layerMoe: Object.freeze(experts.layerMoe), moe: Object.freeze(experts.moe) } : {}),
    attnScale: gemma ? 1 / Math.sqrt(num('query_pre_attn_scalar', 256)) : granite ? num('attention_multiplier', 1) : t5 ? 1 : 1 / Math.sqrt(deberta ? 3 * headDim : headDim), // (T5's init folds it in)
    attnSoftcap: gemma ? softcap('attn_logit_softcapping', modelType === 'gemma2' ? 50 : 0) : 0,
    finalSoftcap: gemma ? softcap('final_logit_softcapping', modelType === 'gemma2' ? 30 : 0) : 0,
    // Granite's multipliers (GraniteConfig's defaults are 1, attention_multiplier's too, not 1/sqrt(head_dim))
    ...(granite ? { embedScale: num('embedding_multiplier', 1), residualScale: num('residual_multiplier', 1), logitScale: num('logits_scaling', 1) } : {}),
    ...(falcon ? falconMup(cfg, bad, num, headDim, mambaShape(cfg, file, bad, nEmbd, true), nLayer) : {}),
  }), file, hfFieldNames(ropeField, gemma));
  return { config, extra: Object.freeze({ modelType, qkNorm: config.qkNorm, slidingWindow, fp8BlockSize: fp8Blocks(cfg, file) }) };
}

function hfFieldNames(rope: string, gemma: boolean): ConfigFieldNames {
  return {
    nLayer: 'field num_hidden_layers', nEmbd: 'field hidden_size', nFf: 'field intermediate_size', nHead: 'field num_attention_heads', nKv: 'field num_key_value_heads',
    headDim: 'field head_dim', nRot: 'field head_dim', vocab: 'field vocab_size', contextTrain: 'field max_position_embeddings', eps: 'field rms_norm_eps',
    ropeBase: 'field rope_theta', ropeFactor: `field ${rope}.factor`, ropeLowFreqFactor: `field ${rope}.low_freq_factor`,
    ropeHighFreqFactor: `field ${rope}.high_freq_factor`, ropeOriginalContext: `field ${rope}.original_max_position_embeddings`, ropeAttnFactor: `field ${rope}.attention_factor`,
    embedScale: 'field embedding_multiplier', attnScale: gemma ? 'field query_pre_attn_scalar' : 'field attention_multiplier', residualScale: 'field residual_multiplier', logitScale: 'field logits_scaling',
    convKernel: 'field conv_L_cache', alibiMaxBias: 'jina-bert-v2\'s ALiBi maximum bias',
  };
}

function typeFrom(cfg: Record<string, unknown>, file: string): HFModelType {
  const known = Object.keys(HF_MODEL_TYPES).join(', ');
  if (cfg.model_type !== undefined) {
    const t = cfg.model_type;
    // (jina-embeddings-v2's config.json says bert, its remote code JinaBertModel: ALiBi in place of position rows)
    if (t === 'bert' && cfg.position_embedding_type === 'alibi') return 'jina_bert';
    if (typeof t === 'string' && t in HF_MODEL_TYPES) return t as HFModelType;
    throw new EmberError('UNSUPPORTED', `${file}: model_type ${printableJson(t)} is not supported (supported: ${known})`, { file, field: 'model_type', modelType: t });
  }
  const archs = cfg.architectures;
  if (Array.isArray(archs) && typeof archs[0] === 'string') {
    const hit = Object.entries(HF_MODEL_TYPES).find(([, cls]) => cls === archs[0]);
    if (hit) return hit[0] as HFModelType;
    throw new EmberError('UNSUPPORTED', `${file}: architecture ${printableJson(archs[0])} is not supported (supported: ${Object.values(HF_MODEL_TYPES).join(', ')})`, { file, field: 'architectures' });
  }
  throw new EmberError('BAD_MODEL', `${file}: field model_type is missing (and architectures names no class)`, { file, field: 'model_type' });
}

export type Bad = (field: string, msg: string) => EmberError;

/**
 * Which layers attend through a window, and its size: `layer_types` when given ("sliding_attention"),
 * else each family's rule as transformers applies it (Mistral, Phi-3: every layer when sliding_window is
 * set; Qwen2/3: layers >= max_window_layers when use_sliding_window; SmolLM3: its NoPE layers when
 * use_sliding_window; Gemma 2: even layers; Gemma 3: all but every sliding_window_pattern-th; OLMo 3: all but every 4th;
 * ModernBERT: local_attention, all but every global_attn_every_n_layers-th from the first).
 */
function slidingWindows(cfg: Record<string, unknown>, t: HFModelType, nLayer: number, bad: Bad, posInt: (f: string, d?: number) => number, flag: (f: string, d: boolean) => boolean, layerRope: readonly boolean[]): number[] {
  const gemma = t === 'gemma2' || t === 'gemma3_text';
  const qwen = t === 'qwen2' || t === 'qwen3';
  const gated = qwen || t === 'smollm3'; // a window only with use_sliding_window
  let window = 0;
  if (gemma || t === 'olmo3') window = posInt('sliding_window', 4096);
  else if (t === 'modernbert') window = posInt('local_attention', 128);
  else if (cfg.sliding_window !== undefined && cfg.sliding_window !== null && (!gated || flag('use_sliding_window', false))) window = posInt('sliding_window');
  const types = cfg.layer_types;
  if (types !== undefined && types !== null) {
    if (!Array.isArray(types) || types.length !== nLayer || !types.every((v) => v === 'sliding_attention' || v === 'full_attention')) {
      throw bad('layer_types', `is ${JSON.stringify(types)}; expected ${nLayer} entries of "sliding_attention" or "full_attention"`);
    }
    return layerWindows(nLayer, window, (l) => types[l] === 'sliding_attention');
  }
  if (t === 'gemma2') return layerWindows(nLayer, window, (l) => (l + 1) % 2 !== 0);
  if (t === 'modernbert') {
    const every = posInt('global_attn_every_n_layers', 3);
    return layerWindows(nLayer, window, (l) => l % every !== 0);
  }
  if (t === 'gemma3_text') {
    const period = posInt('sliding_window_pattern', 6);
    return layerWindows(nLayer, window, (l) => (l + 1) % period !== 0);
  }
  if (t === 'smollm3') return layerWindows(nLayer, window, (l) => !layerRope[l]); // SmolLM3Config: the NoPE layers slide
  if (t === 'olmo3') return layerWindows(nLayer, window, (l) => (l + 1) % 4 !== 0); // Olmo3Config: 3 of 4
  if (qwen) {
    const from = cfg.max_window_layers === undefined ? 28 : posInt('max_window_layers');
    return layerWindows(nLayer, window, (l) => l >= from);
  }
  return layerWindows(nLayer, window, () => true);
}

/** LFM2's short-convolution layers: `layer_types` ("conv" or "full_attention"), else every layer not in `full_attn_idxs`. */
function convLayers(cfg: Record<string, unknown>, nLayer: number, bad: Bad): boolean[] {
  const types = cfg.layer_types;
  if (types !== undefined && types !== null) {
    if (!Array.isArray(types) || types.length !== nLayer || !types.every((v) => v === 'conv' || v === 'full_attention')) {
      throw bad('layer_types', `is ${printableJson(types)?.slice(0, 80)}; expected ${nLayer} entries of "conv" or "full_attention"`);
    }
    return types.map((v) => v === 'conv');
  }
  const full = cfg.full_attn_idxs;
  if (!Array.isArray(full) || !full.every((i) => Number.isInteger(i) && i >= 0 && i < nLayer)) {
    throw bad('full_attn_idxs', `is ${printableJson(full)?.slice(0, 80)}; expected the indices of the attention layers (or layer_types)`);
  }
  return Array.from({ length: nLayer }, (_, l) => !full.includes(l));
}

/** LFM2's MLP width as Lfm2MLP computes it: with block_auto_adjust_ff_dim, 2/3 of intermediate_size, times the multiplier, rounded up to block_multiple_of. */
/** The mixtures of experts a model_type has, where it has any (src/hf/config_moe.ts). */
function moeLayers(cfg: Record<string, unknown>, modelType: HFModelType, file: string, bad: Bad, nLayer: number) {
  if (modelType === 'qwen3_moe') return qwen3MoeLayers(cfg, file, bad, nLayer);
  if (modelType === 'granitemoe') return graniteMoeLayers(cfg, file, nLayer);
  if (modelType === 'lfm2_moe') return lfm2MoeLayers(cfg, file, bad, nLayer);
  if (modelType === 'olmoe') return olmoeLayers(cfg, file, bad, nLayer);
  // Granite 4.0-H-Tiny/Small: experts beside the shared MLP (GraniteMoeHybridConfig's default: 8 of them)
  if (modelType === 'granitemoehybrid' && cfg.num_local_experts !== 0) return graniteMoeLayers(cfg, file, nLayer, true);
  return null;
}

function lfm2FfnWidth(cfg: Record<string, unknown>, posInt: (f: string, d?: number) => number, num: (f: string, d?: number) => number, flag: (f: string, d: boolean) => boolean): number {
  let width = cfg.block_ff_dim !== undefined ? posInt('block_ff_dim') : posInt('intermediate_size', 12288); // Lfm2Config: block_ff_dim wins
  if (!flag('block_auto_adjust_ff_dim', true)) return width;
  width = Math.trunc((2 * width) / 3);
  if (cfg.block_ffn_dim_multiplier === null) return width;
  const multiple = posInt('block_multiple_of', 256);
  width = Math.trunc(num('block_ffn_dim_multiplier', 1) * width);
  return multiple * Math.ceil(width / multiple);
}

/**
 * SmolLM3's NoPE layers: `no_rope_layers`, one entry a layer, 1 (RoPE) or 0 (none), else every
 * `no_rope_layer_interval`-th layer (default 4) takes none, as SmolLM3Config fills it in.
 */
function nopeLayers(cfg: Record<string, unknown>, nLayer: number, bad: Bad, posInt: (f: string, d?: number) => number): boolean[] {
  const list = cfg.no_rope_layers;
  if (list === undefined || list === null) return nopeEvery(nLayer, posInt('no_rope_layer_interval', 4));
  if (!Array.isArray(list) || list.length !== nLayer || !list.every((v) => v === 0 || v === 1 || typeof v === 'boolean')) {
    throw bad('no_rope_layers', `is ${printableJson(list)?.slice(0, 80)}; expected ${nLayer} entries of 1 (RoPE) or 0 (no RoPE), one per layer`);
  }
  return list.map((v) => v === 1 || v === true);
}

/** quantization_config: none, or native FP8 with block scales (quant_method "fp8"). */
function fp8Blocks(cfg: Record<string, unknown>, file: string): readonly [number, number] | null {
  const q = cfg.quantization_config;
  if (q === undefined || q === null) return null;
  if (!isObject(q)) throw new EmberError('BAD_MODEL', `${file}: field quantization_config is not an object`, { file, field: 'quantization_config' });
  if (q.quant_method !== 'fp8') {
    throw new EmberError('UNSUPPORTED', `${file}: quantization_config.quant_method ${printableJson(q.quant_method)} is not supported (only native "fp8" checkpoints)`, { file, field: 'quantization_config.quant_method' });
  }
  if (q.fmt !== undefined && q.fmt !== 'e4m3') {
    throw new EmberError('UNSUPPORTED', `${file}: quantization_config.fmt ${printableJson(q.fmt)} is not supported (e4m3)`, { file, field: 'quantization_config.fmt' });
  }
  const b = q.weight_block_size ?? [128, 128];
  if (!Array.isArray(b) || b.length !== 2 || !b.every((v) => Number.isInteger(v) && v > 0)) {
    throw new EmberError('BAD_MODEL', `${file}: field quantization_config.weight_block_size is ${printableJson(b)}; expected two positive integers`, { file, field: 'quantization_config.weight_block_size' });
  }
  return [b[0] as number, b[1] as number];
}
