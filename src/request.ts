/**
 * A generation request as the engine runs it: the options checked once (each failing with a BAD_ARGUMENT
 * naming it), the prompt tokenized, and the token sequence fitted to the context by the overflow policy.
 */
import { EmberError } from './errors.ts';
import type { Tokenizer } from './tokenizer/index.ts';
import { LOGPROBS_CAP, validateSampling, type ResolvedSampling, type SamplingOptions } from './sampling.ts';
import { defaultKeep, shrink, shrinkTarget, type ContextOverflow } from './context.ts';
import { boolOption, checkPrompt, intOption, overflowOption, show, signalOption } from './options.ts';
import type { TokenConstraint } from './grammar/constraint.ts';

/** Sampling (temperature, topK, topP, minP, penalties, logitBias, seed: see src/sampling.ts) and the rest of a request. */
export interface GenerateOptions extends SamplingOptions {
  maxTokens?: number; // default 128
  addBos?: boolean; // default: the tokenizer's
  /** Match special tokens written in a string prompt (`<|im_start|>`); default false, so user text cannot inject them. */
  parseSpecial?: boolean;
  stopAtEos?: boolean; // default true
  signal?: AbortSignal;
  /** When prompt plus generation outgrow the context (default 'error'; the policies: src/context.ts, README). */
  contextOverflow?: ContextOverflow;
  /** 'truncate-middle': tokens kept at the start (default: a quarter of the context). */
  keepTokens?: number;
  /** Run only the part of the prompt that the KV cache does not already hold (default true). */
  reuseKv?: boolean;
  /**
   * Which tokens may come next, asked before each one (structured output: `grammarConstraint`). Each step then
   * waits for the token before it (no decode steps ahead). In-process only: it does not cross to a worker.
   */
  constraint?: TokenConstraint;
  /**
   * Report each generated token's log-probability and this many likeliest alternatives' (0 to 20), on its
   * GeneratedToken and in the result; a pass over the vocabulary a token more (k + 2 for k alternatives).
   */
  logprobs?: number;
}

/** A prepared request: checked options and the token sequence to run. */
export interface Request {
  promptIds: number[];
  seq: number[]; // what the KV cache must hold before the next sample: prompt (cut to fit) + generated
  dropped: number;
  maxTokens: number;
  sampling: ResolvedSampling & { masked: boolean; logprobs: number };
  constraint: TokenConstraint | null;
  stopAtEos: boolean;
  overflow: ContextOverflow;
  keep: number;
  reuse: boolean;
}

/** What a request is checked and fitted against. */
export interface RequestTarget {
  tokenizer: Tokenizer;
  vocab: number; // the model's vocabulary (token ids in a prompt are below it)
  nCtx: number;
}

/** Checks the options and the prompt, and fits the prompt to the context by the overflow policy. */
export function prepareRequest(prompt: string | readonly number[], o: GenerateOptions, target: RequestTarget): Request {
  if (o === null || typeof o !== 'object') {
    throw new EmberError('BAD_ARGUMENT', `options must be an object, got ${String(o)}`);
  }
  const { tokenizer, nCtx } = target;
  checkPrompt(prompt, target.vocab);
  const r: Request = {
    promptIds: [],
    seq: [],
    dropped: 0,
    maxTokens: intOption('maxTokens', o.maxTokens, 0) ?? 128,
    sampling: {
      ...validateSampling(o, { vocabSize: tokenizer.vocabSize }),
      masked: o.constraint !== undefined,
      logprobs: o.logprobs === undefined ? 0 : 1 + (intOption('logprobs', o.logprobs, 0, LOGPROBS_CAP) ?? 0),
    },
    constraint: constraintOption(o.constraint),
    stopAtEos: boolOption('stopAtEos', o.stopAtEos) ?? true,
    overflow: overflowOption('contextOverflow', o.contextOverflow) ?? 'error',
    keep: intOption('keepTokens', o.keepTokens, 0) ?? defaultKeep(nCtx),
    reuse: boolOption('reuseKv', o.reuseKv) ?? true,
  };
  signalOption(o.signal);
  const addBos = boolOption('addBos', o.addBos) ?? tokenizer.addBos;
  const parseSpecial = boolOption('parseSpecial', o.parseSpecial) ?? false;
  r.promptIds = typeof prompt === 'string' ? tokenizer.encode(prompt, { addBos, parseSpecial }) : [...prompt];
  if (r.promptIds.length === 0) {
    throw new EmberError('BAD_ARGUMENT', 'the prompt is empty and the model adds no BOS token');
  }
  r.seq = [...r.promptIds];
  if (r.seq.length > nCtx) {
    if (r.overflow === 'error') {
      const promptTokens = r.seq.length;
      throw new EmberError('CONTEXT_OVERFLOW', `the prompt has ${promptTokens} tokens but the context holds ${nCtx}`, { promptTokens, nCtx });
    }
    cutRequest(r, nCtx, tokenizer.bosId);
  }
  return r;
}

function constraintOption(c: unknown): TokenConstraint | null {
  if (c === undefined) return null;
  const ok = typeof c === 'object' && c !== null && typeof (c as TokenConstraint).allowed === 'function' && typeof (c as TokenConstraint).accept === 'function';
  if (!ok) throw new EmberError('BAD_ARGUMENT', `constraint must be an object with allowed() and accept(id), got ${show(c)}`);
  return c as TokenConstraint;
}

/** Cuts the request's sequence to three quarters of the context by its overflow policy. */
export function cutRequest(r: Request, nCtx: number, bosId: number | null): void {
  if (r.overflow === 'error') return;
  const kept = shrink(r.seq, shrinkTarget(nCtx), r.overflow, r.keep, bosId);
  r.dropped += r.seq.length - kept.length;
  r.seq = kept;
}
