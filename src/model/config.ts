import { EmberError } from '../errors.ts';
import { metaNumber, metaString, type GGUFFile } from '../gguf/reader.ts';

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

function positive(f: GGUFFile, key: string, v: number): number {
  if (!Number.isInteger(v) || v <= 0) throw new EmberError('BAD_MODEL', `${f.source.name}: ${key} is ${v}; expected a positive integer`);
  return v;
}

export function configFromGGUF(f: GGUFFile): ModelConfig {
  const arch = metaString(f, 'general.architecture');
  if (!(SUPPORTED_ARCHS as readonly string[]).includes(arch)) {
    throw new EmberError('UNSUPPORTED', `${f.source.name}: architecture "${arch}" is not supported (supported: ${SUPPORTED_ARCHS.join(', ')})`, { arch });
  }
  const k = (s: string) => `${arch}.${s}`;
  const num = (s: string, fallback?: number) => metaNumber(f, k(s), fallback);
  const nEmbd = positive(f, k('embedding_length'), num('embedding_length'));
  const nHead = positive(f, k('attention.head_count'), num('attention.head_count'));
  const nKv = positive(f, k('attention.head_count_kv'), num('attention.head_count_kv', nHead));
  const headDim = positive(f, k('attention.key_length'), num('attention.key_length', nEmbd / nHead));
  const nRot = positive(f, k('rope.dimension_count'), num('rope.dimension_count', headDim));
  if (nHead % nKv !== 0) throw new EmberError('BAD_MODEL', `${f.source.name}: head_count ${nHead} is not a multiple of head_count_kv ${nKv}`);
  if (nRot > headDim || nRot % 2 !== 0 || headDim % 2 !== 0) throw new EmberError('BAD_MODEL', `${f.source.name}: rope.dimension_count ${nRot} does not fit head_dim ${headDim}`);
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
    throw new EmberError('UNSUPPORTED', `${f.source.name}: rope scaling "${scalingType}" is not supported (none, linear, llama3)`);
  }
  return Object.freeze({
    arch: arch as Arch,
    name: metaString(f, 'general.name', arch),
    nLayer: positive(f, k('block_count'), num('block_count')),
    nEmbd,
    nFf: positive(f, k('feed_forward_length'), num('feed_forward_length')),
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
  });
}
