/**
 * Random-weight GGUF files with the exact shapes of real models, for benchmarks: same tensor names,
 * shapes and types as the published GGUFs, seeded random values, and the small SentencePiece
 * vocabulary of models/generate.ts padded to the real vocabulary size.
 *
 * models/generate.ts holds a whole model as f32 in memory (5 GB for the 1B shape, and ~12 RNG
 * draws per weight), so this streams instead: the header comes from the GGUF writer, then each
 * tensor is generated and encoded (with the writer's ggml reference encoders) a few MB at a time.
 * Every tensor has its own seeded stream, so chunking does not change the bytes. Runs in Node and
 * in the browser (the caller writes the chunks to a file or a Blob).
 */
import { EmberError } from '../errors.ts';
import { GGML_TYPE, type TensorType } from '../gguf/reader.ts';
import { GGML_TYPES, ggmlRandomBlocks } from '../quant/ggml/index.ts';
import { LLAMA_FTYPE_ID, llamaTensorType, type LlamaFtype } from '../quant/ggml/mixture.ts';
import { encodeTensorData, meta, writeGGUF, type MetaValue } from '../gguf/writer.ts';
import { f32ToF16Bits } from '../gguf/convert.ts';
import { spmVocab } from '../../models/generate.ts';
import { createRng } from '../../models/rng.ts';

export interface SyntheticShape {
  readonly arch: 'llama' | 'qwen2' | 'qwen3' | 'lfm2' | 'granitehybrid' | 'qwen35' | 'granitemoe' | 'lfm2moe';
  readonly nEmbd: number;
  readonly nLayer: number;
  readonly nHead: number;
  readonly nHeadKv: number;
  readonly nFf: number;
  readonly vocab: number;
  readonly tied: boolean;
  readonly qkvBias: boolean;
  readonly ropeBase: number;
  readonly eps: number;
  readonly contextLength: number;
  /** Per head, where it is not nEmbd / nHead (Qwen3's 128). */
  readonly headDim?: number;
  /** LFM2: the attention layers (the others are short convolutions of convTaps taps, with per-head q/k norms on attention). */
  readonly attentionLayers?: readonly number[];
  readonly convTaps?: number;
  /** granitehybrid: the Mamba-2 layers' shape (the others, attentionLayers, attend without RoPE); one group. */
  readonly ssm?: { readonly nHead: number; readonly dState: number; readonly taps: number };
  /** Rotated dims of each head, where not all of them (Qwen3.5's 64 of 256). */
  readonly ropeDims?: number;
  /**
   * qwen35: the Gated DeltaNet layers' shape (the others, attentionLayers, attend with a sigmoid output gate): heads of
   * q and k (nKHead x headKDim), of v (nVHead x headVDim), and the causal convolution's taps.
   */
  readonly delta?: {
    readonly nKHead: number;
    readonly nVHead: number;
    readonly headKDim: number;
    readonly headVDim: number;
    readonly taps: number;
  };
  /**
   * A mixture of `experts` SwiGLU experts, `used` a token (llama.cpp's stacked ffn_*_exps) in every FFN from layer
   * `denseLayers` (default 0) on, each `nFf` wide (default the shape's nFf, as granitemoe's feed_forward_length);
   * sigmoid: lfm2moe's router (sigmoid scores, a selection bias exp_probs_b).
   */
  readonly moe?: { readonly experts: number; readonly used: number; readonly nFf?: number; readonly denseLayers?: number; readonly sigmoid?: boolean };
}

/**
 * Shapes from the models' config.json / GGUF metadata. Llama-3.2-1B's llama3 RoPE scaling is left
 * out: it changes no shape and no cost.
 */
export const SYNTHETIC_MODELS: Readonly<Record<string, SyntheticShape>> = {
  'smollm2-135m': { arch: 'llama', nEmbd: 576, nLayer: 30, nHead: 9, nHeadKv: 3, nFf: 1536, vocab: 49152, tied: true, qkvBias: false, ropeBase: 100000, eps: 1e-5, contextLength: 8192 },
  'qwen2.5-0.5b': { arch: 'qwen2', nEmbd: 896, nLayer: 24, nHead: 14, nHeadKv: 2, nFf: 4864, vocab: 151936, tied: true, qkvBias: true, ropeBase: 1000000, eps: 1e-6, contextLength: 32768 },
  'llama-3.2-1b': { arch: 'llama', nEmbd: 2048, nLayer: 16, nHead: 32, nHeadKv: 8, nFf: 8192, vocab: 128256, tied: true, qkvBias: false, ropeBase: 500000, eps: 1e-5, contextLength: 131072 },
  // Qwen/Qwen3-0.6B: heads of 128 (q 2,048 wide on a 1,024 model), per-head q/k RMSNorm
  'qwen3-0.6b': { arch: 'qwen3', nEmbd: 1024, nLayer: 28, nHead: 16, nHeadKv: 8, headDim: 128, nFf: 3072, vocab: 151936, tied: true, qkvBias: false, ropeBase: 1000000, eps: 1e-6, contextLength: 40960 },
  // LiquidAI/LFM2-350M: 10 short-convolution layers, attention at 2, 5, 8, 10, 12, 14; the MLP 4608 wide (llama.cpp's)
  'lfm2-350m': {
    arch: 'lfm2', nEmbd: 1024, nLayer: 16, nHead: 16, nHeadKv: 8, nFf: 4608, vocab: 65536, tied: true, qkvBias: false, ropeBase: 1000000, eps: 1e-5,
    contextLength: 128000, attentionLayers: [2, 5, 8, 10, 12, 14], convTaps: 3,
  },
  // ibm-granite/granite-4.0-h-350m: 28 Mamba-2 layers (48 heads of 32, state 128), attention (NoPE) at 10, 13, 17, 27
  'granite-4.0-h-350m': {
    arch: 'granitehybrid', nEmbd: 768, nLayer: 32, nHead: 12, nHeadKv: 4, nFf: 2048, vocab: 100352, tied: true, qkvBias: false, ropeBase: 10000, eps: 1e-5,
    contextLength: 32768, attentionLayers: [10, 13, 17, 27], ssm: { nHead: 48, dState: 128, taps: 4 },
  },
  // Qwen/Qwen3.5-0.8B (its text model; no multi-token-prediction block): 18 Gated DeltaNet layers (16 q/k heads and
  // 16 v heads of 128, 4 taps), gated attention (heads of 256, 64 of them rotated) at 3, 7, ..., 23
  'qwen3.5-0.8b': {
    arch: 'qwen35', nEmbd: 1024, nLayer: 24, nHead: 8, nHeadKv: 2, headDim: 256, ropeDims: 64, nFf: 3584, vocab: 248320, tied: true, qkvBias: false,
    ropeBase: 10000000, eps: 1e-6, contextLength: 262144, attentionLayers: [3, 7, 11, 15, 19, 23],
    delta: { nKHead: 16, nVHead: 16, headKDim: 128, headVDim: 128, taps: 4 },
  },
  // ibm-granite/granite-3.0-1b-a400m (and 3.1's, whose shape is the same): every FFN 32 experts of 512, 8 a token
  'granite-3.0-1b-a400m': {
    arch: 'granitemoe', nEmbd: 1024, nLayer: 24, nHead: 16, nHeadKv: 8, nFf: 512, vocab: 49155, tied: true, qkvBias: false, ropeBase: 10000, eps: 1e-6,
    contextLength: 4096, moe: { experts: 32, used: 8 },
  },
  // LiquidAI/LFM2-8B-A1B: LFM2 (attention at 2, 6, 10, 14, 18, 21) whose FFNs from layer 2 on are 32 experts of 1792,
  // 4 a token, chosen by sigmoid scores plus a bias; layers 0 and 1 dense MLPs of 7168
  'lfm2-8b-a1b': {
    arch: 'lfm2moe', nEmbd: 2048, nLayer: 24, nHead: 32, nHeadKv: 8, nFf: 7168, vocab: 65536, tied: true, qkvBias: false, ropeBase: 1000000, eps: 1e-5,
    contextLength: 128000, attentionLayers: [2, 6, 10, 14, 18, 21], convTaps: 3, moe: { experts: 32, used: 4, nFf: 1792, denseLayers: 2, sigmoid: true },
  },
};

/**
 * Weight types a synthetic file can have (norms and biases are always F32): one type for every matrix
 * (the first five as before: rows that do not fit a block stay F32; the ggml block types as
 * llama-quantize --pure, with its fallbacks), or a llama.cpp file type (Q4_K_M ...) whose per-tensor
 * types follow llama-quantize's rules (src/quant/ggml/mixture.ts). Q6_K and Q8_0 are also llama.cpp's
 * file types of those names (the same layout for a llama model).
 */
export const SYNTHETIC_TYPES: readonly TensorType[] = [
  'F32', 'F16', 'BF16', 'Q8_0', 'Q4_0',
  'Q4_1', 'Q5_0', 'Q5_1', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'IQ4_NL', 'IQ4_XS',
  'Q4_K_S', 'Q4_K_M', 'Q5_K_S', 'Q5_K_M',
];
const isFtypeMixture = (t: string) => /_K_[SM]$/.test(t);

/** Bumped whenever the bytes for the same (shape, type, seed) change, so caches are invalidated. */
export const SYNTHETIC_VERSION = 1;

type Kind = 'embed' | 'weight' | 'norm' | 'bias' | 'conv' | 'decay' | 'router';
interface TensorPlan {
  readonly name: string;
  readonly ne: readonly [number] | readonly [number, number] | readonly [number, number, number];
  readonly kind: Kind;
  readonly type: TensorType;
  readonly bytes: number;
}

export interface SyntheticGGUF {
  readonly name: string; // e.g. "smollm2-135m-Q8_0-s1"
  readonly fileName: string; // name + generator version + ".gguf"
  readonly shape: SyntheticShape;
  readonly type: TensorType;
  readonly params: number;
  readonly size: number; // bytes of the whole file
  /** The file, in order, a few MB at a time. */
  chunks(): Generator<Uint8Array>;
}

const ALIGN = 32;
const LEGACY = ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0'];
const BLOCK = (t: TensorType): [number, number] => [GGML_TYPES[t].blockElems, GGML_TYPES[t].blockBytes];
const CHUNK_VALUES = 1 << 20;

export function resolveShape(name: string): SyntheticShape {
  const s = SYNTHETIC_MODELS[name.toLowerCase()];
  if (!s) throw new EmberError('BAD_ARGUMENT', `unknown synthetic model "${name}" (known: ${Object.keys(SYNTHETIC_MODELS).join(', ')})`);
  return s;
}

export function resolveType(t: string): TensorType {
  const type = SYNTHETIC_TYPES.find((x) => x.toLowerCase() === t.toLowerCase());
  if (!type) throw new EmberError('BAD_ARGUMENT', `unknown weight type "${t}" (known: ${SYNTHETIC_TYPES.join(', ')})`);
  return type;
}

function plan(s: SyntheticShape, type: TensorType): TensorPlan[] {
  const hd = s.headDim ?? s.nEmbd / s.nHead;
  const out: TensorPlan[] = [];
  const add = (name: string, ne: TensorPlan['ne'], kind: Kind) => {
    let t: TensorType = kind === 'embed' || kind === 'weight' ? type : 'F32';
    // as llama-quantize keeps LFM2's and Mamba's convolution kernels, A, and a mixture's router
    if (kind === 'conv' || kind === 'decay' || kind === 'router') t = 'F32';
    else if (!LEGACY.includes(type)) {
      const ftype = isFtypeMixture(type) ? (type as LlamaFtype) : 'pure';
      // llama-quantize counts attn_qkv (qwen35's DeltaNet layers', one a layer where the others have attn_v) as attn_v
      const asNamed = name.replace(/attn_qkv\.weight$/, 'attn_v.weight');
      t = llamaTensorType(ftype, type, { name: asNamed, ne }, s.nLayer, s.tied);
    } else if (BLOCK(t)[0] > 1 && ne[0] % BLOCK(t)[0] !== 0) t = 'F32'; // as llama.cpp leaves such rows unquantized
    const numel = ne.reduce((a, b) => a * b, 1);
    out.push({ name, ne, kind, type: t, bytes: (numel / BLOCK(t)[0]) * BLOCK(t)[1] });
  };
  const addFfn = (p: string, l: number) => {
    // (qwen35's name for the FFN's pre-norm)
    add(`${p}${s.arch === 'qwen35' ? 'post_attention_norm' : 'ffn_norm'}.weight`, [s.nEmbd], 'norm');
    if (s.moe && l >= (s.moe.denseLayers ?? 0)) {
      const m = s.moe, f = m.nFf ?? s.nFf;
      add(`${p}ffn_gate_inp.weight`, [s.nEmbd, m.experts], 'router');
      if (m.sigmoid) add(`${p}exp_probs_b.bias`, [m.experts], 'bias');
      add(`${p}ffn_gate_exps.weight`, [s.nEmbd, f, m.experts], 'weight');
      add(`${p}ffn_up_exps.weight`, [s.nEmbd, f, m.experts], 'weight');
      add(`${p}ffn_down_exps.weight`, [f, s.nEmbd, m.experts], 'weight');
      return;
    }
    add(`${p}ffn_gate.weight`, [s.nEmbd, s.nFf], 'weight');
    add(`${p}ffn_up.weight`, [s.nEmbd, s.nFf], 'weight');
    add(`${p}ffn_down.weight`, [s.nFf, s.nEmbd], 'weight');
  };
  add('token_embd.weight', [s.nEmbd, s.vocab], 'embed');
  if (!s.tied) add('output.weight', [s.nEmbd, s.vocab], 'weight');
  const isConv = (l: number) => lfm2Family(s) && !s.attentionLayers?.includes(l);
  const isSsm = (l: number) => s.arch === 'granitehybrid' && !s.attentionLayers?.includes(l);
  for (let l = 0; l < s.nLayer; l++) {
    const p = `blk.${l}.`;
    add(`${p}attn_norm.weight`, [s.nEmbd], 'norm');
    if (s.delta && !s.attentionLayers?.includes(l)) {
      const d = s.delta, keyDim = d.nKHead * d.headKDim, valueDim = d.nVHead * d.headVDim;
      const convDim = 2 * keyDim + valueDim;
      add(`${p}attn_qkv.weight`, [s.nEmbd, convDim], 'weight'); // q | k | v, convolved
      add(`${p}attn_gate.weight`, [s.nEmbd, valueDim], 'weight'); // z, the gated norm's gate
      add(`${p}ssm_beta.weight`, [s.nEmbd, d.nVHead], 'weight');
      add(`${p}ssm_alpha.weight`, [s.nEmbd, d.nVHead], 'weight');
      add(`${p}ssm_conv1d.weight`, [d.taps, convDim], 'conv');
      add(`${p}ssm_dt.bias`, [d.nVHead], 'bias');
      add(`${p}ssm_a`, [d.nVHead], 'decay'); // A = -exp(A_log), as llama.cpp's converter stores it
      add(`${p}ssm_norm.weight`, [d.headVDim], 'norm');
      add(`${p}ssm_out.weight`, [valueDim, s.nEmbd], 'weight');
      addFfn(p, l);
      continue;
    }
    if (isSsm(l) && s.ssm) {
      const inner = 2 * s.nEmbd, convDim = inner + 2 * s.ssm.dState, h = s.ssm.nHead;
      add(`${p}ssm_in.weight`, [s.nEmbd, inner + convDim + h], 'weight');
      add(`${p}ssm_conv1d.weight`, [s.ssm.taps, convDim], 'conv');
      add(`${p}ssm_conv1d.bias`, [convDim], 'bias');
      add(`${p}ssm_dt.bias`, [h], 'bias');
      add(`${p}ssm_a`, [1, h], 'decay');
      add(`${p}ssm_d`, [1, h], 'norm');
      add(`${p}ssm_norm.weight`, [inner, 1], 'norm');
      add(`${p}ssm_out.weight`, [inner, s.nEmbd], 'weight');
      addFfn(p, l);
      continue;
    }
    if (isConv(l)) {
      add(`${p}shortconv.in_proj.weight`, [s.nEmbd, 3 * s.nEmbd], 'weight');
      add(`${p}shortconv.conv.weight`, [s.convTaps ?? 3, s.nEmbd], 'conv');
      add(`${p}shortconv.out_proj.weight`, [s.nEmbd, s.nEmbd], 'weight');
      addFfn(p, l);
      continue;
    }
    if (lfm2Family(s) || s.arch === 'qwen3' || s.arch === 'qwen35') {
      add(`${p}attn_q_norm.weight`, [hd], 'norm');
      add(`${p}attn_k_norm.weight`, [hd], 'norm');
    }
    // qwen35: each head's q, then its output gate
    add(`${p}attn_q.weight`, [s.nEmbd, (s.arch === 'qwen35' ? 2 : 1) * s.nHead * hd], 'weight');
    add(`${p}attn_k.weight`, [s.nEmbd, s.nHeadKv * hd], 'weight');
    add(`${p}attn_v.weight`, [s.nEmbd, s.nHeadKv * hd], 'weight');
    if (s.qkvBias) {
      add(`${p}attn_q.bias`, [s.nHead * hd], 'bias');
      add(`${p}attn_k.bias`, [s.nHeadKv * hd], 'bias');
      add(`${p}attn_v.bias`, [s.nHeadKv * hd], 'bias');
    }
    add(`${p}attn_output.weight`, [s.nHead * hd, s.nEmbd], 'weight');
    addFfn(p, l);
  }
  add(lfm2Family(s) ? 'token_embd_norm.weight' : 'output_norm.weight', [s.nEmbd], 'norm'); // LFM2's final norm: llama.cpp's name
  return out;
}

const lfm2Family = (s: SyntheticShape) => s.arch === 'lfm2' || s.arch === 'lfm2moe';

/**
 * The experts' keys; granitemoe's Granite 3.0 multipliers (granite-3.0-1b-a400m's: embedding 12, residual 0.22,
 * attention 1/64, logits 6), which llama.cpp's granite reads (logit_scale it requires); lfm2moe's experts' width, dense
 * layers and sigmoid router (expert_gating_func 2), as llama.cpp's converter writes them.
 */
function moeMetadata(a: string, m: NonNullable<SyntheticShape['moe']>): Array<[string, MetaValue]> {
  const experts: Array<[string, MetaValue]> = [[`${a}.expert_count`, meta.u32(m.experts)], [`${a}.expert_used_count`, meta.u32(m.used)]];
  if (a === 'lfm2moe') {
    return [...experts, [`${a}.expert_feed_forward_length`, meta.u32(m.nFf!)], [`${a}.leading_dense_block_count`, meta.u32(m.denseLayers ?? 0)], [`${a}.expert_gating_func`, meta.u32(2)]];
  }
  return [...experts, [`${a}.embedding_scale`, meta.f32(12)], [`${a}.residual_scale`, meta.f32(0.22)], [`${a}.attention.scale`, meta.f32(0.015625)], [`${a}.logit_scale`, meta.f32(6)]];
}

/** granitehybrid's Mamba-2 keys as llama.cpp reads them, NoPE (rope.scaling.finetuned false), Granite 4.0's multipliers. */
function ssmMetadata(a: string, nEmbd: number, m: NonNullable<SyntheticShape['ssm']>): Array<[string, MetaValue]> {
  return [
    [`${a}.ssm.conv_kernel`, meta.u32(m.taps)], [`${a}.ssm.inner_size`, meta.u32(2 * nEmbd)], [`${a}.ssm.state_size`, meta.u32(m.dState)],
    [`${a}.ssm.time_step_rank`, meta.u32(m.nHead)], [`${a}.ssm.group_count`, meta.u32(1)], [`${a}.rope.scaling.finetuned`, meta.bool(false)],
    [`${a}.embedding_scale`, meta.f32(12)], [`${a}.residual_scale`, meta.f32(0.246)], [`${a}.logit_scale`, meta.f32(3)], [`${a}.attention.scale`, meta.f32(0.015625)],
  ];
}

/**
 * qwen35's Gated DeltaNet keys as llama.cpp's converter writes them (ssm.state_size: the key heads' width, group_count:
 * their number, time_step_rank: the value heads', inner_size: v's width), the recurrent layers, and the MRoPE sections
 * (Qwen3.5's [11, 11, 10]: text positions rotate every section alike).
 */
function deltaMetadata(a: string, s: SyntheticShape, d: NonNullable<SyntheticShape['delta']>): Array<[string, MetaValue]> {
  const recurrent = Array.from({ length: s.nLayer }, (_, l) => !s.attentionLayers?.includes(l));
  return [
    [`${a}.rope.dimension_sections`, meta.i32s([11, 11, 10, 0])],
    [`${a}.ssm.conv_kernel`, meta.u32(d.taps)],
    [`${a}.ssm.state_size`, meta.u32(d.headKDim)],
    [`${a}.ssm.group_count`, meta.u32(d.nKHead)],
    [`${a}.ssm.time_step_rank`, meta.u32(d.nVHead)],
    [`${a}.ssm.inner_size`, meta.u32(d.nVHead * d.headVDim)],
    [`${a}.attention.recurrent_layers`, meta.bools(recurrent)],
    [`${a}.full_attention_interval`, meta.u32(4)],
  ];
}

/** general.file_type: llama_ftype ids (pure block types: the llama.cpp file type built on them). */
const FILE_TYPE: Record<TensorType, number> = {
  F32: 0, F16: 1, BF16: 32, Q2_K: 10, Q3_K: 11, Q4_K: 14, Q5_K: 16, IQ4_NL: 25, IQ4_XS: 30, ...LLAMA_FTYPE_ID,
};

function metadata(s: SyntheticShape, type: TensorType, name: string): Array<[string, MetaValue]> {
  const a = s.arch;
  const v = spmVocab(s.vocab);
  return [
    ['general.architecture', meta.str(a)],
    ['general.name', meta.str(`emberlm-synthetic-${name}`)],
    ['general.file_type', meta.u32(FILE_TYPE[type])],
    [`${a}.context_length`, meta.u32(s.contextLength)],
    [`${a}.embedding_length`, meta.u32(s.nEmbd)],
    [`${a}.feed_forward_length`, meta.u32(s.nFf)],
    [`${a}.block_count`, meta.u32(s.nLayer)],
    [`${a}.attention.head_count`, meta.u32(s.nHead)],
    // LFM2, granitehybrid: one count a layer, 0 on the short-convolution or Mamba-2 layers (qwen35: one count)
    [`${a}.attention.head_count_kv`, s.attentionLayers && !s.delta ? meta.u32s(Array.from({ length: s.nLayer }, (_, l) => (s.attentionLayers?.includes(l) ? s.nHeadKv : 0))) : meta.u32(s.nHeadKv)],
    ...(lfm2Family(s) ? [[`${a}.shortconv.l_cache`, meta.u32(s.convTaps ?? 3)] as [string, MetaValue]] : []),
    ...(s.ssm ? ssmMetadata(a, s.nEmbd, s.ssm) : []),
    ...(s.delta ? deltaMetadata(a, s, s.delta) : []),
    ...(s.moe ? moeMetadata(a, s.moe) : []),
    // (key_length only where heads are not nEmbd / nHead wide: the older shapes' files keep their bytes)
    ...(s.headDim ? [[`${a}.attention.key_length`, meta.u32(s.headDim)], [`${a}.attention.value_length`, meta.u32(s.headDim)]] as [string, MetaValue][] : []),
    [`${a}.rope.dimension_count`, meta.u32(s.ropeDims ?? s.headDim ?? s.nEmbd / s.nHead)],
    [`${a}.attention.layer_norm_rms_epsilon`, meta.f32(s.eps)],
    [`${a}.rope.freq_base`, meta.f32(s.ropeBase)],
    // (llama.cpp's qwen35 files have none)
    ...(s.delta ? [] : [[`${a}.vocab_size`, meta.u32(s.vocab)] as [string, MetaValue]]),
    ['tokenizer.ggml.model', meta.str('llama')],
    ['tokenizer.ggml.tokens', meta.strs(v.tokens)],
    ['tokenizer.ggml.scores', meta.f32s(v.scores)],
    ['tokenizer.ggml.token_type', meta.i32s(v.types)],
    ['tokenizer.ggml.unknown_token_id', meta.u32(0)],
    ['tokenizer.ggml.bos_token_id', meta.u32(1)],
    ['tokenizer.ggml.eos_token_id', meta.u32(2)],
    ['tokenizer.ggml.add_bos_token', meta.bool(true)],
    ['tokenizer.ggml.add_eos_token', meta.bool(false)],
    // Last on purpose: its value ends in a non-zero byte, which marks where the metadata ends (see header()).
    ['emberlm.synthetic', meta.str(`${name} v${SYNTHETIC_VERSION}`)],
  ];
}

/** Little-endian writer for the tensor-info section (the part writeGGUF cannot produce without the data). */
function tensorInfos(tensors: readonly TensorPlan[]): Uint8Array {
  const enc = new TextEncoder();
  const names = tensors.map((t) => enc.encode(t.name));
  const size = tensors.reduce((n, t, i) => n + 8 + names[i].byteLength + 4 + 8 * t.ne.length + 4 + 8, 0);
  const buf = new Uint8Array(size);
  const dv = new DataView(buf.buffer);
  let at = 0;
  let offset = 0;
  tensors.forEach((t, i) => {
    dv.setBigUint64(at, BigInt(names[i].byteLength), true);
    buf.set(names[i], at + 8);
    at += 8 + names[i].byteLength;
    dv.setUint32(at, t.ne.length, true);
    at += 4;
    for (const d of t.ne) {
      dv.setBigUint64(at, BigInt(d), true);
      at += 8;
    }
    dv.setUint32(at, GGML_TYPE[t.type], true);
    dv.setBigUint64(at + 4, BigInt(offset), true);
    at += 12;
    offset += Math.ceil(t.bytes / ALIGN) * ALIGN;
  });
  return buf;
}

/**
 * The header: writeGGUF's encoding of the metadata with no tensors, cut where the metadata ends
 * (the last non-zero byte, thanks to the last key's value), with the tensor count patched in and
 * the tensor infos appended, padded to the alignment.
 */
function header(md: Array<[string, MetaValue]>, tensors: readonly TensorPlan[]): Uint8Array {
  const bare = writeGGUF({ metadata: md, tensors: [] });
  let end = bare.byteLength;
  while (end > 0 && bare[end - 1] === 0) end--;
  const infos = tensorInfos(tensors);
  const out = new Uint8Array(Math.ceil((end + infos.byteLength) / ALIGN) * ALIGN);
  out.set(bare.subarray(0, end));
  new DataView(out.buffer).setBigUint64(8, BigInt(tensors.length), true);
  out.set(infos, end);
  return out;
}

/** FNV-1a of a name, to give each tensor its own random stream. */
function hashName(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The standard deviation generate.ts uses: projections 1/sqrt(in) clamped to [0.02, 0.2], embeddings 0.2, norms 1 ± 0.1, biases 0.1. */
function scaleOf(t: TensorPlan): { mean: number; half: number } {
  if (t.kind === 'decay') return { mean: -1, half: 0.5 }; // A = -exp(A_log) < 0
  const std = t.kind === 'weight' ? Math.min(0.2, Math.max(0.02, 1 / Math.sqrt(t.ne[0]))) : t.kind === 'embed' ? 0.2 : t.kind === 'conv' ? 0.3 : 0.1;
  return { mean: t.kind === 'norm' ? 1 : 0, half: std * Math.sqrt(3) }; // uniform on mean ± half has this std
}

/**
 * A tensor's bytes, a few MB at a time. Values are uniform rather than normal (only the scale
 * matters for a benchmark, and it takes one draw per value instead of twelve). Q8_0 and Q4_0 are
 * drawn directly as uniform codes under the block scale that gives the same std (Q8_0: random
 * int8 codes, d = half/128; Q4_0: random nibbles, d = half/8), which is 10x faster than quantizing
 * f32 values and gives the same kind of file. Float types go through the writer's encoders.
 */
function* tensorBytes(t: TensorPlan, seed: number): Generator<Uint8Array> {
  const rng = createRng((seed * 0x9e3779b1) ^ hashName(t.name));
  const bits = () => (rng.next() * 4294967296) >>> 0;
  const { mean, half } = scaleOf(t);
  const cols = t.ne[0], rows = t.ne.slice(1).reduce((a, b) => a * b, 1); // (a mixture's experts stacked along rows)
  const rowsPer = Math.max(1, Math.floor(CHUNK_VALUES / cols));
  for (let r = 0; r < rows; r += rowsPer) {
    const n = Math.min(rowsPer, rows - r) * cols;
    if (!LEGACY.includes(t.type)) {
      yield ggmlRandomBlocks(t.type, n, () => rng.next(), half / Math.sqrt(3)); // the std of the uniform draws
    } else if (t.type === 'Q8_0' || t.type === 'Q4_0') {
      const [size, per] = BLOCK(t.type);
      const out = new Uint8Array((n / size) * per);
      const dv = new DataView(out.buffer);
      const d = f32ToF16Bits(t.type === 'Q8_0' ? half / 128 : half / 8);
      for (let b = 0; b < out.length; b += per) {
        dv.setUint16(b, d, true);
        for (let j = 2; j < per; j += 4) dv.setUint32(b + j, bits(), true); // per - 2 is a multiple of 4 (32, 16)
      }
      yield out;
    } else {
      const x = new Float32Array(n);
      for (let i = 0; i < n; i++) x[i] = mean + half * (2 * rng.next() - 1);
      yield encodeTensorData(t.type, x);
    }
  }
}

export function syntheticGGUF(model: string | SyntheticShape, type: TensorType | string = 'Q8_0', seed = 1): SyntheticGGUF {
  const shape = typeof model === 'string' ? resolveShape(model) : model;
  const t = typeof type === 'string' ? resolveType(type) : type;
  if (!Number.isInteger(seed)) throw new EmberError('BAD_ARGUMENT', `seed must be an integer, got ${seed}`);
  const label = typeof model === 'string' ? model.toLowerCase() : `${shape.arch}-${shape.nEmbd}x${shape.nLayer}`;
  const name = `${label}-${t}-s${seed}`;
  const tensors = plan(shape, t);
  const head = header(metadata(shape, t, name), tensors);
  const dataBytes = tensors.reduce((n, x) => n + Math.ceil(x.bytes / ALIGN) * ALIGN, 0);
  const params = tensors.reduce((n, x) => n + x.ne.reduce((a, b) => a * b, 1), 0);
  return {
    name,
    fileName: `${name}-v${SYNTHETIC_VERSION}.gguf`,
    shape,
    type: t,
    params,
    size: head.byteLength + dataBytes,
    *chunks() {
      yield head;
      for (const x of tensors) {
        yield* tensorBytes(x, seed);
        const pad = (ALIGN - (x.bytes % ALIGN)) % ALIGN;
        if (pad) yield new Uint8Array(pad);
      }
    },
  };
}
