/**
 * A sentence-transformers model folder's modules after the transformer (modules.json: Pooling, Dense, Normalize), as
 * EmbeddingGemma ships them, and the same read from its GGUF's dense tensors: how the final norm's rows of an input
 * become its embedding (src/embed.ts pools the rows read back from the GPU and runs the Dense layers in JavaScript).
 */
import { EmberError } from '../errors.ts';
import type { ModelConfig, Pooling } from '../model/config.ts';
import type { GGUFFile } from '../gguf/reader.ts';
import type { WeightSource } from '../model/weight_source.ts';
import { dequantize } from '../kernels/ref/matmul.ts';
import { printableJson } from '../util/printable.ts';
import type { ModelFolder } from './folder.ts';
import { openSingle, tensorToF32, readTensorBytes } from './safetensors.ts';

/** One Dense module: y = act(W x + b), W (out, in) row-major; then a LayerNorm where `norm` is given. */
export interface DenseLayer {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly weight: Float32Array;
  readonly bias: Float32Array | null;
  readonly activation: 'identity' | 'tanh' | 'gelu'; // (gelu: by erf, a ModernBERT cross-encoder's head)
  readonly norm?: { readonly weight: Float32Array; readonly bias: Float32Array; readonly eps: number }; // (the same head's LayerNorm)
}

export interface SentenceModules {
  /** How an input's rows are pooled: their mean, the first token's (CLS) or the last token's. */
  readonly pooling: Extract<Pooling, 'mean' | 'cls' | 'last'>;
  /**
   * Pooling's include_prompt: false leaves a named prompt's rows out of the mean (INSTRUCTOR's), as many as the prompt's
   * tokens with the tokenizer's special ones but a trailing one (sentence-transformers' prompt length).
   */
  readonly includePrompt: boolean;
  /** Applied in order after the pooling. */
  readonly dense: readonly DenseLayer[];
  /** Whether the pipeline ends in L2 normalisation (a Normalize module). */
  readonly normalize: boolean;
  /** config_sentence_transformers.json's prompts by name: text put in front of an input (EmbeddingGemma's "query": "task: search result | query: "). */
  readonly prompts: Readonly<Record<string, string>>;
  /** sentence_bert_config.json's max_seq_length: the tokens sentence-transformers keeps of an input (embed's `truncate`); null where none is given. */
  readonly maxSeqLength: number | null;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The folder's modules after its transformer, or null when it has no modules.json (not a sentence-transformers folder). */
export async function sentenceModules(folder: ModelFolder, width: number): Promise<SentenceModules | null> {
  const list = await folder.json('modules.json');
  if (list === undefined) return null;
  const file = folder.label('modules.json');
  if (!Array.isArray(list) || !list.every((m) => isObject(m) && typeof m.type === 'string' && typeof m.path === 'string')) {
    throw new EmberError('BAD_MODEL', `${file}: expected a list of modules, each with a type and a path`, { file });
  }
  let pooling: { mode: SentenceModules['pooling']; includePrompt: boolean } | null = null;
  const dense: DenseLayer[] = [];
  let normalize = false;
  let features = width;
  for (const [i, m] of (list as { type: string; path: string }[]).entries()) {
    const kind = m.type.split('.').pop();
    const at = `${file}: module ${i} (${m.type})`;
    if (i === 0) {
      if (kind !== 'Transformer') throw new EmberError('UNSUPPORTED', `${at}: the first module must be the Transformer`, { file });
    } else if (kind === 'Pooling' && pooling === null && dense.length === 0) {
      pooling = await poolingMode(folder, `${m.path}/config.json`, width);
    } else if (kind === 'Dense' && pooling !== null && !normalize) {
      const layer = await denseLayer(folder, m.path, features);
      dense.push(layer);
      features = layer.outFeatures;
    } else if (kind === 'Normalize' && pooling !== null) {
      normalize = true;
    } else {
      throw new EmberError('UNSUPPORTED', `${at} is not supported here: emberlm runs Transformer, Pooling, Dense layers, Normalize, in that order`, { file, module: m.type });
    }
  }
  if (pooling === null) throw new EmberError('UNSUPPORTED', `${file}: no Pooling module`, { file });
  return { pooling: pooling.mode, includePrompt: pooling.includePrompt, dense, normalize, prompts: await prompts(folder), maxSeqLength: await maxSeqLength(folder) };
}

/** The one pooling mode a Pooling module's config turns on, and whether a prompt's rows are pooled (include_prompt). */
async function poolingMode(folder: ModelFolder, path: string, width: number): Promise<{ mode: SentenceModules['pooling']; includePrompt: boolean }> {
  const file = folder.label(path);
  const c = await folder.json(path, true);
  if (!isObject(c)) throw new EmberError('BAD_MODEL', `${file}: expected a JSON object`, { file });
  if (c.word_embedding_dimension !== undefined && c.word_embedding_dimension !== width) {
    throw new EmberError('BAD_MODEL', `${file}: word_embedding_dimension is ${printableJson(c.word_embedding_dimension)}, but the model's hidden_size is ${width}`, { file, field: 'word_embedding_dimension' });
  }
  if (c.include_prompt !== undefined && typeof c.include_prompt !== 'boolean') {
    throw new EmberError('BAD_MODEL', `${file}: include_prompt is ${printableJson(c.include_prompt)}; expected true or false`, { file, field: 'include_prompt' });
  }
  // sentence-transformers 6 writes pooling_mode: "mean"; earlier versions a flag per mode
  const modes = typeof c.pooling_mode === 'string' ? [`pooling_mode_${c.pooling_mode}`] : Object.keys(c).filter((k) => k.startsWith('pooling_mode_') && c[k] === true);
  const known: Record<string, SentenceModules['pooling']> = { pooling_mode_mean_tokens: 'mean', pooling_mode_mean: 'mean', pooling_mode_cls_token: 'cls', pooling_mode_cls: 'cls', pooling_mode_lasttoken: 'last' };
  if (modes.length !== 1 || !known[modes[0]]) {
    throw new EmberError('UNSUPPORTED', `${file}: pooling ${modes.join(' + ') || 'none'} is not supported (one of ${Object.keys(known).join(', ')})`, { file, modes });
  }
  return { mode: known[modes[0]], includePrompt: c.include_prompt !== false };
}

const ACTIVATIONS: Record<string, DenseLayer['activation']> = {
  'torch.nn.modules.linear.Identity': 'identity',
  'torch.nn.modules.activation.Tanh': 'tanh',
};

/** A Dense module: its config.json and its weights (model.safetensors: linear.weight, linear.bias). */
async function denseLayer(folder: ModelFolder, path: string, inWidth: number): Promise<DenseLayer> {
  const file = folder.label(`${path}/config.json`);
  const c = await folder.json(`${path}/config.json`, true);
  if (!isObject(c)) throw new EmberError('BAD_MODEL', `${file}: expected a JSON object`, { file });
  const { in_features: inF, out_features: outF } = c;
  if (inF !== inWidth) throw new EmberError('BAD_MODEL', `${file}: in_features is ${printableJson(inF)}, but what comes in has ${inWidth} values`, { file, field: 'in_features' });
  if (!Number.isInteger(outF) || (outF as number) <= 0) throw new EmberError('BAD_MODEL', `${file}: out_features is ${printableJson(outF)}; expected a positive integer`, { file, field: 'out_features' });
  const act = ACTIVATIONS[String(c.activation_function ?? 'torch.nn.modules.activation.Tanh')]; // Dense's default is Tanh
  if (!act) throw new EmberError('UNSUPPORTED', `${file}: activation_function ${printableJson(c.activation_function)} is not supported (${Object.keys(ACTIVATIONS).join(', ')})`, { file, field: 'activation_function' });
  const set = await openSingle(await folder.source(`${path}/model.safetensors`));
  try {
    const read = async (name: string, shape: number[]) => {
      const t = set.tensors.get(name);
      const where = folder.label(`${path}/model.safetensors`);
      if (!t) throw new EmberError('BAD_MODEL', `${where}: tensor ${name} is missing`, { file: where, tensor: name });
      if (t.shape.join(',') !== shape.join(',')) throw new EmberError('BAD_MODEL', `${where}: tensor ${name} has shape [${t.shape}], expected [${shape}]`, { file: where, tensor: name });
      return tensorToF32(t, await readTensorBytes(t));
    };
    const weight = await read('linear.weight', [outF as number, inF]);
    const bias = c.bias === false ? null : await read('linear.bias', [outF as number]);
    return { inFeatures: inF, outFeatures: outF as number, weight, bias, activation: act };
  } finally {
    await set.close();
  }
}

async function maxSeqLength(folder: ModelFolder): Promise<number | null> {
  const c = await folder.json('sentence_bert_config.json');
  const n = isObject(c) ? c.max_seq_length : undefined;
  if (n === undefined || n === null) return null;
  if (!(Number.isInteger(n) && (n as number) > 0)) {
    throw new EmberError('BAD_MODEL', `${folder.label('sentence_bert_config.json')}: max_seq_length is ${printableJson(n)}; expected a positive integer`, { file: folder.label('sentence_bert_config.json') });
  }
  return n as number;
}

async function prompts(folder: ModelFolder): Promise<Record<string, string>> {
  const c = await folder.json('config_sentence_transformers.json');
  const p = isObject(c) ? c.prompts : undefined;
  if (!isObject(p)) return {};
  return Object.fromEntries(Object.entries(p).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/**
 * A cross-encoder's head (ModelConfig.pooling 'rank' of an encoder: BertForSequenceClassification's pooler, tanh of a
 * dense layer over [CLS] (DeBERTa's and ELECTRA's: GELU), then the classifier to one logit), by llama.cpp's names for it (cls, cls.output); null for
 * another model.
 */
export async function rankHead(weights: WeightSource, c: ModelConfig): Promise<DenseLayer[] | null> {
  if (c.pooling !== 'rank' || !(c.postLayerNorms || c.layerNorms)) return null;
  const D = c.nEmbd;
  const layer = async (name: string, out: number, activation: DenseLayer['activation']): Promise<DenseLayer> => ({
    inFeatures: D, outFeatures: out, activation,
    weight: dequantize(await weights.matrix(`${name}.weight`, out, D, 'auto')),
    bias: c.postLayerNorms || weights.has(`${name}.bias`) ? await weights.vector(`${name}.bias`, out) : null, // (ModernBERT's classifier_bias)
  });
  // (DeBERTa's ContextPooler and ELECTRA's head: GELU by erf where BERT's pooler takes tanh)
  if (c.postLayerNorms) return [await layer('cls', D, c.classifierAct ?? 'tanh'), await layer('cls.output', 1, 'identity')];
  // ModernBERT's: a dense layer, GELU, a LayerNorm without a bias; then its classifier
  const norm = { weight: await weights.vector('cls.norm.weight', D), bias: new Float32Array(D), eps: c.eps };
  return [{ ...(await layer('cls', D, 'gelu')), norm }, await layer('cls.output', 1, 'identity')];
}

/**
 * llama.cpp's EmbeddingGemma GGUF (gemma-embedding) carries the Dense layers as dense_2.weight and dense_3.weight (no
 * bias, no activation; its pooling is pooling_type's); none in another GGUF.
 */
export async function ggufDenseLayers(f: GGUFFile, weights: WeightSource, nEmbd: number): Promise<DenseLayer[]> {
  const dense: DenseLayer[] = [];
  for (const name of ['dense_2.weight', 'dense_3.weight'].filter((n) => f.tensors.has(n))) {
    const [inF, outF] = f.tensors.get(name)!.ne; // ggml's ne: columns (in) first
    const width = dense.at(-1)?.outFeatures ?? nEmbd;
    if (inF !== width) throw new EmberError('BAD_MODEL', `${f.source.name}: tensor ${name} takes ${inF} values, but what comes in has ${width}`, { tensor: name });
    const weight = dequantize(await weights.matrix(name, outF, inF, 'auto'));
    dense.push({ inFeatures: inF, outFeatures: outF, weight, bias: null, activation: 'identity' });
  }
  return dense;
}
