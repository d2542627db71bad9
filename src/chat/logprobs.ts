import { intOption } from '../options.ts';
import { EmberError } from '../errors.ts';
import { LOGPROBS_CAP } from '../sampling.ts';
import type { GeneratedToken } from '../engine.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import type { ChatTokenLogprob } from './types.ts';

const utf8 = new TextDecoder();
const encoder = new TextEncoder();

/** logprobs and top_logprobs as the engine's `logprobs` (alternatives a token), or undefined where off. */
export function checkLogprobs(req: { logprobs?: unknown; top_logprobs?: unknown }): number | undefined {
  if (req.logprobs !== undefined && typeof req.logprobs !== 'boolean') {
    throw new EmberError('BAD_ARGUMENT', `logprobs must be true or false, got ${JSON.stringify(req.logprobs)}`);
  }
  const top = intOption('top_logprobs', req.top_logprobs, 0, LOGPROBS_CAP);
  if (top !== undefined && req.logprobs !== true) throw new EmberError('BAD_ARGUMENT', 'top_logprobs needs logprobs: true');
  return req.logprobs ? (top ?? 0) : undefined;
}

/** A token as OpenAI reports it: its text (U+FFFD for part of a character), its UTF-8 bytes, and its log-probability. */
function tokenLogprob(tokenizer: Tokenizer, id: number, logprob: number) {
  let bytes = tokenizer.tokenBytes(id);
  if (bytes.length === 0) bytes = encoder.encode(tokenizer.decode([id], { skipSpecial: false })); // a control token's text
  return { token: utf8.decode(bytes), logprob, bytes: [...bytes] };
}

/** A generated token's entry in choices[0].logprobs.content. */
export function logprobEntry(tokenizer: Tokenizer, t: GeneratedToken): ChatTokenLogprob {
  return {
    ...tokenLogprob(tokenizer, t.id, t.logprob!),
    top_logprobs: (t.topLogprobs ?? []).map((a) => tokenLogprob(tokenizer, a.id, a.logprob)),
  };
}
