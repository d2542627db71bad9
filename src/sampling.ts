import { EmberError } from './errors.ts';

/**
 * How the next token is chosen (all optional). The sampler runs on the GPU in this order: logit_bias,
 * repetition penalty, presence and frequency penalties, then greedy argmax (temperature 0) or a draw
 * from the tokens that pass top-k, top-p and min-p at that temperature. Token ids past the tokenizer's
 * vocabulary (padded embedding rows) are never chosen.
 */
export interface SamplingOptions {
  /** 0 = greedy (argmax of the logits after bias and penalties). Default 0.8. */
  temperature?: number;
  /** Keep the k most likely tokens; 0 = off. Default 40. */
  topK?: number;
  /** Keep the most likely tokens whose mass reaches topP of the whole distribution; 1 = off. Default 0.95. */
  topP?: number;
  /** Keep the tokens whose probability is at least minP times the top one's (after temperature); 0 = off (default). */
  minP?: number;
  /**
   * > 0; 1 = off (default). Every token of this request so far, the prompt's and the generated ones, has its
   * logit divided by this when positive and multiplied by it when not (llama.cpp and transformers; the window
   * is the whole request, as in transformers and vLLM).
   */
  repetitionPenalty?: number;
  /** -2..2, 0 = off (default). Subtracted from the logit of each token generated at least once in this request (OpenAI). */
  presencePenalty?: number;
  /** -2..2, 0 = off (default). This times how often a token was generated in this request is taken off its logit (OpenAI). */
  frequencyPenalty?: number;
  /** Token id -> a value in -100..100 added to its logit before anything else (OpenAI); at most 1024 entries. */
  logitBias?: Readonly<Record<number, number>>;
  /** An integer; the same seed and options give the same tokens. Default: random. */
  seed?: number;
}

/** Sampling options checked and completed with their defaults; `seed` is the 32-bit seed of the draws. */
export interface ResolvedSampling {
  readonly temperature: number;
  readonly topK: number;
  readonly topP: number;
  readonly minP: number;
  readonly repetitionPenalty: number;
  readonly presencePenalty: number;
  readonly frequencyPenalty: number;
  /** Distinct ids, in ascending order, and the bias of each. */
  readonly logitBias: { readonly ids: Uint32Array; readonly values: Float32Array };
  readonly seed: number;
}

/** The most alternatives a token's logprobs report (OpenAI's top_logprobs: 0 to 20; shaders/sample.wgsl LOGPROBS_CAP). */
export const LOGPROBS_CAP = 20;

/** The most logit_bias entries a request may carry (the size of the sampler's bias buffer). */
export const LOGIT_BIAS_CAP = 1024;

const NO_BIAS = Object.freeze({ ids: new Uint32Array(0), values: new Float32Array(0) });

/** Argmax with nothing else on: for measurements and tests that run the model without a request. */
export const GREEDY: ResolvedSampling = Object.freeze({
  temperature: 0, topK: 0, topP: 1, minP: 0,
  repetitionPenalty: 1, presencePenalty: 0, frequencyPenalty: 0, logitBias: NO_BIAS, seed: 0,
});

export interface ValidateContext {
  /** Tokens the tokenizer has: logit_bias ids must be below it. */
  vocabSize?: number;
  /** The names the caller knows the options by, for error messages (chat: OpenAI's `min_p`, ...). */
  names?: Partial<Record<keyof SamplingOptions, string>>;
}

/** OpenAI's names of the options, as `createChat` takes them. */
export const OPENAI_SAMPLING_NAMES: Readonly<Record<keyof SamplingOptions, string>> = Object.freeze({
  temperature: 'temperature', topK: 'top_k', topP: 'top_p', minP: 'min_p', repetitionPenalty: 'repetition_penalty',
  presencePenalty: 'presence_penalty', frequencyPenalty: 'frequency_penalty', logitBias: 'logit_bias', seed: 'seed',
});

/** Checks every sampling option, naming the option, what it expects and what it found, and fills in the defaults. */
export function validateSampling(o: SamplingOptions, ctx: ValidateContext = {}): ResolvedSampling {
  const name = (k: keyof SamplingOptions) => ctx.names?.[k] ?? k;
  const bad = (k: keyof SamplingOptions, expected: string, found: string): never => {
    const message = `sampling option ${name(k)} must be ${expected}, got ${found}`;
    throw new EmberError('BAD_ARGUMENT', message, { option: name(k), expected, found });
  };
  const num = (k: keyof SamplingOptions, dflt: number, expected: string, ok: (v: number) => boolean): number => {
    const v = o[k] ?? dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) bad(k, expected, show(v));
    return v as number;
  };
  const seedIn = o.seed ?? (Math.random() * 2 ** 32) >>> 0;
  if (typeof seedIn !== 'number' || !Number.isSafeInteger(seedIn)) bad('seed', 'an integer of magnitude below 2^53', show(seedIn));
  return {
    temperature: num('temperature', 0.8, 'a finite number >= 0', (v) => v >= 0),
    topK: num('topK', 40, 'an integer >= 0 (0 = off)', (v) => Number.isInteger(v) && v >= 0 && v < 2 ** 32),
    topP: num('topP', 0.95, 'in (0, 1] (1 = off)', (v) => v > 0 && v <= 1),
    minP: num('minP', 0, 'in [0, 1] (0 = off)', (v) => v >= 0 && v <= 1),
    repetitionPenalty: num('repetitionPenalty', 1, 'a finite number > 0 (1 = off)', (v) => v > 0),
    presencePenalty: num('presencePenalty', 0, 'in [-2, 2] (0 = off)', (v) => v >= -2 && v <= 2),
    frequencyPenalty: num('frequencyPenalty', 0, 'in [-2, 2] (0 = off)', (v) => v >= -2 && v <= 2),
    logitBias: checkBias(o.logitBias, ctx.vocabSize, (expected, found) => bad('logitBias', expected, found)),
    seed: ((seedIn % 2 ** 32) + 2 ** 32) % 2 ** 32,
  };
}

/** A value as an error message quotes it: numbers as they print (NaN, Infinity), the rest as JSON, cut short. */
function show(v: unknown): string {
  const text = typeof v === 'number' ? String(v) : (JSON.stringify(v) ?? String(v));
  return text.length > 80 ? `${text.slice(0, 80)}...` : text;
}

type Fail = (expected: string, found: string) => never;

function checkBias(bias: unknown, vocabSize: number | undefined, bad: Fail): ResolvedSampling['logitBias'] {
  if (bias === undefined || bias === null) return NO_BIAS;
  if (typeof bias !== 'object' || Array.isArray(bias)) bad('an object mapping token ids to numbers', show(bias));
  const entries = Object.entries(bias as Record<string, unknown>);
  if (entries.length > LOGIT_BIAS_CAP) bad(`at most ${LOGIT_BIAS_CAP} entries`, `${entries.length} entries`);
  const idLimit = vocabSize === undefined ? '' : ` below ${vocabSize}`;
  const list = entries.map(([key, value]) => {
    const id = /^(0|[1-9]\d*)$/.test(key) ? Number(key) : NaN;
    if (!(id < (vocabSize ?? 2 ** 32))) bad(`keyed by token ids (integers >= 0${idLimit})`, `key ${show(key)}`);
    const inRange = typeof value === 'number' && value >= -100 && value <= 100;
    if (!inRange) bad('values in [-100, 100]', `${show(value)} for token ${key}`);
    return [id, value as number] as const;
  });
  list.sort((a, b) => a[0] - b[0]); // object keys are distinct, so the ids are too
  return { ids: Uint32Array.from(list, (e) => e[0]), values: Float32Array.from(list, (e) => e[1]) };
}
