/**
 * Text embeddings from a decoder (Qwen3-Embedding's recipe): each input runs through the model as a prompt, ended by the
 * tokens its tokenizer puts after a text; the embedding is the final norm's output at the last token, L2-normalised.
 * Here: the request's checks and the pooling; the passes run in Engine.embed.
 */
import { EmberError } from './errors.ts';
import type { Tokenizer } from './tokenizer/index.ts';
import type { Pooling } from './model/config.ts';
import { bad, boolOption, checkPrompt, intOption, signalOption } from './options.ts';

export interface EmbedOptions {
  /** Divide each embedding by its L2 norm (default true, as Qwen3-Embedding and the OpenAI API do). */
  normalize?: boolean;
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
  normalize: boolean;
  dimensions: number;
  signal: AbortSignal | undefined;
}

/** Checks the options and tokenizes every input: strings as prompts plus the tokenizer's end tokens, id arrays as they are. */
export function prepareEmbed(
  input: unknown, o: EmbedOptions, target: { tokenizer: Tokenizer; vocab: number; nCtx: number; width: number; pooling?: Pooling },
): EmbedRequest {
  if (target.pooling && target.pooling !== 'last' && target.pooling !== 'none') {
    throw new EmberError('UNSUPPORTED', `the model's file says its embeddings are pooled by ${target.pooling} (pooling_type); emberlm embeds by the last token only`, { pooling: target.pooling });
  }
  if (typeof o !== 'object' || o === null) bad('the embed options', 'an object', o);
  const normalize = boolOption('normalize', o.normalize) ?? true;
  const dimensions = intOption('dimensions', o.dimensions, 1, target.width) ?? target.width;
  const signal = signalOption(o.signal);
  const list = isOneInput(input) ? [input] : input;
  if (!Array.isArray(list) || list.length === 0) bad('the input', 'a string, an array of token ids, or a non-empty array of them', input);
  const { tokenizer: tok } = target;
  const seqs = (list as unknown[]).map((one, i) => {
    checkPrompt(one, target.vocab);
    const ids = typeof one === 'string' ? [...tok.encode(one, { addBos: tok.addBos }), ...tok.endIds] : [...(one as number[])];
    if (ids.length === 0) bad(`input[${i}]`, 'a text or ids of at least one token', one);
    if (ids.length > target.nCtx) {
      throw new EmberError('CONTEXT_OVERFLOW', `input[${i}] is ${ids.length} tokens, past the context of ${target.nCtx}`, { input: i, tokens: ids.length, nCtx: target.nCtx });
    }
    return ids;
  });
  return { seqs, normalize, dimensions, signal };
}

/** One input, not a list: a string, or an array of numbers (token ids; [] is left to be refused as empty). */
const isOneInput = (v: unknown) => typeof v === 'string' || (Array.isArray(v) && v.length > 0 && v.every((t) => typeof t === 'number'));

/** The embedding of one input from the final norm's output at its last token. */
export function pool(hidden: Float32Array, r: Pick<EmbedRequest, 'normalize' | 'dimensions'>): Float32Array {
  const e = hidden.slice(0, r.dimensions);
  if (!e.every(Number.isFinite)) throw new EmberError('BAD_MODEL', 'the model\'s final hidden state is not finite (NaN or infinity): its weights hold NaN or infinity, or its activations overflow');
  if (!r.normalize) return e;
  let sum = 0;
  for (const v of e) sum += v * v;
  const scale = 1 / Math.max(Math.sqrt(sum), 1e-12); // torch.nn.functional.normalize's eps
  return e.map((v) => v * scale);
}
