/**
 * Text embeddings from a decoder: each input runs through the model as a prompt, ended by the tokens its tokenizer puts
 * after a text, and the final norm's output is pooled: at the last token (Qwen3-Embedding's recipe, and the default), or
 * as a sentence-transformers folder's modules say (EmbeddingGemma: the mean of every token's row, two Dense layers),
 * then L2-normalised. Here: the request's checks and the pooling; the passes run in Engine.embed.
 */
import { EmberError } from './errors.ts';
import type { Tokenizer } from './tokenizer/index.ts';
import { embedsInOnePass, type ModelConfig } from './model/config.ts';
import type { Model } from './model/model.ts';
import type { DenseLayer, SentenceModules } from './hf/sentence.ts';
import { bad, boolOption, checkPrompt, intOption, signalOption } from './options.ts';
import { progressOption } from './per_input.ts';
import { geluErf } from './kernels/ref/layers.ts';
import { layernormRef } from './kernels/ref/rmsnorm.ts';

/**
 * How an input's final-norm rows become its embedding: a sentence-transformers folder's modules, else the pooling a
 * GGUF names (pooling_type; the last token's where it names none), normalised.
 */
export type EmbedRecipe = Pick<SentenceModules, 'pooling' | 'includePrompt' | 'dense' | 'normalize' | 'prompts' | 'maxSeqLength'>;

/**
 * The model's recipe, or the UNSUPPORTED error an embedding of it raises (a reranker's rank pooling): a folder's
 * modules, else the file's pooling with the Dense layers it carries (an EmbeddingGemma GGUF's dense_2, dense_3).
 */
export function embedRecipe(config: ModelConfig, sentence: SentenceModules | null, dense: readonly DenseLayer[] = []): EmbedRecipe | EmberError {
  if (sentence) return sentence;
  const p = config.pooling ?? (config.postLayerNorms || config.layerNorms ? 'mean' : 'last'); // (an encoder's: sentence-transformers' default)
  if (p === 'rank') {
    const what = config.postLayerNorms || config.layerNorms ? 'a cross-encoder: engine.rerank scores (query, document) pairs with it' : "a reranker's score; emberlm embeds by the last token, the mean or the first token";
    return new EmberError('UNSUPPORTED', `the model's outputs are pooled by rank (pooling_type: ${what})`, { pooling: p });
  }
  return { pooling: p === 'none' ? 'last' : p, includePrompt: true, dense, normalize: true, prompts: {}, maxSeqLength: null };
}

/** Refuses what a model that attends both ways cannot do (generate, rerank): it only embeds. */
export function embeddingOnly(c: ModelConfig, what: string): void {
  if (c.bidirectional) throw new EmberError('UNSUPPORTED', `${c.name} attends both ways, as an embedding model (EmbeddingGemma, BERT, ModernBERT): it embeds (engine.embed) and does not ${what}`);
}

/** The width of an embedding: the last Dense layer's, else the model's. */
export const embedWidth = (r: EmbedRecipe, nEmbd: number) => r.dense.at(-1)?.outFeatures ?? nEmbd;

export interface EmbedOptions {
  /**
   * Divide each embedding by its L2 norm (default true, as Qwen3-Embedding and the OpenAI API do; for a
   * sentence-transformers folder, whether its modules end in Normalize).
   */
  normalize?: boolean;
  /** A prompt the model's folder names (config_sentence_transformers.json: EmbeddingGemma's "query", "document", ...), put in front of each text. */
  promptName?: string;
  /**
   * A prompt's own text, put in front of each text as sentence-transformers' encode(prompt=...) does (an INSTRUCTOR
   * instruction: "Represent the Science title: "), left out of the pooling where the folder's include_prompt is false.
   */
  prompt?: string;
  /** Called after each input is embedded, or each pass of several (engine.tuning.batchInputs): how many are done, of how many (an index's progress bar). */
  onProgress?: (done: number, total: number) => void;
  /**
   * A text longer than the model takes is cut, its end tokens kept, as sentence-transformers cuts at the folder's
   * `max_seq_length` (a folder's, else the context or one pass): default false, such an input is CONTEXT_OVERFLOW.
   * Token-id inputs are never cut.
   */
  truncate?: boolean;
  /** Keep the first `dimensions` values (Matryoshka models such as Qwen3-Embedding), before normalising (default: all). */
  dimensions?: number;
  signal?: AbortSignal;
}

export interface EmbeddingResult {
  /** One per input, in input order. */
  embeddings: Float32Array[];
  /** Tokens run, all inputs together (the end tokens included). */
  promptTokens: number;
}

/** A checked embedding request: the token sequence of every input. */
export interface EmbedRequest {
  seqs: number[][];
  /** Each input's first rows its pooling leaves out: the named prompt's where the recipe does not pool it (includePrompt false), else 0. */
  skipRows: number[];
  normalize: boolean;
  dimensions: number;
  signal: AbortSignal | undefined;
  onProgress: EmbedOptions['onProgress'];
  recipe: EmbedRecipe;
  /** Each input in one pass, none of it from the KV cache (EmbedTarget.onePass). */
  onePass: boolean;
}

/** What an embedding request is checked against. `onePass`: the most tokens of an input, where each runs in one pass. */
export interface EmbedTarget { tokenizer: Tokenizer; vocab: number; nCtx: number; onePass: number | null; recipe: EmbedRecipe; width: number }

/**
 * The target of a loaded model: an input runs in one pass where the model attends both ways (a token's K and V depend
 * on later tokens) or pools every row (each row comes from that pass; none from a cached prefix).
 */
export function embedTarget(m: Model, tokenizer: Tokenizer, recipe: EmbedRecipe): EmbedTarget {
  const onePass = embedsInOnePass(m.config) ? m.maxBatch : null;
  return { tokenizer, vocab: m.config.vocab, nCtx: m.nCtx, onePass, recipe, width: embedWidth(recipe, m.config.nEmbd) };
}

/** Checks the options and tokenizes every input: strings (after the named prompt) as prompts plus the tokenizer's end tokens, id arrays as they are. */
export function prepareEmbed(input: unknown, o: EmbedOptions, target: EmbedTarget): EmbedRequest {
  if (typeof o !== 'object' || o === null) bad('the embed options', 'an object', o);
  const { recipe } = target;
  const normalize = boolOption('normalize', o.normalize) ?? recipe.normalize;
  const dimensions = intOption('dimensions', o.dimensions, 1, target.width) ?? target.width;
  const signal = signalOption(o.signal);
  const prompt = promptText(recipe, o.promptName, o.prompt);
  // what a text is cut to with `truncate`: sentence-transformers' max_seq_length, within what the model runs
  const keep = boolOption('truncate', o.truncate) ? Math.min(target.nCtx, target.onePass ?? Infinity, recipe.maxSeqLength ?? Infinity) : Infinity;
  const list = isOneInput(input) ? [input] : input;
  if (!Array.isArray(list) || list.length === 0) bad('the input', 'a string, an array of token ids, or a non-empty array of them', input);
  const { tokenizer: tok } = target;
  // sentence-transformers' prompt length: the prompt alone with the special tokens, but a trailing one
  const promptRows = recipe.includePrompt || prompt === '' ? 0 : tok.encode(prompt, { addBos: tok.addBos }).length + Math.max(tok.endIds.length - 1, 0);
  const seqs = (list as unknown[]).map((one, i) => {
    checkPrompt(one, target.vocab);
    const ids = typeof one === 'string' ? cut([...tok.encode(prompt + one, { addBos: tok.addBos }), ...tok.endIds], keep, tok.endIds.length) : [...(one as number[])];
    if (ids.length === 0) bad(`input[${i}]`, 'a text or ids of at least one token', one);
    if (ids.length > target.nCtx) {
      throw new EmberError('CONTEXT_OVERFLOW', `input[${i}] is ${ids.length} tokens, past the context of ${target.nCtx}`, { input: i, tokens: ids.length, nCtx: target.nCtx });
    }
    if (target.onePass !== null && ids.length > target.onePass) {
      const why = `this model embeds each input in one pass, of at most ${target.onePass} tokens (the load's maxBatch)`;
      throw new EmberError('CONTEXT_OVERFLOW', `input[${i}] is ${ids.length} tokens: ${why}`, { input: i, tokens: ids.length, maxBatch: target.onePass });
    }
    return ids;
  });
  const skipRows = (list as unknown[]).map((one) => (typeof one === 'string' ? promptRows : 0)); // (ids come without the prompt)
  return { seqs, skipRows, normalize, dimensions, signal, onProgress: progressOption(o.onProgress), recipe, onePass: target.onePass !== null };
}

/** The first `keep` tokens of `ids` but its `ends` last ones, then those (a text cut, its end tokens kept). */
const cut = (ids: number[], keep: number, ends: number) => (ids.length <= keep ? ids : [...ids.slice(0, Math.max(0, keep - ends)), ...ids.slice(ids.length - ends)]);

/** The text of the prompt named, or given (none: ''). */
function promptText(recipe: EmbedRecipe, name: unknown, text: unknown): string {
  if (text !== undefined) {
    if (name !== undefined) bad('prompt', 'left out where promptName is given (one prompt or the other)', text);
    return typeof text === 'string' ? text : bad('prompt', 'a string', text);
  }
  if (name === undefined) return '';
  if (typeof name === 'string' && Object.hasOwn(recipe.prompts, name)) return recipe.prompts[name];
  const names = Object.keys(recipe.prompts);
  return bad('promptName', names.length ? `one of the model's prompts (${names.join(', ')})` : 'left out: the model names no prompts', name);
}

/** One input, not a list: a string, or an array of numbers (token ids; [] is left to be refused as empty). */
const isOneInput = (v: unknown) => typeof v === 'string' || (Array.isArray(v) && v.length > 0 && v.every((t) => typeof t === 'number'));

/**
 * The embedding of one input from the final norm's output: `hidden` holds the rows the recipe pools (rows of `width`:
 * the last or first token's alone, or every row for a mean, but its first `skip`: a prompt's left out); then the Dense
 * layers, the first `dimensions` values, and the L2 normalisation.
 */
export function pool(hidden: Float32Array, width: number, r: Pick<EmbedRequest, 'normalize' | 'dimensions' | 'recipe'>, skip = 0): Float32Array {
  const { recipe } = r;
  const rows = hidden.length / width;
  const row = (t: number) => hidden.subarray(t * width, (t + 1) * width);
  // (no row left: sentence-transformers' sum over none, zeros)
  const mean = () => (skip < rows ? meanOf(hidden.subarray(skip * width), rows - skip, width) : new Float32Array(width));
  const pooled = recipe.pooling === 'mean' ? mean() : recipe.pooling === 'cls' ? row(0) : row(rows - 1);
  if (!pooled.every(Number.isFinite)) throw new EmberError('BAD_MODEL', 'the model\'s final hidden state is not finite (NaN or infinity): its weights hold NaN or infinity, or its activations overflow');
  const e = applyDense(pooled, recipe.dense).slice(0, r.dimensions);
  if (!e.every(Number.isFinite)) throw new EmberError('BAD_MODEL', 'the Dense layers\' output is not finite (NaN or infinity): their weights hold NaN or infinity, or their values overflow');
  if (!r.normalize) return e;
  let sum = 0;
  for (const v of e) sum += v * v;
  const scale = 1 / Math.max(Math.sqrt(sum), 1e-12); // torch.nn.functional.normalize's eps
  return e.map((v) => v * scale);
}

/** The mean of `rows` rows, summed in float64 (sentence-transformers sums in float32; the difference is rounding). */
export function meanOf(hidden: Float32Array, rows: number, width: number): Float32Array {
  const sum = new Float64Array(width);
  for (let t = 0; t < rows; t++) for (let i = 0; i < width; i++) sum[i] += hidden[t * width + i];
  return Float32Array.from(sum, (v) => v / rows);
}

/** The Dense layers on a pooled vector. */
export function applyDense(x: Float32Array, dense: readonly DenseLayer[]): Float32Array {
  let v = x;
  for (const d of dense) {
    const y = new Float32Array(d.outFeatures);
    for (let o = 0; o < d.outFeatures; o++) {
      let s = d.bias ? d.bias[o] : 0;
      const row = o * d.inFeatures;
      for (let i = 0; i < d.inFeatures; i++) s += d.weight[row + i] * v[i];
      y[o] = d.activation === 'tanh' ? Math.tanh(s) : d.activation === 'gelu' ? geluErf(s) : s;
    }
    v = d.norm ? layernormRef(y, d.norm.weight, d.norm.bias, y.length, d.norm.eps) : y; // (its sums in float64)
  }
  return v;
}
