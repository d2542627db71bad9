import { EmberError } from '../errors.ts';
import { metaNumber, metaString, type GGUFFile } from '../gguf/reader.ts';
import { printable } from '../util/printable.ts';
import { validateConfig, type ConfigFieldNames } from './validate.ts';

/** Architectures run by the one forward function; differences are flags below, not code copies. */
export const SUPPORTED_ARCHS = ['llama', 'mistral', 'qwen2', 'qwen3'] as const;
export type Arch = (typeof SUPPORTED_ARCHS)[number];

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
  readonly ropeScaling: { type: 'none' | 'linear' | 'llama3'; factor: number; lowFreqFactor?: number; highFreqFactor?: number; originalContext?: number };
  readonly qkvBias: boolean;
  readonly qkNorm: boolean; // per-head RMSNorm of Q and K before RoPE (Qwen3)
  readonly tiedEmbeddings: boolean; // no output.weight: the LM head reads token_embd
}

/** The GGUF metadata key (or tensor) behind each ModelConfig field, for validateConfig's messages. */
function ggufFieldNames(arch: string): ConfigFieldNames {
  const k = (s: string) => `metadata key ${arch}.${s}`;
  return {
    nLayer: k('block_count'), nEmbd: k('embedding_length'), nFf: k('feed_forward_length'), nHead: k('attention.head_count'),
    nKv: k('attention.head_count_kv'), headDim: k('attention.key_length'), nRot: k('rope.dimension_count'),
    vocab: 'the row count of token_embd.weight', contextTrain: k('context_length'), eps: k('attention.layer_norm_rms_epsilon'),
    ropeBase: k('rope.freq_base'), ropeFactor: k('rope.scaling.factor'), ropeLowFreqFactor: k('rope.scaling.low_freq_factor'),
    ropeHighFreqFactor: k('rope.scaling.high_freq_factor'), ropeOriginalContext: k('rope.scaling.original_context_length'),
  };
}

export function configFromGGUF(f: GGUFFile): ModelConfig {
  const arch = metaString(f, 'general.architecture');
  if (!(SUPPORTED_ARCHS as readonly string[]).includes(arch)) {
    throw new EmberError('UNSUPPORTED', `${f.source.name}: architecture ${printable(arch)} is not supported (supported: ${SUPPORTED_ARCHS.join(', ')})`, { arch });
  }
  const k = (s: string) => `${arch}.${s}`;
  const num = (s: string, fallback?: number) => metaNumber(f, k(s), fallback);
  const nEmbd = num('embedding_length');
  const nHead = num('attention.head_count');
  const nKv = num('attention.head_count_kv', nHead);
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
  const scalingType = metaString(f, k('rope.scaling.type'), 'none');
  const ropeFreqs = f.tensors.has('rope_freqs.weight');
  const ropeScaling: ModelConfig['ropeScaling'] =
    scalingType === 'linear'
      ? { type: 'linear', factor: num('rope.scaling.factor', 1) }
      : { type: 'none', factor: 1 };
  if (scalingType !== 'none' && scalingType !== 'linear' && !(scalingType === 'llama3' || ropeFreqs)) {
    throw new EmberError('UNSUPPORTED', `${f.source.name}: rope scaling ${printable(scalingType)} is not supported (none, linear, llama3)`);
  }
  return validateConfig(Object.freeze({
    arch: arch as Arch,
    name: metaString(f, 'general.name', arch),
    nLayer: num('block_count'),
    nEmbd,
    nFf: num('feed_forward_length'),
    nHead,
    nKv,
    headDim,
    nRot,
    vocab,
    contextTrain: num('context_length', 2048),
    eps: num('attention.layer_norm_rms_epsilon', 1e-5),
    ropeBase: num('rope.freq_base', 10000),
    ropeNeox: arch === 'qwen2' || arch === 'qwen3',
    ropeScaling: Object.freeze(ropeScaling),
    qkvBias: f.tensors.has('blk.0.attn_q.bias'),
    qkNorm: f.tensors.has('blk.0.attn_q_norm.weight'),
    tiedEmbeddings: !f.tensors.has('output.weight'),
  }), f.source.name, ggufFieldNames(arch));
}
