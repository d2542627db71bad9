import { EmberError } from '../errors.ts';
import type { GGUFValue } from '../gguf/reader.ts';
import { TokenType } from './types.ts';

type Metadata = ReadonlyMap<string, GGUFValue>;

/** A special token to be cut out of raw text before the model's tokenizer sees it. */
export interface SpecialToken {
  readonly text: string;
  readonly id: number;
}

/** The vocabulary part of a GGUF file that both the SPM and the BPE tokenizer need, validated once. */
export interface GGUFVocab {
  readonly model: string;
  readonly pre: string | null;
  /** id -> token text. */
  readonly tokens: readonly string[];
  /** id -> TokenType; NORMAL where the file gives none. End-of-turn tokens found by name are forced to CONTROL. */
  readonly types: Int32Array;
  /** id -> score (SPM merge priority); null when the file has none. */
  readonly scores: Float32Array | null;
  /** token text -> id. */
  readonly ids: ReadonlyMap<string, number>;
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly unkId: number | null;
  readonly eogIds: ReadonlySet<number>;
  /** tokenizer.ggml.add_bos_token / add_space_prefix when the file has them. */
  readonly addBosKey: boolean | undefined;
  /** tokenizer.ggml.add_eos_token when the file has it. */
  readonly addEosKey: boolean | undefined;
  readonly addSpacePrefixKey: boolean | undefined;
  /** Control, unknown and user-defined tokens, longest first (the order llama.cpp matches them in). */
  readonly specialTokens: readonly SpecialToken[];
  /** Only the user-defined ones: llama.cpp (like HF for non-special added tokens) always matches these. */
  readonly userDefinedTokens: readonly SpecialToken[];
}

/**
 * Tokens that end a turn, by text. llama.cpp finds them the same way because GGUF files rarely list
 * them all (ref: llama.cpp issue 9606); a model that stops on `<|im_end|>` would otherwise run on.
 */
export const END_OF_GENERATION_TEXTS: ReadonlySet<string> = new Set([
  '<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<|eom_id|>', '<EOT>', '_<EOT>',
  '<|end_of_text|>', '<end_of_utterance>', '<｜end▁of▁sentence｜>', '<|return|>', '<|call|>',
  '<|fim_pad|>', '<|repo_name|>', '<|file_sep|>',
]);
/** Candidates for tokenizer.ggml.eot_token_id when the file lacks it. */
const EOT_TEXTS = ['<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<|end_of_text|>', '<EOT>', '_<EOT>', '<｜end▁of▁sentence｜>', '<end_of_utterance>'];

function optionalBool(meta: Metadata, key: string): boolean | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new EmberError('BAD_MODEL', `${key} should be a bool, got ${typeof v} ${String(v)}`);
  return v;
}

/** A token id key, or `fallback` when absent. Ids outside the vocab (files write 0xFFFFFFFF for "none") count as absent. */
function optionalId(meta: Metadata, key: string, nTokens: number, fallback: number | null): number | null {
  const v = meta.get(key);
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new EmberError('BAD_MODEL', `${key} should be an integer token id, got ${String(v)}`);
  return v >= 0 && v < nTokens ? v : fallback;
}

function sortLongestFirst(list: SpecialToken[]): SpecialToken[] {
  return list.sort((a, b) => b.text.length - a.text.length || a.id - b.id);
}

export function readVocab(meta: Metadata): GGUFVocab {
  const model = meta.get('tokenizer.ggml.model');
  if (typeof model !== 'string') throw new EmberError('BAD_MODEL', `tokenizer.ggml.model is missing or not a string (got ${String(model)})`);
  const pre = meta.get('tokenizer.ggml.pre');
  const rawTokens = meta.get('tokenizer.ggml.tokens');
  if (!Array.isArray(rawTokens) || rawTokens.some((t) => typeof t !== 'string')) {
    throw new EmberError('BAD_MODEL', 'tokenizer.ggml.tokens is missing or is not an array of strings');
  }
  const n = rawTokens.length;
  if (n === 0) throw new EmberError('BAD_MODEL', 'tokenizer.ggml.tokens is empty');

  const rawTypes = meta.get('tokenizer.ggml.token_type');
  const types = new Int32Array(n).fill(TokenType.NORMAL);
  if (rawTypes !== undefined) {
    if (!(rawTypes instanceof Int32Array || rawTypes instanceof Uint32Array)) throw new EmberError('BAD_MODEL', 'tokenizer.ggml.token_type should be an int32 array');
    if (rawTypes.length < n) throw new EmberError('BAD_MODEL', `tokenizer.ggml.token_type has ${rawTypes.length} entries for ${n} tokens`);
    types.set(rawTypes.subarray(0, n));
  }

  const rawScores = meta.get('tokenizer.ggml.scores');
  let scores: Float32Array | null = null;
  if (rawScores !== undefined) {
    if (!(rawScores instanceof Float32Array || rawScores instanceof Int32Array)) throw new EmberError('BAD_MODEL', 'tokenizer.ggml.scores should be a float32 array');
    if (rawScores.length < n) throw new EmberError('BAD_MODEL', `tokenizer.ggml.scores has ${rawScores.length} entries for ${n} tokens`);
    scores = Float32Array.from(rawScores.subarray(0, n));
  }

  const tokens = new Array<string>(n);
  const ids = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    // llama.cpp renames empty tokens rather than failing; do the same so ids stay aligned.
    const t = (rawTokens[i] as string) || `[EMPTY_${i}]`;
    const prev = ids.get(t);
    if (prev !== undefined) throw new EmberError('BAD_MODEL', `duplicate token in vocabulary: ${JSON.stringify(t)} has ids ${prev} and ${i}`);
    ids.set(t, i);
    tokens[i] = t;
  }

  // SPM files from before these keys existed rely on llama.cpp's defaults <unk>=0, <s>=1, </s>=2.
  const spm = model === 'llama';
  const inRange = (id: number) => (id < n ? id : null);
  const bosId = optionalId(meta, 'tokenizer.ggml.bos_token_id', n, spm ? inRange(1) : null);
  const eosId = optionalId(meta, 'tokenizer.ggml.eos_token_id', n, spm ? inRange(2) : null);
  const unkId = optionalId(meta, 'tokenizer.ggml.unknown_token_id', n, spm ? inRange(0) : null);
  let eotId = optionalId(meta, 'tokenizer.ggml.eot_token_id', n, null);
  const eomId = optionalId(meta, 'tokenizer.ggml.eom_token_id', n, ids.get('<|eom_id|>') ?? null);
  if (eotId === null) {
    for (const t of EOT_TEXTS) {
      const id = ids.get(t);
      if (id !== undefined) { eotId = id; break; }
    }
  }

  const eogIds = new Set<number>();
  for (const t of END_OF_GENERATION_TEXTS) {
    const id = ids.get(t);
    if (id !== undefined) eogIds.add(id);
  }
  for (const id of [eosId, eotId, eomId]) if (id !== null) eogIds.add(id);
  // An end-of-turn token that the file typed as normal would be split into pieces by the tokenizer
  // and printed by the detokenizer; llama.cpp overrides its type to control, and so do we.
  for (const id of eogIds) if (types[id] === TokenType.NORMAL || types[id] === TokenType.UNDEFINED) types[id] = TokenType.CONTROL;

  const special: SpecialToken[] = [];
  const userDefined: SpecialToken[] = [];
  for (let i = 0; i < n; i++) {
    const ty = types[i];
    if (ty === TokenType.CONTROL || ty === TokenType.UNKNOWN || ty === TokenType.USER_DEFINED) special.push({ text: tokens[i]!, id: i });
    if (ty === TokenType.USER_DEFINED) userDefined.push({ text: tokens[i]!, id: i });
  }

  return {
    model,
    pre: typeof pre === 'string' ? pre : null,
    tokens,
    types,
    scores,
    ids,
    bosId,
    eosId,
    unkId,
    eogIds,
    addBosKey: optionalBool(meta, 'tokenizer.ggml.add_bos_token'),
    addEosKey: optionalBool(meta, 'tokenizer.ggml.add_eos_token'),
    addSpacePrefixKey: optionalBool(meta, 'tokenizer.ggml.add_space_prefix'),
    specialTokens: sortLongestFirst(special),
    userDefinedTokens: sortLongestFirst(userDefined),
  };
}
