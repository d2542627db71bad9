import { EmberError } from '../errors.ts';
import { metaBool, metaNumber, metaString, type GGUFFile } from '../gguf/reader.ts';
import { printable } from '../util/printable.ts';
import { validateConfig, validateSsm, type ConfigFieldNames } from './validate.ts';
import { UNIT_SCALES, type SsmShape } from './ssm_shape.ts';
import type { DeltaShape } from './delta_shape.ts';
import { qwen35Gguf, qwen35NextnLayers } from './config_delta_gguf.ts';
import { ggufMoe, type MoeShape } from './moe_shape.ts';
import type { FfnAct } from '../kernels/swiglu.ts';
import { POOLING, type Pooling } from './pooling.ts';
// How an embedding pools (src/model/pooling.ts), read by configFromGGUF and exported from here as before.
export { embedsInOnePass, pooledRows, poolingType, type Pooling } from './pooling.ts';

/** Architectures run by the one forward function; differences are flags below, not code copies. */
export const SUPPORTED_ARCHS = ['llama', 'mistral', 'qwen2', 'qwen3', 'gemma2', 'gemma3', 'phi3', 'smollm3', 'ernie4_5', 'granite', 'olmo2', 'lfm2', 'mistral3', 'falcon-h1', 'qwen35', 'bert', 'phi2', 'stablelm', 'gptneox', 'starcoder2', 'gpt2'] as const;
/** A forward pass's architecture: a GGUF one (SUPPORTED_ARCHS), or ModernBERT's or T5's encoder, read from Hugging Face folders only. */
export type Arch = (typeof SUPPORTED_ARCHS)[number] | 'modern-bert' | 't5';

/** Everything the forward pass needs to know about a model, validated once at load. */
export interface ModelConfig {
  readonly arch: Arch;
  readonly name: string;
  readonly nLayer: number;
  readonly nEmbd: number; // model width D
  readonly nFf: number; // MLP hidden width F
  readonly nHead: number;
  readonly nKv: number; // KV heads (GQA when < nHead)
  readonly headDim: number;
  readonly nRot: number; // rotated dims per head
  readonly vocab: number;
  readonly contextTrain: number; // the context length the model was trained with
  readonly eps: number; // RMSNorm epsilon
  readonly ropeBase: number;
  readonly ropeNeox: boolean; // half-split rotation (Qwen2, NeoX) rather than adjacent pairs (Llama GGUF)
  readonly ropeScaling: RopeScalingConfig;
  /** RoPE base of the windowed layers, unscaled (Gemma 3's local layers); null: they rotate like the others. */
  readonly ropeBaseLocal: number | null;
  readonly qkvBias: boolean;
  readonly qkNorm: boolean; // per-head RMSNorm of Q and K before RoPE (Qwen3, Gemma 3)
  /** OLMo 2: the Q and K norms span all heads (one RMSNorm over q_dim, one over kv_dim; weights that long), not one head each. */
  readonly qkNormAllHeads: boolean;
  readonly tiedEmbeddings: boolean; // no output.weight: the LM head reads token_embd
  /** Per layer: attention window W (the query at position p sees keys p-W+1..p), or 0 for full attention. */
  readonly layerWindow: readonly number[];
  /** Per layer: whether q and k are rotated; false for SmolLM3's NoPE layers (every 4th by default). */
  readonly layerRope: readonly boolean[];
  /**
   * Per layer: a gated short convolution in place of attention (LFM2): in_proj to B, C and x, B * x convolved over
   * each channel's last convKernel positions, times C, out_proj. Empty or all false for the attention-only families.
   */
  readonly layerConv: readonly boolean[];
  /** Taps of the short convolutions (LFM2's conv_L_cache, 3), or 0 where no layer has one. */
  readonly convKernel: number;
  /**
   * Per layer: a Mamba-2 mixer, in place of attention (Granite 4.0-H) or beside it (ssmBesideAttention: Falcon-H1):
   * in_proj to z, x|B|C and dt; x|B|C convolved causally (a bias, SiLU); the selective scan over a recurrent state;
   * y + D x times SiLU(z), RMS-normalised where ssm.gatedNorm; out_proj. Empty for the other families.
   */
  readonly layerSsm: readonly boolean[];
  /** The Mamba-2 mixers' shape, or null where no layer has one. */
  readonly ssm: SsmShape | null;
  /**
   * Per layer: a Gated DeltaNet in place of attention (Qwen3.5's linear-attention layers): in-projections to z, q|k|v,
   * b and a; q|k|v convolved causally (SiLU); q and k L2-normalised; a delta-rule update of a (key x value) state per
   * value head, decayed by exp(A softplus(a + dt_bias)), written by sigmoid(b); the read-out RMS-normalised per head,
   * times SiLU(z); out_proj. Empty for the other families.
   */
  readonly layerDelta: readonly boolean[];
  /** The Gated DeltaNet mixers' shape, or null where no layer has one. */
  readonly delta: DeltaShape | null;
  /**
   * Qwen3.5's attention layers: the q projection also writes a gate per q channel (its rows interleaved per head: q
   * then gate), and the attention's output is multiplied by sigmoid(gate) before o_proj.
   */
  readonly attnGate: boolean;
  /** Per layer: a mixture of experts in place of the dense FFN (Qwen3-MoE, Mixtral); empty where no layer has one. */
  readonly layerMoe: readonly boolean[];
  /** The mixtures' shape (src/model/moe_shape.ts), or null where no layer has one. */
  readonly moe: MoeShape | null;
  /**
   * How the file says an embedding is pooled (GGUF `<arch>.pooling_type`): `embed` takes the last token's, and refuses
   * the others (mean, cls, rank); absent where the file says nothing.
   */
  readonly pooling?: Pooling;
  /** A ModernBERT cross-encoder's (pooling 'rank'): which rows its head reads, their mean or the [CLS] row (classifier_pooling). */
  readonly classifierPooling?: 'cls' | 'mean';
  /** A BERT-layout cross-encoder's head activation over [CLS]'s dense layer: BERT's pooler's tanh (absent), or GELU by erf (DeBERTa's ContextPooler, ELECTRA's head). */
  readonly classifierAct?: 'gelu';
  /**
   * EmbeddingGemma (use_bidirectional_attention): a prefill pass's queries also see its later keys, within a windowed
   * layer's window on either side (layerWindow W: keys p-W+1..p+W-1). Such a model embeds (each input in one pass) and
   * does not generate.
   */
  readonly bidirectional: boolean;
  /**
   * BERT (an encoder: with `bidirectional`): LayerNorm with a bias in place of RMSNorm, after each residual add (x =
   * LN(x + sublayer(x)), no pre-norms, every projection with a bias) and over the embeddings, which add a learned
   * absolute position's row and a token type's (position_embd, token_types: type 0, or 1 from PassInput.segmentB on, a
   * cross-encoder's document); no final norm: the embedding pools the residual stream itself.
   */
  readonly postLayerNorms: boolean;
  /**
   * BERT, RoBERTa, DistilBERT: the embeddings add a learned absolute position's row (position_embd; the context is at
   * most its rows). nomic-bert is BERT's post-norm encoder with RoPE instead (its embeddings add the token type's row only).
   */
  readonly learnedPositions: boolean;
  /**
   * ModernBERT (an encoder: with `bidirectional`): LayerNorm without a bias in place of RMSNorm, for the pre-norms (none
   * before the first layer's attention), over the embeddings (no positions: RoPE) and as the final norm.
   */
  readonly layerNorms: boolean;
  /**
   * GPT-NeoX, Phi-2, StableLM: LayerNorms with a bias in place of RMSNorm, before each sublayer and as the final norm
   * (attn_norm, ffn_norm and output_norm, each `.weight` and `.bias`); their projections' biases (attn_output, ffn_up,
   * ffn_down, output) are read where the file has them.
   */
  readonly preLayerNorms: boolean;
  /**
   * The FFN beside attention rather than after it, x + attn(norm(x)) + ffn(norm'(x)): Phi-2's and StableLM's
   * use_parallel_residual read one norm for both ('shared': no ffn_norm), GPT-NeoX's its own of the layer's input ('own');
   * null where the FFN reads x after attention's add (every other family).
   */
  readonly parallelFfn: 'shared' | 'own' | null;
  /**
   * MPNet and T5's encoder: every attention score gets a learned bias by the key's position relative to the query's,
   * bucketed as T5 does (half the buckets for keys after the query, exact up to buckets / 4 apart, then logarithmic up to
   * maxDistance); one table (attn_rel_b, buckets x heads) for all layers. null elsewhere.
   */
  readonly relativeBias: { readonly buckets: number; readonly maxDistance: number } | null;
  /**
   * jina-bert-v2 (jina-embeddings-v2): ALiBi, -slope_h |key - query| on every score in place of position rows, head h's
   * slope from this maximum bias as llama.cpp's soft_max takes it (8: 2^-8(h+1)/H for a power-of-two H); 0 elsewhere.
   */
  readonly alibiMaxBias: number;
  /**
   * DeBERTa-v2/v3: disentangled attention. Each score adds q_i . Kr[d] + k_j . Qr[d], Kr and Qr the layer's key and query
   * projections (biases too) of the LayerNorm'd rel_embd rows, d = clamp(bucket(i - j) + buckets, 0, 2 buckets - 1) with
   * transformers' log buckets (exact below buckets / 2, logarithmic to maxPosition); attnScale is 1 / sqrt(3 head_dim)
   * on all three terms. null elsewhere.
   */
  readonly disentangled: { readonly buckets: number; readonly maxPosition: number } | null;
  /** BERT: rows of token_types (type_vocab_size: an embedding's tokens are of type 0, a cross-encoder's document of type 1), else 0. */
  readonly tokenTypes: number;
  /**
   * RoBERTa and XLM-R (BERT's layout otherwise): position p reads position_embd's row p + positionOffset (padding_idx + 1,
   * as their position ids count from there); contextTrain is what is left of the table. 0 for BERT and the decoders.
   */
  readonly positionOffset: number;
  /** Falcon-H1: each layer runs attention and its Mamba-2 mixer side by side on one norm, both outputs added to x. */
  readonly ssmBesideAttention: boolean;
  /**
   * Falcon-H1's muP multipliers on each sublayer's output before the residual add (attention's, the Mamba-2 mixer's, the
   * FFN's) and on the FFN's gate before its activation; null elsewhere. (Its attention-input and key multipliers are
   * in attnScale and `attnOut`, its embedding and LM-head ones in embedScale and logitScale.)
   */
  readonly mup: { readonly attnOut: number; readonly ssmOut: number; readonly ffnOut: number; readonly ffnGate: number } | null;
  readonly embedScale: number; // the embedding row is multiplied by this (Gemma: sqrt(D) rounded to f32), else 1
  /** Each sublayer reads the residual stream through its RMSNorm (attn_norm, ffn_norm); false for OLMo 2, whose sublayers read it as it is. */
  readonly preNorms: boolean;
  /** Gemma 2/3, OLMo 2: RMSNorm of the attention and of the FFN output before each residual add (post_attention_norm, post_ffw_norm). */
  readonly postNorms: boolean;
  /** The FFN's activation: SwiGLU's gate, GeGLU's with tanh-approximated GELU (Gemma), or GELU by erf (BERT's ungated: ffnGated; ModernBERT's GeGLU). */
  readonly ffnAct: FfnAct;
  /** h = act(gate) * up (every family but BERT), or h = act(up): one up matrix, no gate. */
  readonly ffnGated: boolean;
  readonly attnScale: number; // multiplies q.k: 1/sqrt(head_dim), or Gemma's query_pre_attn_scalar^-0.5
  readonly attnSoftcap: number; // Gemma 2: scores = cap * tanh(scores / cap) before softmax; 0 = off
  readonly finalSoftcap: number; // Gemma 2: logits = cap * tanh(logits / cap); 0 = off
  /** Granite: the attention and FFN outputs are multiplied by this before each residual add (residual_multiplier), else 1. */
  readonly residualScale: number;
  /** Granite: logits are divided by this (logits_scaling), else 1. */
  readonly logitScale: number;
  /**
   * Ministral 3 (Llama 4's attention temperature): after RoPE, q times 1 + beta ln(1 + floor(pos / floor)), 1 below `floor`
   * positions (YaRN's original context); null where the model has none.
   */
  readonly attnTemperature: { readonly beta: number; readonly floor: number } | null;
}

/** The GGUF metadata key (or tensor) behind each ModelConfig field, for validateConfig's messages. */
function ggufFieldNames(arch: string): ConfigFieldNames {
  const k = (s: string) => `metadata key ${arch}.${s}`;
  return {
    nLayer: k('block_count'), nEmbd: k('embedding_length'), nFf: k('feed_forward_length'), nHead: k('attention.head_count'),
    nKv: k('attention.head_count_kv'), headDim: k('attention.key_length'), nRot: k('rope.dimension_count'),
    vocab: 'the row count of token_embd.weight', contextTrain: k('context_length'), eps: k(arch === 'bert' ? 'attention.layer_norm_epsilon' : 'attention.layer_norm_rms_epsilon'),
    ropeBase: k('rope.freq_base'), ropeFactor: k('rope.scaling.factor'), ropeLowFreqFactor: k('rope.scaling.low_freq_factor'),
    ropeHighFreqFactor: k('rope.scaling.high_freq_factor'), ropeOriginalContext: k('rope.scaling.original_context_length'), ropeAttnFactor: k('rope.scaling.attn_factor'),
    embedScale: k('embedding_scale'), attnScale: k('attention.scale'), residualScale: k('residual_scale'), logitScale: k('logit_scale'),
    convKernel: k('shortconv.l_cache'), alibiMaxBias: k('attention.max_alibi_bias'),
  };
}

/**
 * How RoPE frequencies are scaled. longrope (Phi-3 `longrope`/`su`): inv_freq[i] = base^(-2i/n_rot) / factor[i]
 * with short factors, or long ones for a forward pass whose last position + 1 exceeds originalContext (as
 * transformers switches them, per call); cos and sin are multiplied by attnFactor. Factors absent here are
 * read from the rope_factors_short/long.weight tensors (GGUF). yarn (YaRN, static as transformers and llama.cpp
 * run it): each frequency blends base^(-2i/n_rot) and that divided by factor along a ramp between the pairs that
 * turn betaFast and betaSlow times in originalContext positions; cos and sin are multiplied by attnFactor.
 */
export interface RopeScalingConfig {
  readonly type: 'none' | 'linear' | 'llama3' | 'longrope' | 'yarn';
  readonly factor: number;
  readonly lowFreqFactor?: number;
  readonly highFreqFactor?: number;
  readonly originalContext?: number;
  readonly shortFactor?: readonly number[];
  readonly longFactor?: readonly number[];
  readonly attnFactor?: number;
  readonly betaFast?: number;
  readonly betaSlow?: number;
  readonly truncate?: boolean; // yarn: the ramp's ends rounded out to whole pairs (transformers' default, llama.cpp's rule)
}

/** YaRN's attention factor from its factor alone (transformers' get_mscale, llama.cpp's 1 + 0.1 ln(1 / freq_scale)). */
export function yarnMscale(factor: number, mscale = 1): number {
  return factor <= 1 ? 1 : 0.1 * mscale * Math.log(factor) + 1;
}

/** The features a plain Llama-style model has; families override what they change. */
export const PLAIN_FEATURES = {
  layerConv: [], convKernel: 0, layerSsm: [], ssm: null, layerDelta: [], delta: null, layerMoe: [], moe: null, attnGate: false, ssmBesideAttention: false, mup: null, bidirectional: false, attnTemperature: null, ropeBaseLocal: null, qkNormAllHeads: false, preNorms: true, postNorms: false, postLayerNorms: false, learnedPositions: false, layerNorms: false, preLayerNorms: false, parallelFfn: null, relativeBias: null, alibiMaxBias: 0, disentangled: null, tokenTypes: 0, positionOffset: 0, ffnAct: 'silu', ffnGated: true,
  attnSoftcap: 0, finalSoftcap: 0, embedScale: 1, residualScale: 1, logitScale: 1,
} as const;

/** Per-layer windows from a window size and which layers use it. */
export function layerWindows(nLayer: number, window: number, isWindowed: (layer: number) => boolean): number[] {
  return Array.from({ length: nLayer }, (_, l) => (window > 0 && isWindowed(l) ? window : 0));
}

/** Rotated dims per head of layer l: nRot, or 0 where the layer takes no RoPE (its q and k pass through as they are). */
export const layerRot = (c: ModelConfig, l: number) => (c.layerRope[l] === false ? 0 : c.nRot);

/** Every layer rotates q and k (every family but SmolLM3). */
export const ropeOnEveryLayer = (nLayer: number): boolean[] => Array<boolean>(nLayer).fill(true);

/** SmolLM3's NoPE rule where a file lists no layers: every `interval`-th layer (transformers' default, llama.cpp's fixed 4). */
export const nopeEvery = (nLayer: number, interval: number): boolean[] => Array.from({ length: nLayer }, (_, l) => (l + 1) % interval !== 0);

/**
 * How a GGUF architecture rotates: adjacent pairs (2i, 2i + 1) where llama.cpp's converter permutes the q/k rows into
 * them (llama, mistral, smollm3, granite, granitehybrid, mistral3) or the checkpoint already rotates so (ernie4_5), else halves (NeoX order).
 */
export const ggufRopeNeox = (arch: string) => !['llama', 'mistral', 'smollm3', 'ernie4_5', 'granite', 'granitemoe', 'granitehybrid', 'mistral3'].includes(arch);

/** Which layers a GGUF architecture rotates: llama.cpp has no key for smollm3's NoPE layers and skips every 4th. */
export const ggufLayerRope = (arch: string, nLayer: number): boolean[] =>
  (arch === 'smollm3' ? nopeEvery(nLayer, 4) : arch === 'bert' || arch === 'jina-bert-v2' || arch === 'gpt2' ? Array<boolean>(nLayer).fill(false) : ropeOnEveryLayer(nLayer)); // (BERT, GPT-2: learned positions; jina-bert-v2: ALiBi)

/** Gemma: sqrt(hidden) as transformers computes it in float32. */
export const gemmaEmbedScale = (nEmbd: number) => Math.fround(Math.sqrt(nEmbd));

function positive(f: GGUFFile, key: string, v: number): number {
  if (!Number.isInteger(v) || v <= 0) throw new EmberError('BAD_MODEL', `${f.source.name}: ${key} is ${v}; expected a positive integer`);
  return v;
}

/** GGUF architectures run as one of SUPPORTED_ARCHS: llama.cpp's granitehybrid is Granite with Mamba-2 layers. */
const GGUF_ARCH_AS: Readonly<Record<string, Arch>> = { 'nomic-bert': 'bert', 'jina-bert-v2': 'bert', 'gemma-embedding': 'gemma3', granitehybrid: 'granite', granitemoe: 'granite', qwen3moe: 'qwen3', lfm2moe: 'lfm2', olmoe: 'llama' };

/** The rows of a BERT file's token_types.weight (type_vocab_size): 1 where it is a vector, 0 where it is missing. */
const tokenTypeRows = (f: GGUFFile) => {
  const t = f.tensors.get('token_types.weight');
  return t ? (t.ne[1] ?? 1) : 0;
};


export function configFromGGUF(f: GGUFFile): ModelConfig {
  const arch = metaString(f, 'general.architecture');
  if (!(SUPPORTED_ARCHS as readonly string[]).includes(arch) && !GGUF_ARCH_AS[arch]) {
    const names = [...SUPPORTED_ARCHS, ...Object.keys(GGUF_ARCH_AS)].join(', ');
    throw new EmberError('UNSUPPORTED', `${f.source.name}: architecture ${printable(arch)} is not supported (supported: ${names})`, { arch });
  }
  const hybrid = arch === 'granitehybrid';
  const lfm2 = arch === 'lfm2' || arch === 'lfm2moe';
  const falcon = arch === 'falcon-h1'; // a Mamba-2 mixer beside attention in every layer, its muP multipliers in the weights
  const k = (s: string) => `${arch}.${s}`;
  const num = (s: string, fallback?: number) => metaNumber(f, k(s), fallback);
  const nEmbd = num('embedding_length');
  const nHead = num('attention.head_count');
  // LFM2, granitehybrid: one head_count_kv per layer, 0 for the short-convolution or Mamba-2 layers
  const kvList = f.metadata.get(k('attention.head_count_kv'));
  const kvPerLayer = Array.isArray(kvList) || ArrayBuffer.isView(kvList) ? Array.from(kvList as ArrayLike<number>, Number) : null;
  const nKv = kvPerLayer ? Math.max(...kvPerLayer.filter((n) => n > 0), 0) : num('attention.head_count_kv', nHead);
  if (kvPerLayer && kvPerLayer.some((n) => n !== 0 && n !== nKv)) {
    throw new EmberError('UNSUPPORTED', `${f.source.name}: ${k('attention.head_count_kv')} differs between attention layers (${[...new Set(kvPerLayer)].join(', ')}); emberlm needs one count`);
  }
  const headDim = num('attention.key_length', nEmbd / nHead);
  const nRot = num('rope.dimension_count', headDim);
  const embd = f.tensors.get('token_embd.weight');
  if (!embd) throw new EmberError('BAD_MODEL', `${f.source.name}: tensor token_embd.weight is missing`);
  const tokens = f.metadata.get('tokenizer.ggml.tokens');
  const vocab = embd.ne[1] ?? 0;
  if (Array.isArray(tokens) && tokens.length !== vocab) {
    // llama.cpp allows a padded embedding (more rows than tokens); fewer rows than tokens is broken.
    if (tokens.length > vocab) throw new EmberError('BAD_MODEL', `${f.source.name}: tokenizer has ${tokens.length} tokens but token_embd.weight has ${vocab} rows`);
  }
  const nLayer = positive(f, k('block_count'), num('block_count') - qwen35NextnLayers(f, arch));
  const contextTrain = num('context_length', 2048);
  const gemma3 = arch === 'gemma3' || arch === 'gemma-embedding'; // (EmbeddingGemma: Gemma 3 attending both ways)
  const gemma = arch === 'gemma2' || gemma3;
  const olmo = arch === 'olmo2';
  // an encoder (postLayerNorms): llama.cpp's bert files, embeddings only; nomic-bert's (nomic-embed-text) rotate and gate,
  // jina-bert-v2's (jina-embeddings-v2) add ALiBi's biases and gate
  const nomic = arch === 'nomic-bert';
  const jina = arch === 'jina-bert-v2';
  const bert = arch === 'bert' || nomic || jina;
  const qwen35 = arch === 'qwen35'; // Gated DeltaNet layers beside gated attention; its post_attention_norm is the FFN's pre-norm
  // OLMo 3 (GGUF olmo2 with a window): its windowed layers rotate unscaled, at rope.freq_base_swa or the same base, as llama.cpp
  const olmoSwa = olmo && num('attention.sliding_window', 0) > 0;
  // LayerNorms with biases (GPT-NeoX, Phi-2, StableLM, StarCoder2, GPT-2), the FFN beside attention as llama.cpp's graphs run it: Phi-2's
  // always on one norm, StableLM's where its layers have no ffn_norm, GPT-NeoX's on its own norm with use_parallel_residual
  const layerNormed = arch === 'phi2' || arch === 'stablelm' || arch === 'gptneox' || arch === 'starcoder2' || arch === 'gpt2';
  if (layerNormed && f.tensors.has('blk.0.attn_q_norm.weight')) {
    throw new EmberError('UNSUPPORTED', `${f.source.name}: ${arch} with q/k norms (blk.0.attn_q_norm: LayerNorms per head, StableLM 2 12B's) is not supported`, { arch, tensor: 'blk.0.attn_q_norm.weight' });
  }
  const parallelFfn = arch === 'phi2' || (arch === 'stablelm' && !f.tensors.has('blk.0.ffn_norm.weight')) ? 'shared' as const
    : arch === 'gptneox' && metaBool(f, k('use_parallel_residual'), true) ? 'own' as const : null;
  // Granite's multipliers, as llama.cpp reads them: 0 or absent is no scaling, logit_scale is required.
  const granite = (key: string, fallback?: number) => (arch === 'granite' || arch === 'granitemoe' || hybrid ? num(key, fallback) || 1 : 1);
  const config = validateConfig(Object.freeze({
    arch: GGUF_ARCH_AS[arch] ?? (arch as Arch),
    name: metaString(f, 'general.name', arch),
    nLayer,
    nEmbd,
    nFf: num('feed_forward_length'),
    nHead,
    nKv,
    headDim,
    nRot,
    vocab,
    contextTrain,
    eps: bert || layerNormed ? num('attention.layer_norm_epsilon') : num('attention.layer_norm_rms_epsilon', 1e-5),
    ropeBase: num('rope.freq_base', 10000),
    ropeNeox: ggufRopeNeox(arch),
    ropeScaling: Object.freeze(ggufRopeScaling(f, arch, contextTrain)),
    ropeBaseLocal: gemma3 ? num('rope.freq_base_swa', 10000) : olmoSwa ? num('rope.freq_base_swa', num('rope.freq_base', 10000)) : null,
    qkvBias: f.tensors.has('blk.0.attn_q.bias') || (layerNormed && f.tensors.has('blk.0.attn_qkv.bias')),
    qkNorm: !jina && [...f.tensors.keys()].some((name) => /^blk\.\d+\.attn_q_norm\.weight$/.test(name)), // (LFM2's layer 0 may be a convolution; jina-bert-v2's are LayerNorms: PostLayerNorms.qk)
    qkNormAllHeads: olmo || arch === 'olmoe', // (q and k normalised across their heads at once)
    tiedEmbeddings: !f.tensors.has('output.weight'),
    layerWindow: Object.freeze([]), // filled in below, once nLayer is known to be in range
    layerRope: Object.freeze([]), // likewise
    embedScale: gemma ? gemmaEmbedScale(nEmbd) : granite('embedding_scale', 0),
    preNorms: !olmo && !bert,
    postNorms: !qwen35 && f.tensors.has('blk.0.post_attention_norm.weight'),
    postLayerNorms: bert,
    learnedPositions: arch === 'bert' || arch === 'gpt2', // (GPT-2's added to its embeddings: position_embd)
    layerNorms: false,
    preLayerNorms: layerNormed,
    parallelFfn,
    relativeBias: null, // (llama.cpp has no MPNet)
    alibiMaxBias: jina ? num('attention.max_alibi_bias', 8) : 0, // (llama.cpp's jina-bert-v2 takes 8)
    disentangled: null, // (llama.cpp has no DeBERTa)
    tokenTypes: bert ? tokenTypeRows(f) : 0,
    positionOffset: 0,
    // (BERT's GELU is erf's, as transformers runs it; llama.cpp's ggml_gelu is the tanh approximation)
    // (the ungated FFNs' GELU as llama.cpp's ggml_gelu runs it: tanh's, where transformers runs GPT-NeoX's by erf)
    ffnAct: gemma || (layerNormed && arch !== 'stablelm') ? 'gelu_tanh' : bert && !nomic ? 'gelu' : 'silu',
    ffnGated: arch !== 'bert' && !(layerNormed && arch !== 'stablelm'),
    attnScale: num('attention.scale', 0) || 1 / Math.sqrt(headDim), // llama.cpp: 0 or absent is 1/sqrt(head_dim)
    // llama.cpp's defaults for Gemma 2 when the keys are absent (50 and 30); Gemma 3 has none
    attnSoftcap: num('attn_logit_softcapping', arch === 'gemma2' ? 50 : 0),
    finalSoftcap: num('final_logit_softcapping', arch === 'gemma2' ? 30 : 0),
    residualScale: granite('residual_scale', 0),
    logitScale: granite('logit_scale', hybrid ? 0 : undefined), // (optional in llama.cpp's granitehybrid)
    layerConv: Object.freeze([]), // filled in below
    convKernel: lfm2 ? num('shortconv.l_cache') : 0,
    layerSsm: Object.freeze([]), // filled in below
    ssm: hybrid || falcon ? ggufSsm(f, arch) : null,
    ssmBesideAttention: falcon,
    layerDelta: Object.freeze([]), // filled in below
    delta: null,
    layerMoe: Object.freeze([]), // filled in below
    moe: null,
    attnGate: qwen35,
    mup: null,
    bidirectional: arch === 'gemma-embedding' || bert,
    attnTemperature: ggufAttnTemperature(f, arch, contextTrain),
  }), f.source.name, ggufFieldNames(arch));
  // One entry per layer: built after validateConfig bounds block_count (2^31 layers would exhaust the heap).
  if (kvPerLayer && kvPerLayer.length !== nLayer) {
    throw new EmberError('BAD_MODEL', `${f.source.name}: ${k('attention.head_count_kv')} has ${kvPerLayer.length} entries; expected ${nLayer} (one per layer)`);
  }
  const recurrent = Array.from({ length: nLayer }, (_, l) => kvPerLayer?.[l] === 0);
  // granitehybrid rotates only where rope.scaling.finetuned is true (llama.cpp's switch; its converter writes false for the -H models)
  const layerRope = hybrid ? Array<boolean>(nLayer).fill(metaBool(f, `${arch}.rope.scaling.finetuned`, true)) : ggufLayerRope(arch, nLayer);
  const q35 = qwen35 ? qwen35Gguf(f, arch, nLayer) : null;
  // Mixtures of experts (Qwen3-MoE, Mixtral's llama files); refused for the architectures not read for them
  const moe = ggufMoe(f, arch, nLayer);
  const pooling = POOLING[num('pooling_type', -1)];
  return Object.freeze({
    ...(pooling ? { pooling } : {}),
    ...config, ...(q35 ? { layerDelta: Object.freeze(q35.layerDelta), delta: Object.freeze(q35.delta) } : {}),
    ...(moe ? { layerMoe: Object.freeze(moe.layerMoe), moe: Object.freeze(moe.moe) } : {}),
    ...(moe?.sharedFfn ? { nFf: moe.sharedFfn } : {}), // (a shared expert is the dense FFN: its width, not the experts')
    layerWindow: Object.freeze(ggufLayerWindows(f, arch, nLayer)), layerRope: Object.freeze(layerRope),
    layerConv: Object.freeze(lfm2 ? recurrent : []), layerSsm: Object.freeze(hybrid ? recurrent : falcon ? Array<boolean>(nLayer).fill(true) : []),
  });
}

/**
 * A granitehybrid or falcon-h1 file's Mamba-2 shape, from the ssm.* keys as llama.cpp reads them (heads are
 * ssm.time_step_rank); the gated norm where the file has its weights (Falcon-H1's is optional).
 */
function ggufSsm(f: GGUFFile, arch: string): SsmShape {
  const key = (s: string) => `${arch}.ssm.${s}`;
  const nHead = metaNumber(f, key('time_step_rank'));
  const inner = metaNumber(f, key('inner_size'));
  const names = {
    nHead: `metadata key ${key('time_step_rank')}`, headDim: `metadata key ${key('inner_size')} over ${key('time_step_rank')}`, dState: `metadata key ${key('state_size')}`,
    nGroup: `metadata key ${key('group_count')}`, convKernel: `metadata key ${key('conv_kernel')}`, dtMin: 'time_step_limit', dtMax: 'time_step_limit', inScales: 'ssm multipliers', inner: `metadata key ${key('inner_size')}`,
  };
  const shape = {
    nHead, headDim: inner / nHead, dState: metaNumber(f, key('state_size')), nGroup: metaNumber(f, key('group_count'), 1),
    convKernel: metaNumber(f, key('conv_kernel')), dtMin: 0, dtMax: Infinity, // GGUF keeps no time_step_limit; llama.cpp clamps nothing
    inScales: UNIT_SCALES, gatedNorm: arch !== 'falcon-h1' || f.tensors.has('blk.0.ssm_norm.weight'),
  };
  if (shape.nGroup !== 1) {
    throw new EmberError('UNSUPPORTED', `${f.source.name}: ${key('group_count')} is ${shape.nGroup}; emberlm runs Mamba-2 mixers of one group (Granite 4.0-H's, Falcon-H1's)`, { field: key('group_count') });
  }
  return validateSsm(shape, f.source.name, names, inner);
}

/** Ministral 3's attention temperature as llama.cpp reads it: attention.temperature_scale, over YaRN's original context. */
function ggufAttnTemperature(f: GGUFFile, arch: string, contextTrain: number): ModelConfig['attnTemperature'] {
  const beta = arch === 'mistral3' ? metaNumber(f, `${arch}.attention.temperature_scale`, 0) : 0;
  if (beta === 0) return null;
  if (!Number.isFinite(beta)) throw new EmberError('BAD_MODEL', `${f.source.name}: ${arch}.attention.temperature_scale is ${beta}; expected a finite number`);
  const floor = metaNumber(f, `${arch}.rope.scaling.original_context_length`, contextTrain); // llama.cpp's n_ctx_orig_yarn
  if (!(Number.isInteger(floor) && floor > 0)) {
    throw new EmberError('BAD_MODEL', `${f.source.name}: ${arch}.rope.scaling.original_context_length is ${floor}; attention.temperature_scale needs a positive one`);
  }
  return { beta, floor };
}

function ggufRopeScaling(f: GGUFFile, arch: string, contextTrain: number): RopeScalingConfig {
  const k = (s: string) => `${arch}.${s}`;
  const scalingType = metaString(f, k('rope.scaling.type'), 'none');
  if (f.tensors.has('rope_factors_long.weight') || scalingType === 'longrope' || scalingType === 'su') {
    // Phi-3 LongRoPE: the factors are the rope_factors_short/long.weight tensors, read at load.
    const orig = metaNumber(f, k('rope.scaling.original_context_length'));
    const ratio = contextTrain / orig;
    const attnFactor = metaNumber(f, k('rope.scaling.attn_factor'), ratio <= 1 ? 1 : Math.sqrt(1 + Math.log(ratio) / Math.log(orig)));
    return { type: 'longrope', factor: 1, originalContext: orig, attnFactor };
  }
  if (scalingType === 'linear') return { type: 'linear', factor: metaNumber(f, k('rope.scaling.factor'), 1) };
  if (scalingType === 'yarn') {
    // llama.cpp's YaRN for the architectures read here: its ramp's betas 32 and 1 (mistral3 alone reads the
    // yarn_beta_* keys), cos and sin times rope.scaling.attn_factor and mscale(factor) / mscale(factor, log_mul) with
    // mistral3's yarn_log_multiplier (mscale_all_dim; llama.cpp's context takes mscale as 1), else 1 + 0.1 ln(factor).
    const factor = metaNumber(f, k('rope.scaling.factor'), 1);
    const originalContext = metaNumber(f, k('rope.scaling.original_context_length'), contextTrain);
    const logMul = arch === 'mistral3' ? metaNumber(f, k('rope.scaling.yarn_log_multiplier'), 0) : 0;
    const mscale = logMul !== 0 ? yarnMscale(factor) / yarnMscale(factor, logMul) : yarnMscale(factor);
    const attnFactor = metaNumber(f, k('rope.scaling.attn_factor'), 1) * mscale;
    const betas = arch === 'mistral3' ? { betaFast: metaNumber(f, k('rope.scaling.yarn_beta_fast'), 32), betaSlow: metaNumber(f, k('rope.scaling.yarn_beta_slow'), 1) } : { betaFast: 32, betaSlow: 1 };
    return { type: 'yarn', factor, originalContext, attnFactor, ...betas, truncate: true };
  }
  if (scalingType !== 'none' && !(scalingType === 'llama3' || f.tensors.has('rope_freqs.weight'))) {
    throw new EmberError('UNSUPPORTED', `${f.source.name}: rope scaling "${scalingType}" is not supported (none, linear, llama3, longrope, yarn)`);
  }
  return { type: 'none', factor: 1 };
}

/**
 * `<arch>.attention.sliding_window` and which layers use it: `attention.sliding_window_pattern` as one
 * bool per layer (true: windowed) or a period n (layer l is windowed unless (l + 1) % n == 0), else the
 * family's own (Gemma 2: every other layer; Gemma 3: 5 of 6; OLMo 3 (olmo2): 3 of 4; the others: all layers).
 */
function ggufLayerWindows(f: GGUFFile, arch: string, nLayer: number): number[] {
  const saved = metaNumber(f, `${arch}.attention.sliding_window`, 0);
  // gemma-embedding's window is symmetric: llama.cpp masks keys more than sliding_window / 2 away on either side
  const window = arch === 'gemma-embedding' && saved > 0 ? Math.floor(saved / 2) + 1 : saved;
  const pattern = f.metadata.get(`${arch}.attention.sliding_window_pattern`);
  if (Array.isArray(pattern)) {
    if (pattern.length !== nLayer) throw new EmberError('BAD_MODEL', `${f.source.name}: ${arch}.attention.sliding_window_pattern has ${pattern.length} entries; expected ${nLayer} (one per layer)`);
    return layerWindows(nLayer, window, (l) => Boolean(pattern[l]));
  }
  const period = typeof pattern === 'number' ? pattern : arch === 'gemma2' ? 2 : arch === 'gemma3' || arch === 'gemma-embedding' ? 6 : arch === 'olmo2' ? 4 : 0;
  return layerWindows(nLayer, window, (l) => period === 0 || (l + 1) % period !== 0);
}
