/**
 * Pre-tokenizers that the JS tokenizer library writes with ASCII-only classes must split as the
 * reference does. Expected values: the Rust `tokenizers` crate (Python package `tokenizers` 0.23.2, the
 * library transformers uses), computed once with `Tokenizer.from_file(...).encode(s, add_special_tokens=False)`
 * and `pre_tokenizers.Whitespace()/Digits().pre_tokenize_str(s)`; npm test needs no Python.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tokenizer as HFTokenizer } from '@huggingface/tokenizers';
import { tokenizerFromHF } from '../src/tokenizer/index.ts';
import { withUnicodePreTokenizers } from '../src/tokenizer/unicode_pre_tokenizers.ts';
import { preTokenizerFor, splitWords } from '../src/tokenizer/pre_tokenizer.ts';
import { sharedModelPath } from './helpers/models.ts';

const SMOLLM2 = sharedModelPath('hf-oracle/llama-smollm2-bf16');
const readJson = (file: string) => JSON.parse(readFileSync(`${SMOLLM2}/${file}`, 'utf8')) as object;

// SmolLM2-135M-Instruct's real tokenizer.json (Digits with individual digits, then byte-level BPE).
const SMOLLM2_IDS: Record<string, number[]> = {
  '4 ½ months': [36, 216, 16738, 2704],
  '١٢٣': [164, 111, 164, 112, 164, 113],
  'Ⅻ': [173, 223, 121],
  'x²+y³ = 10': [104, 19133, 27, 105, 39050, 446, 216, 33, 32],
  '٣.١٤ and ১২৩ and ①②': [164, 113, 30, 164, 111, 164, 114, 284, 216, 47827, 117, 47827, 118, 47827, 119, 284, 216, 173, 235, 250, 173, 235, 111],
  'Price: 12345 (~¾ off)': [27148, 42, 216, 33, 34, 35, 36, 37, 30382, 43124, 767, 25],
  '第3章 三十': [40562, 122, 35, 47287, 250, 216, 7906, 227, 27991, 219],
  'Ⅷ. ⅛ cup': [173, 223, 117, 30, 216, 173, 223, 245, 7118],
};

describe('Unicode-aware pre-tokenizers', () => {
  it('the real SmolLM2 tokenizer splits non-ASCII numerals as transformers does', () => {
    const tok = tokenizerFromHF(readJson('tokenizer.json'), readJson('tokenizer_config.json'));
    for (const [text, ids] of Object.entries(SMOLLM2_IDS)) {
      expect(tok.encode(text, { addBos: false }), text).toEqual(ids);
    }
  });

  const pieces = (preTokenizer: object, text: string): string[] => {
    const model = { type: 'BPE', vocab: {}, merges: [] };
    const json = withUnicodePreTokenizers({ model, added_tokens: [], normalizer: null, pre_tokenizer: preTokenizer, post_processor: null, decoder: null });
    const lib = new HFTokenizer(json, {});
    return lib.pre_tokenizer!.pre_tokenize_text(text, {}) as string[];
  };

  it('Whitespace: Unicode word characters (Rust regex \\w), numerals outside Nd are not word characters', () => {
    expect(pieces({ type: 'Whitespace' }, 'héllo wörld x²+y³ ж!!')).toEqual(['héllo', 'wörld', 'x', '²+', 'y', '³', 'ж', '!!']);
    expect(pieces({ type: 'Whitespace' }, 'a_b-c ١٢ ½ naïve—café')).toEqual(['a_b', '-', 'c', '١٢', '½', 'naïve', '—', 'café']);
  });

  it('Digits: runs of any Unicode numeral (char::is_numeric), inside a Sequence too', () => {
    const digits = { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: false }] };
    expect(pieces(digits, 'héllo wörld x²+y³ ж!!')).toEqual(['héllo wörld x', '²', '+y', '³', ' ж!!']);
    expect(pieces(digits, 'a_b-c ١٢ ½ naïve—café')).toEqual(['a_b-c ', '١٢', ' ', '½', ' naïve—café']);
    expect(pieces({ type: 'Digits', individual_digits: true }, 'ab١٢3')).toEqual(['ab', '١', '٢', '3']);
  });

  it('BertPreTokenizer: the crate\'s whitespace (U+0085 too) and its punctuation tables, not JavaScript\'s newer \\p{P} (853 characters between letters, and mixed)', () => {
    const oracle = JSON.parse(readFileSync(resolve(import.meta.dirname, 'fixtures/bert_pre_tokenizer/pieces.json'), 'utf8')) as { cases: { text: string; pieces: string[] }[] };
    const wrong = oracle.cases.filter((c) => JSON.stringify(pieces({ type: 'BertPreTokenizer' }, c.text)) !== JSON.stringify(c.pieces));
    expect(wrong.map((c) => c.text)).toEqual([]);
    expect(pieces({ type: 'Sequence', pretokenizers: [{ type: 'BertPreTokenizer' }] }, 'word\u061dnext, x\u0085y')).toEqual(['word\u061dnext', ',', 'x', 'y']);
  });

  it('leaves other pre-tokenizers and a missing one alone', () => {
    const json = { model: { type: 'BPE' }, pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false } };
    expect(withUnicodePreTokenizers(json)).toEqual(json);
    const none = { model: { type: 'BPE' }, pre_tokenizer: null };
    expect(withUnicodePreTokenizers(none)).toBe(none);
  });
});

/**
 * GGUF `tokenizer.ggml.pre = "qwen35"` (Qwen3.5's byte-level BPE): Qwen2's split with combining marks kept in their
 * letters' words. Expected: Python's `regex` module (2025.x, the Oniguruma-compatible engine transformers depends on)
 * on the pattern llama.cpp's llama-vocab.cpp gives for qwen35, `regex.findall(pattern, s)`, computed once.
 */
describe('the qwen35 pre-tokenizer', () => {
  it.each([
    ["He's cafe\u0301 नमस्ते दुनिया 123 ok!!\n\n  x", ['He', "'s", ' cafe\u0301', ' \u0928\u092e\u0938\u094d\u0924\u0947', ' \u0926\u0941\u0928\u093f\u092f\u093e', ' ', '1', '2', '3', ' ok', '!!\n\n', ' ', ' x']],
    ["ภาษาไทย e\u0300 \u0301start I'LL 42x", ['\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22', ' e\u0300', ' \u0301start', ' I', "'LL", ' ', '4', '2', 'x']],
  ])('%j', (text, want) => {
    expect(splitWords(text, preTokenizerFor('qwen35').regexes)).toEqual(want);
    // Qwen2's own split cuts a word at its combining marks
    expect(splitWords('नमस्ते', preTokenizerFor('qwen2').regexes).length).toBeGreaterThan(1);
  });
});

/**
 * GGUF `tokenizer.ggml.pre` names llama.cpp reads as GPT-2's split (llama-vocab.cpp): jina-embeddings-v2's -de / -es and
 * -code, jina-v1-en, roberta-bpe split as gpt-2 does.
 */
describe('jina\'s and RoBERTa\'s pre-tokenizer names', () => {
  it.each(['jina-v2-de', 'jina-v2-es', 'jina-v2-code', 'jina-v1-en', 'roberta-bpe'])('%s splits as gpt-2', (pre) => {
    const text = "def f(x):\n    return x**2  # it's 42!";
    expect(splitWords(text, preTokenizerFor(pre).regexes)).toEqual(splitWords(text, preTokenizerFor('gpt-2').regexes));
  });
});
