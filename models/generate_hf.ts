/**
 * Deterministic random Hugging Face models: a folder with config.json, model.safetensors (or two
 * shards and model.safetensors.index.json), tokenizer.json, tokenizer_config.json and
 * generation_config.json, for the llama, mistral, qwen2 (q/k/v biases) and qwen3 (q/k norms)
 * families. Weights are F32, F16, BF16, or native FP8 (E4M3 linear weights with 128x128 block scales
 * `weight_scale_inv`, the rest BF16, as Qwen3-FP8 checkpoints are). The tokenizer is a SentencePiece-
 * style BPE with byte fallback over the same vocabulary models/generate.ts puts in its GGUF files.
 * The same options give byte-identical files.
 *
 *   npx tsx models/generate_hf.ts --model-type qwen3 --out DIR [--dtype F32|F16|BF16|F8_E4M3] [--tied]
 *     [--sharded] [--n-embd 64 --n-layer 2 --n-head 4 --n-head-kv 2 --head-dim N --n-ff 96 --vocab 300
 *     --ctx 256 --seed 1]
 */
import { EmberError } from '../src/errors.ts';
import { f32ToBF16Bits, f32ToF16Bits } from '../src/gguf/convert.ts';
import { encodeSafetensors, type SafeTensorToWrite } from '../src/hf/safetensors_writer.ts';
import { quantizeFp8Blocks } from '../src/quant/fp8.ts';
import { spmVocab, TOKEN_TYPE } from './generate.ts';
import { createRng, type Rng } from './rng.ts';
import { runIfMain } from './cli.ts';

export type HFModelType = 'llama' | 'mistral' | 'qwen2' | 'qwen3' | 'smollm3' | 'granite' | 'olmo2' | 'lfm2' | 'granitemoehybrid';
export type HFDtype = 'F32' | 'F16' | 'BF16' | 'F8_E4M3';

export interface HFGenerateOptions {
  readonly modelType?: HFModelType;
  readonly nEmbd?: number;
  readonly nLayer?: number;
  readonly nHead?: number;
  readonly nHeadKv?: number;
  /** Default nEmbd/nHead; qwen3 defaults to twice that, so q's width differs from the model's as in real Qwen3. */
  readonly headDim?: number;
  readonly nFf?: number;
  readonly vocab?: number;
  readonly contextLength?: number;
  readonly dtype?: HFDtype;
  readonly seed?: number;
  readonly tied?: boolean;
  /** Two safetensors shards plus model.safetensors.index.json. */
  readonly sharded?: boolean;
  readonly rmsEps?: number;
  readonly ropeTheta?: number;
  /** config.json's rope_scaling as written (e.g. { rope_type: 'llama3', factor: 8, ... }). */
  readonly ropeScaling?: Record<string, unknown> | null;
}

type Options = Required<Omit<HFGenerateOptions, 'headDim'>> & { headDim: number };

const DEFAULTS = {
  modelType: 'llama', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 96, vocab: 300, contextLength: 256,
  dtype: 'F32', seed: 1, tied: false, sharded: false, rmsEps: 1e-5, ropeTheta: 10000, ropeScaling: null,
} as const;

/** FP8 block shape of the generated checkpoints (DeepSeek/Qwen3-FP8's). */
export const FP8_BLOCK = 128;

/** A tensor as generated: HF name and shape, the dtype it is stored in, and its f32 values before encoding. */
export interface GeneratedHFTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: 'F32' | 'F16' | 'BF16' | 'F8_E4M3';
  readonly data: Float32Array;
}

export interface GeneratedHFModel {
  readonly options: Options;
  readonly config: Record<string, unknown>;
  readonly tensors: readonly GeneratedHFTensor[];
  /** What goes into the safetensors files, in order (FP8 weights followed by their weight_scale_inv). */
  readonly entries: readonly SafeTensorToWrite[];
  /** File name -> bytes, everything `writeHFModel` writes. */
  readonly files: ReadonlyMap<string, Uint8Array>;
}

type Kind = 'embed' | 'linear' | 'norm' | 'bias' | 'conv' | 'a_log';
interface Spec { readonly name: string; readonly shape: readonly number[]; readonly kind: Kind }

function specs(o: Options): Spec[] {
  const D = o.nEmbd, qDim = o.nHead * o.headDim, kvDim = o.nHeadKv * o.headDim;
  const t: Spec[] = [{ name: 'model.embed_tokens.weight', shape: [o.vocab, D], kind: 'embed' }];
  const olmo = o.modelType === 'olmo2'; // no pre-norms, a norm on each sublayer's output, q/k norms over all heads
  if (o.modelType === 'lfm2') return lfm2Specs(o);
  if (o.modelType === 'granitemoehybrid') return graniteHybridSpecs(o);
  for (let l = 0; l < o.nLayer; l++) {
    const p = `model.layers.${l}.`;
    if (!olmo) t.push({ name: `${p}input_layernorm.weight`, shape: [D], kind: 'norm' });
    t.push(
      { name: `${p}self_attn.q_proj.weight`, shape: [qDim, D], kind: 'linear' },
      { name: `${p}self_attn.k_proj.weight`, shape: [kvDim, D], kind: 'linear' },
      { name: `${p}self_attn.v_proj.weight`, shape: [kvDim, D], kind: 'linear' },
    );
    if (o.modelType === 'qwen2') {
      t.push(
        { name: `${p}self_attn.q_proj.bias`, shape: [qDim], kind: 'bias' },
        { name: `${p}self_attn.k_proj.bias`, shape: [kvDim], kind: 'bias' },
        { name: `${p}self_attn.v_proj.bias`, shape: [kvDim], kind: 'bias' },
      );
    }
    if (o.modelType === 'qwen3') {
      t.push({ name: `${p}self_attn.q_norm.weight`, shape: [o.headDim], kind: 'norm' }, { name: `${p}self_attn.k_norm.weight`, shape: [o.headDim], kind: 'norm' });
    }
    if (olmo) t.push({ name: `${p}self_attn.q_norm.weight`, shape: [qDim], kind: 'norm' }, { name: `${p}self_attn.k_norm.weight`, shape: [kvDim], kind: 'norm' });
    t.push(
      { name: `${p}self_attn.o_proj.weight`, shape: [D, qDim], kind: 'linear' },
      { name: `${p}post_attention_layernorm.weight`, shape: [D], kind: 'norm' },
      { name: `${p}mlp.gate_proj.weight`, shape: [o.nFf, D], kind: 'linear' },
      { name: `${p}mlp.up_proj.weight`, shape: [o.nFf, D], kind: 'linear' },
      { name: `${p}mlp.down_proj.weight`, shape: [D, o.nFf], kind: 'linear' },
    );
    if (olmo) t.push({ name: `${p}post_feedforward_layernorm.weight`, shape: [D], kind: 'norm' });
  }
  t.push({ name: 'model.norm.weight', shape: [D], kind: 'norm' });
  if (!o.tied) t.push({ name: 'lm_head.weight', shape: [o.vocab, D], kind: 'embed' });
  return t;
}

/** LFM2's layers alike: attention at odd layers (LFM2_ATTENTION), short convolutions of LFM2_TAPS taps elsewhere. */
const LFM2_TAPS = 3;
const lfm2Attention = (l: number) => l % 2 === 1;

function lfm2Specs(o: Options): Spec[] {
  const D = o.nEmbd, qDim = o.nHead * o.headDim, kvDim = o.nHeadKv * o.headDim;
  const t: Spec[] = [{ name: 'model.embed_tokens.weight', shape: [o.vocab, D], kind: 'embed' }];
  for (let l = 0; l < o.nLayer; l++) {
    const p = `model.layers.${l}.`;
    t.push({ name: `${p}operator_norm.weight`, shape: [D], kind: 'norm' });
    if (lfm2Attention(l)) {
      t.push(
        { name: `${p}self_attn.q_proj.weight`, shape: [qDim, D], kind: 'linear' },
        { name: `${p}self_attn.k_proj.weight`, shape: [kvDim, D], kind: 'linear' },
        { name: `${p}self_attn.v_proj.weight`, shape: [kvDim, D], kind: 'linear' },
        { name: `${p}self_attn.out_proj.weight`, shape: [D, qDim], kind: 'linear' },
        { name: `${p}self_attn.q_layernorm.weight`, shape: [o.headDim], kind: 'norm' },
        { name: `${p}self_attn.k_layernorm.weight`, shape: [o.headDim], kind: 'norm' },
      );
    } else {
      t.push(
        { name: `${p}conv.in_proj.weight`, shape: [3 * D, D], kind: 'linear' },
        { name: `${p}conv.conv.weight`, shape: [D, 1, LFM2_TAPS], kind: 'conv' },
        { name: `${p}conv.out_proj.weight`, shape: [D, D], kind: 'linear' },
      );
    }
    t.push(
      { name: `${p}ffn_norm.weight`, shape: [D], kind: 'norm' },
      { name: `${p}feed_forward.w1.weight`, shape: [o.nFf, D], kind: 'linear' },
      { name: `${p}feed_forward.w3.weight`, shape: [o.nFf, D], kind: 'linear' },
      { name: `${p}feed_forward.w2.weight`, shape: [D, o.nFf], kind: 'linear' },
    );
  }
  t.push({ name: 'model.embedding_norm.weight', shape: [D], kind: 'norm' });
  if (!o.tied) t.push({ name: 'lm_head.weight', shape: [o.vocab, D], kind: 'embed' });
  return t;
}

/** Granite 4.0-H's layers alike: Mamba-2 mixers at even layers, attention at odd ones; heads of 16, state 16, 4 taps. */
const MAMBA = { headDim: 16, dState: 16, taps: 4 };
const graniteAttention = (l: number) => l % 2 === 1;

function graniteHybridSpecs(o: Options): Spec[] {
  const D = o.nEmbd, qDim = o.nHead * o.headDim, kvDim = o.nHeadKv * o.headDim;
  const inner = 2 * D, heads = inner / MAMBA.headDim, convDim = inner + 2 * MAMBA.dState;
  const t: Spec[] = [{ name: 'model.embed_tokens.weight', shape: [o.vocab, D], kind: 'embed' }];
  for (let l = 0; l < o.nLayer; l++) {
    const p = `model.layers.${l}.`;
    t.push({ name: `${p}input_layernorm.weight`, shape: [D], kind: 'norm' });
    if (graniteAttention(l)) {
      t.push(
        { name: `${p}self_attn.q_proj.weight`, shape: [qDim, D], kind: 'linear' },
        { name: `${p}self_attn.k_proj.weight`, shape: [kvDim, D], kind: 'linear' },
        { name: `${p}self_attn.v_proj.weight`, shape: [kvDim, D], kind: 'linear' },
        { name: `${p}self_attn.o_proj.weight`, shape: [D, qDim], kind: 'linear' },
      );
    } else {
      t.push(
        { name: `${p}mamba.in_proj.weight`, shape: [inner + convDim + heads, D], kind: 'linear' },
        { name: `${p}mamba.conv1d.weight`, shape: [convDim, 1, MAMBA.taps], kind: 'conv' },
        { name: `${p}mamba.conv1d.bias`, shape: [convDim], kind: 'bias' },
        { name: `${p}mamba.dt_bias`, shape: [heads], kind: 'bias' },
        { name: `${p}mamba.A_log`, shape: [heads], kind: 'a_log' },
        { name: `${p}mamba.D`, shape: [heads], kind: 'norm' },
        { name: `${p}mamba.norm.weight`, shape: [inner], kind: 'norm' },
        { name: `${p}mamba.out_proj.weight`, shape: [D, inner], kind: 'linear' },
      );
    }
    t.push(
      { name: `${p}post_attention_layernorm.weight`, shape: [D], kind: 'norm' },
      { name: `${p}shared_mlp.input_linear.weight`, shape: [2 * o.nFf, D], kind: 'linear' },
      { name: `${p}shared_mlp.output_linear.weight`, shape: [D, o.nFf], kind: 'linear' },
    );
  }
  t.push({ name: 'model.norm.weight', shape: [D], kind: 'norm' });
  if (!o.tied) t.push({ name: 'lm_head.weight', shape: [o.vocab, D], kind: 'embed' });
  return t;
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

/** Same distributions as models/generate.ts: projections ~N(0, 1/sqrt(in)) in [0.02, 0.2], embeddings N(0, 0.2), norms N(1, 0.1). */
function init(rng: Rng, s: Spec): Float32Array {
  const n = s.shape.reduce((a, b) => a * b, 1);
  switch (s.kind) {
    case 'norm': return rng.normals(n, 0.1, 1);
    case 'embed': return rng.normals(n, 0.2);
    case 'bias': return rng.normals(n, 0.1);
    case 'conv': return rng.normals(n, 0.5);
    case 'a_log': return rng.normals(n, 0.5); // A = -exp(A_log): decays around e^-1 a step
    default: return rng.normals(n, clamp(1 / Math.sqrt(s.shape[1]), 0.02, 0.2));
  }
}

function encode(x: Float32Array, dtype: 'F32' | 'F16' | 'BF16'): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(x.slice().buffer);
  const h = new Uint16Array(x.length);
  const conv = dtype === 'F16' ? f32ToF16Bits : f32ToBF16Bits;
  for (let i = 0; i < x.length; i++) h[i] = conv(x[i]);
  return new Uint8Array(h.buffer);
}

const TORCH_DTYPE: Record<HFDtype, string> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16', F8_E4M3: 'bfloat16' };
const CLASS: Record<HFModelType, string> = { llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM', smollm3: 'SmolLM3ForCausalLM', granite: 'GraniteForCausalLM', olmo2: 'Olmo2ForCausalLM', lfm2: 'Lfm2ForCausalLM', granitemoehybrid: 'GraniteMoeHybridForCausalLM' };

function configJson(o: Options): Record<string, unknown> {
  const c: Record<string, unknown> = {
    _name_or_path: `emberlm-random-${o.modelType}`,
    architectures: [CLASS[o.modelType]],
    model_type: o.modelType,
    hidden_size: o.nEmbd,
    intermediate_size: o.nFf,
    num_hidden_layers: o.nLayer,
    num_attention_heads: o.nHead,
    num_key_value_heads: o.nHeadKv,
    head_dim: o.headDim,
    hidden_act: 'silu',
    max_position_embeddings: o.contextLength,
    rms_norm_eps: o.rmsEps,
    rope_theta: o.ropeTheta,
    rope_scaling: o.ropeScaling,
    tie_word_embeddings: o.tied,
    vocab_size: o.vocab,
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: TORCH_DTYPE[o.dtype],
    attention_dropout: 0,
  };
  if (o.modelType === 'llama') Object.assign(c, { attention_bias: false, mlp_bias: false, pretraining_tp: 1 });
  if (o.modelType === 'mistral') c.sliding_window = null;
  if (o.modelType === 'qwen2' || o.modelType === 'qwen3') Object.assign(c, { use_sliding_window: false, sliding_window: null, max_window_layers: o.nLayer });
  if (o.modelType === 'qwen3' || o.modelType === 'olmo2') c.attention_bias = false;
  if (o.modelType === 'lfm2') {
    // Lfm2Config's own names, and intermediate_size as it is (not adjusted to 2/3)
    Object.assign(c, { norm_eps: o.rmsEps, conv_L_cache: LFM2_TAPS, conv_bias: false, block_auto_adjust_ff_dim: false });
    c.layer_types = Array.from({ length: o.nLayer }, (_, l) => (lfm2Attention(l) ? 'full_attention' : 'conv'));
    delete c.rms_norm_eps;
  }
  // SmolLM3: every other layer without RoPE (its default is every 4th), so that a 2-layer model has one of each
  if (o.modelType === 'smollm3') Object.assign(c, { use_sliding_window: false, sliding_window: null, no_rope_layers: Array.from({ length: o.nLayer }, (_, l) => (l % 2 === 0 ? 1 : 0)) });
  // Granite 3.x's multipliers, the attention's for a head_dim of 16 (its 1/128 is for 128)
  if (o.modelType === 'granite' || o.modelType === 'granitemoehybrid') Object.assign(c, { embedding_multiplier: 12, attention_multiplier: 0.125, residual_multiplier: 0.22, logits_scaling: 8 });
  if (o.modelType === 'granitemoehybrid') {
    // Granite 4.0-H: no RoPE (position_embedding_type left out), Mamba-2 at even layers, the shared MLP
    Object.assign(c, {
      layer_types: Array.from({ length: o.nLayer }, (_, l) => (graniteAttention(l) ? 'attention' : 'mamba')), num_local_experts: 0, shared_intermediate_size: o.nFf,
      mamba_n_heads: (2 * o.nEmbd) / MAMBA.headDim, mamba_d_head: MAMBA.headDim, mamba_d_state: MAMBA.dState, mamba_d_conv: MAMBA.taps, mamba_n_groups: 1, mamba_expand: 2,
    });
    delete c.intermediate_size;
  }
  if (o.dtype === 'F8_E4M3') {
    c.quantization_config = { quant_method: 'fp8', fmt: 'e4m3', activation_scheme: 'dynamic', weight_block_size: [FP8_BLOCK, FP8_BLOCK] };
  }
  return c;
}

/**
 * tokenizer.json for `spmVocab(n)`, the way transformers converts SentencePiece BPE tokenizers:
 * merges are every split of a piece into two pieces, best-scored piece first; spaces become '▁'
 * with one prepended; characters outside the vocabulary fall back to <0xXX> byte tokens.
 */
export function spmTokenizerJson(n: number): Record<string, unknown> {
  const { tokens, scores, types } = spmVocab(n);
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => { vocab[t] = i; });
  const merges: { l: string; r: string; score: number; li: number; ri: number }[] = [];
  tokens.forEach((piece, id) => {
    if (types[id] !== TOKEN_TYPE.NORMAL) return;
    const chars = Array.from(piece);
    for (let k = 1; k < chars.length; k++) {
      const l = chars.slice(0, k).join(''), r = chars.slice(k).join('');
      if (vocab[l] !== undefined && vocab[r] !== undefined) merges.push({ l, r, score: scores[id], li: vocab[l], ri: vocab[r] });
    }
  });
  merges.sort((a, b) => b.score - a.score || a.li - b.li || a.ri - b.ri);
  const special = (id: number) => types[id] === TOKEN_TYPE.CONTROL || types[id] === TOKEN_TYPE.UNKNOWN;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: tokens.flatMap((t, id) => (special(id) ? [{ id, content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }] : [])),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }],
    },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, vocab, merges: merges.map((m) => `${m.l} ${m.r}`) },
  };
}

function checkOptions(o: Options): void {
  const bad = (msg: string) => new EmberError('BAD_ARGUMENT', `generate_hf: ${msg}`);
  if (!(o.modelType in CLASS)) throw new EmberError('UNSUPPORTED', `generate_hf: model type ${String(o.modelType)} is not one of ${Object.keys(CLASS).join(', ')}`);
  if (!(o.dtype in TORCH_DTYPE)) throw bad(`dtype ${String(o.dtype)} is not one of ${Object.keys(TORCH_DTYPE).join(', ')}`);
  for (const k of ['nEmbd', 'nLayer', 'nHead', 'nHeadKv', 'headDim', 'nFf', 'vocab', 'contextLength'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 1) throw bad(`${k} must be a positive integer, got ${o[k]}`);
  }
  if (o.headDim % 2 !== 0) throw bad(`head dimension ${o.headDim} must be even for RoPE`);
  if (o.nHead % o.nHeadKv !== 0) throw bad(`nHead ${o.nHead} is not a multiple of nHeadKv ${o.nHeadKv}`);
  if (!Number.isInteger(o.seed)) throw bad(`seed must be an integer, got ${o.seed}`);
}

/** A random model in memory: its config, f32 tensors, and the bytes of every file. */
export function randomHFModel(opts: HFGenerateOptions = {}): GeneratedHFModel {
  const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
  const merged = { ...DEFAULTS, ...given } as Omit<Options, 'headDim'> & { headDim?: number };
  const headDim = merged.headDim ?? (merged.modelType === 'qwen3' ? 2 : 1) * (merged.nEmbd / merged.nHead);
  const o: Options = { ...merged, headDim };
  checkOptions(o);

  const rng = createRng(o.seed);
  const fp8 = o.dtype === 'F8_E4M3';
  const tensors: GeneratedHFTensor[] = [];
  const entries: SafeTensorToWrite[] = [];
  for (const s of specs(o)) {
    const data = init(rng, s);
    if (fp8 && s.kind === 'linear') {
      const [rows, cols] = s.shape as [number, number];
      const q = quantizeFp8Blocks(data, rows, cols, FP8_BLOCK, FP8_BLOCK, 'e4m3');
      tensors.push({ name: s.name, shape: s.shape, dtype: 'F8_E4M3', data });
      entries.push({ name: s.name, dtype: 'F8_E4M3', shape: s.shape, bytes: q.codes });
      entries.push({ name: s.name.replace(/\.weight$/, '.weight_scale_inv'), dtype: 'F32', shape: [Math.ceil(rows / FP8_BLOCK), Math.ceil(cols / FP8_BLOCK)], bytes: new Uint8Array(q.scales.buffer) });
    } else {
      const dtype = fp8 ? 'BF16' : (o.dtype as 'F32' | 'F16' | 'BF16');
      tensors.push({ name: s.name, shape: s.shape, dtype, data });
      entries.push({ name: s.name, dtype, shape: s.shape, bytes: encode(data, dtype) });
    }
  }

  const files = new Map<string, Uint8Array>();
  const json = (v: unknown) => new TextEncoder().encode(`${JSON.stringify(v, null, 2)}\n`);
  const config = configJson(o);
  files.set('config.json', json(config));
  if (o.sharded) {
    // Split by bytes into two halves; an FP8 weight and its scales stay in one shard.
    const total = entries.reduce((a, e) => a + e.bytes.byteLength, 0);
    const shards: SafeTensorToWrite[][] = [[], []];
    let acc = 0;
    for (const e of entries) {
      const second = acc >= total / 2 && !e.name.endsWith('.weight_scale_inv');
      (second || shards[1].length > 0 ? shards[1] : shards[0]).push(e);
      acc += e.bytes.byteLength;
    }
    const weightMap: Record<string, string> = {};
    shards.forEach((list, i) => {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      files.set(file, encodeSafetensors(list));
      for (const e of list) weightMap[e.name] = file;
    });
    files.set('model.safetensors.index.json', json({ metadata: { total_size: total }, weight_map: weightMap }));
  } else {
    files.set('model.safetensors', encodeSafetensors(entries));
  }
  files.set('tokenizer.json', json(spmTokenizerJson(o.vocab)));
  const qwen = o.modelType === 'qwen2' || o.modelType === 'qwen3';
  files.set('tokenizer_config.json', json({ bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', add_bos_token: !qwen, add_eos_token: false, model_max_length: o.contextLength, tokenizer_class: qwen ? 'Qwen2Tokenizer' : 'LlamaTokenizerFast' }));
  files.set('generation_config.json', json({ bos_token_id: 1, eos_token_id: 2, do_sample: false }));
  return { options: o, config, tensors, entries, files };
}

/** Writes a random model into `dir` (created if needed) and returns what was written. */
export async function writeHFModel(dir: string, opts: HFGenerateOptions = {}): Promise<GeneratedHFModel> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const m = randomHFModel(opts);
  await fs.mkdir(dir, { recursive: true });
  for (const [name, bytes] of m.files) await fs.writeFile(path.join(dir, name), bytes);
  return m;
}

// ---- CLI ------------------------------------------------------------------------------------

const USAGE = `usage: npx tsx models/generate_hf.ts --model-type llama|mistral|qwen2|qwen3|smollm3|granite|olmo2|lfm2|granitemoehybrid --out DIR [--dtype F32|F16|BF16|F8_E4M3]
  [--tied] [--sharded] [--n-embd 64] [--n-layer 2] [--n-head 4] [--n-head-kv 2] [--head-dim N] [--n-ff 96] [--vocab 300]
  [--ctx 256] [--seed 1]`;

const NUM_FLAGS: Record<string, keyof HFGenerateOptions> = {
  '--n-embd': 'nEmbd', '--n-layer': 'nLayer', '--n-head': 'nHead', '--n-head-kv': 'nHeadKv', '--head-dim': 'headDim',
  '--n-ff': 'nFf', '--vocab': 'vocab', '--ctx': 'contextLength', '--seed': 'seed',
};

export function parseArgs(argv: readonly string[]): { out: string; opts: HFGenerateOptions } {
  const opts: Record<string, unknown> = {};
  let out = '';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new EmberError('BAD_ARGUMENT', `${a} needs a value\n${USAGE}`);
      return v;
    };
    if (a === '--tied') opts.tied = true;
    else if (a === '--sharded') opts.sharded = true;
    else if (a === '--out') out = value();
    else if (a === '--model-type') opts.modelType = value();
    else if (a === '--dtype') opts.dtype = value();
    else if (a in NUM_FLAGS) {
      const v = value();
      const n = Number(v);
      if (!Number.isInteger(n)) throw new EmberError('BAD_ARGUMENT', `${a} ${v} is not an integer`);
      opts[NUM_FLAGS[a]] = n;
    } else throw new EmberError('BAD_ARGUMENT', `unknown argument ${a}\n${USAGE}`);
  }
  if (!out) throw new EmberError('BAD_ARGUMENT', `--out is required\n${USAGE}`);
  return { out, opts: opts as HFGenerateOptions };
}

async function main(): Promise<void> {
  const { out, opts } = parseArgs(process.argv.slice(2));
  const m = await writeHFModel(out, opts);
  const bytes = [...m.files.values()].reduce((a, b) => a + b.byteLength, 0);
  console.log(`wrote ${out}: ${[...m.files.keys()].join(', ')} (${bytes} bytes)`);
}

runIfMain(import.meta.url, main);
