/**
 * `@huggingface/tokenizers` (0.2) writes three pre-tokenizers with JavaScript's classes, where the reference (the Rust
 * `tokenizers` crate behind transformers) reads others:
 * - `Digits` splits on `\d` (ASCII 0-9); Rust splits on `char::is_numeric` (categories Nd, Nl, No), so
 *   '½', '①', 'Ⅻ' or '١' are digits there.
 * - `Whitespace` matches `\w+|[^\w\s]+` with ASCII `\w`; Rust's regex `\w` is Unicode (Alphabetic, M, Nd,
 *   Pc, Join_Control), so 'é' or 'ж' are word characters there.
 * - `BertPreTokenizer` splits on `\s` and `\p{P}`; Rust's whitespace and punctuation tables are other sets (bertAsSplit).
 * Before the library sees a tokenizer.json, all three are rewritten into the equivalent `Split` pre-tokenizer
 * with an explicit Unicode pattern (the library's Split handles `\p{..}` classes faithfully).
 */

import { BERT_PUNCTUATION } from './bert_punctuation.ts';

type Json = Record<string, unknown>;

const NUMERIC = '\\p{N}'; // Rust char::is_numeric: Nd | Nl | No
const WORD = '\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}'; // Rust regex \w

/** `Digits { individual_digits }` as a Split: each digit alone, or runs of digits, isolated. */
function digitsAsSplit(individual: boolean): Json {
  const pattern = individual ? NUMERIC : `${NUMERIC}+`;
  return { type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false };
}

/** `Whitespace` as a Split keeping only the matches (Rust: split(Invert(regex), Removed)). */
function whitespaceAsSplit(): Json {
  const pattern = `[${WORD}]+|[^${WORD}\\s]+`;
  return { type: 'Split', pattern: { Regex: pattern }, behavior: 'Removed', invert: true };
}

/**
 * `BertPreTokenizer` as a Split keeping the runs between whitespace and punctuation and each punctuation character alone
 * (Rust: split on char::is_whitespace, removed, then on ASCII or Unicode punctuation, isolated). Its punctuation is the
 * crate's own table (bert_punctuation.ts), of an older Unicode than JavaScript's \p{P}: 145 code points apart (U+061D,
 * U+2E43-2E5D, ...), and U+0085 is whitespace there but not to JavaScript's \s.
 */
function bertAsSplit(): Json {
  const pattern = `[^\\p{White_Space}${BERT_PUNCTUATION}]+|[${BERT_PUNCTUATION}]`;
  return { type: 'Split', pattern: { Regex: pattern }, behavior: 'Removed', invert: true };
}

function rewrite(node: unknown): unknown {
  if (!node || typeof node !== 'object' || Array.isArray(node)) return node;
  const n = node as Json;
  switch (n.type) {
    case 'Digits':
      return digitsAsSplit(n.individual_digits === true);
    case 'Whitespace':
      return whitespaceAsSplit();
    case 'BertPreTokenizer':
      return bertAsSplit();
    case 'Sequence':
      if (!Array.isArray(n.pretokenizers)) return n;
      return { ...n, pretokenizers: n.pretokenizers.map(rewrite) };
    default:
      return n;
  }
}

/** The tokenizer.json with its ASCII-only pre-tokenizers replaced by Unicode-aware equivalents. */
export function withUnicodePreTokenizers<T extends { pre_tokenizer?: unknown }>(json: T): T {
  if (json.pre_tokenizer === undefined || json.pre_tokenizer === null) return json;
  return { ...json, pre_tokenizer: rewrite(json.pre_tokenizer) };
}
