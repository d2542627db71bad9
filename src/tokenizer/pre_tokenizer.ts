import { EmberError } from '../errors.ts';

/**
 * How a byte-level BPE model splits text into words before merging, chosen by `tokenizer.ggml.pre`.
 * The patterns are those of the models' tokenizer.json (as llama.cpp's llama-vocab.cpp transcribes
 * them), compiled as JS unicode regexes.
 */
export interface PreTokenizer {
  /** Applied in order: each one splits every word the previous ones produced. */
  readonly regexes: readonly RegExp[];
  /** Llama 3 style: a word that is itself a vocab entry is taken whole, without running the merges. */
  readonly ignoreMerges: boolean;
  /** The family's default for add_bos_token when the file does not say (llama.cpp's defaults). */
  readonly addBos: boolean;
}

/**
 * Compiles a tokenizer.json (Oniguruma) pattern for JS. Oniguruma's `\s` is the Unicode White_Space
 * property, which differs from JS `\s` (JS adds U+FEFF and lacks U+0085), so it is spelled out.
 */
function onig(pattern: string): RegExp {
  return new RegExp(pattern.replaceAll('\\s', '\\p{White_Space}').replaceAll('\\S', '\\P{White_Space}'), 'gu');
}

// `(?i:'s|'t|...)` written with explicit case classes, since JS has no scoped case-insensitivity in Node 20.
const CONTRACTIONS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const LLAMA3 = `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const QWEN2 = `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
// Qwen3.5: Qwen2's with combining marks (\p{M}) kept in their letters' words (Devanagari's vowel signs, a decomposed é).
const QWEN35 = `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
// GPT-4o / Llama 4 / Tekken split letter runs at lower->upper case changes.
const UPPER = '[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]';
const LOWER = '[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]';
const GPT4O = `[^\\r\\n\\p{L}\\p{N}]?${UPPER}*${LOWER}+${CONTRACTIONS}?|[^\\r\\n\\p{L}\\p{N}]?${UPPER}+${LOWER}*${CONTRACTIONS}?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const TEKKEN = `[^\\r\\n\\p{L}\\p{N}]?${UPPER}*${LOWER}+|[^\\r\\n\\p{L}\\p{N}]?${UPPER}+${LOWER}*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;

type Family = { patterns: string[]; ignoreMerges?: boolean; addBos?: boolean };
const FAMILIES: Record<string, Family> = {
  // llama.cpp's fallback for files without a `pre` key: punctuation runs, then GPT-2 words, then digits.
  default: { patterns: ['[\\p{P}\\$\\+<=>\\^~\\|]+', GPT2, '\\p{N}+', '[0-9][0-9][0-9]'] },
  gpt2: { patterns: [GPT2] },
  llama3: { patterns: [LLAMA3], ignoreMerges: true, addBos: true },
  llama3Like: { patterns: [LLAMA3] },
  qwen2: { patterns: [QWEN2] },
  qwen35: { patterns: [QWEN35] },
  // StarCoder-style: every digit on its own, then GPT-2 words.
  digitsThenGpt2: { patterns: ['\\p{N}', GPT2] },
  deepseekCoder: { patterns: ['[\\r\\n]', '\\s?\\p{L}+', '\\s?\\p{P}+', '[一-龥ࠀ-一가-퟿]+', '\\p{N}'] },
  falcon: { patterns: ['[\\p{P}\\$\\+<=>\\^~\\|`]+', GPT2, '[0-9][0-9][0-9]'] },
  gpt4o: { patterns: [GPT4O] },
  tekken: { patterns: [TEKKEN], ignoreMerges: true, addBos: true },
};

/** `tokenizer.ggml.pre` value -> family, following llama.cpp's table for the values listed. */
const PRE_TYPES: Record<string, keyof typeof FAMILIES> = {
  default: 'default',
  'gpt-2': 'gpt2', 'phi-2': 'gpt2', mpt: 'gpt2', olmo: 'gpt2', 'jina-es': 'gpt2', 'jina-de': 'gpt2', 'jina-v2-es': 'gpt2', 'jina-v2-de': 'gpt2', 'jina-v1-en': 'gpt2', 'jina-v2-code': 'gpt2', 'roberta-bpe': 'gpt2', exaone4: 'gpt2',
  'llama-bpe': 'llama3', llama3: 'llama3', 'llama-v3': 'llama3', falcon3: 'llama3', 'falcon-h1': 'llama3', pixtral: 'llama3', lfm2: 'llama3',
  dbrx: 'llama3Like', 'smaug-bpe': 'llama3Like', 'chatglm-bpe': 'llama3Like', glm4: 'llama3Like',
  qwen2: 'qwen2', 'deepseek-r1-qwen': 'qwen2', stablelm2: 'qwen2', megrez: 'qwen2', qwen35: 'qwen35',
  smollm: 'digitsThenGpt2', starcoder: 'digitsThenGpt2', refact: 'digitsThenGpt2', 'command-r': 'digitsThenGpt2',
  codeshell: 'digitsThenGpt2', exaone: 'digitsThenGpt2', 'minerva-7b': 'digitsThenGpt2',
  'deepseek-coder': 'deepseekCoder',
  falcon: 'falcon',
  'gpt-4o': 'gpt4o', llama4: 'gpt4o',
  tekken: 'tekken',
};

const cache = new Map<string, PreTokenizer>();

/** The pre-tokenizer for a `tokenizer.ggml.pre` value (null: the file has none, which llama.cpp treats as 'default'). */
export function preTokenizerFor(pre: string | null): PreTokenizer {
  const key = pre ?? 'default';
  const family = PRE_TYPES[key];
  if (family === undefined) {
    throw new EmberError('UNSUPPORTED', `pre-tokenizer type tokenizer.ggml.pre = ${JSON.stringify(key)} is not supported (supported: ${Object.keys(PRE_TYPES).join(', ')})`, { pre: key });
  }
  let p = cache.get(family);
  if (!p) {
    const f = FAMILIES[family]!;
    p = { regexes: f.patterns.map(onig), ignoreMerges: f.ignoreMerges ?? false, addBos: f.addBos ?? false };
    cache.set(family, p);
  }
  return p;
}

/**
 * Splits `text` into words the way llama.cpp's `unicode_regex_split` does: each regex in turn cuts every
 * current word into its matches and the stretches between them, so no character is ever dropped.
 */
export function splitWords(text: string, regexes: readonly RegExp[]): string[] {
  let words = [text];
  for (const re of regexes) {
    const next: string[] = [];
    for (const w of words) {
      let from = 0;
      re.lastIndex = 0;
      for (let m = re.exec(w); m !== null; m = re.exec(w)) {
        if (m[0].length === 0) { re.lastIndex++; continue; }
        if (m.index > from) next.push(w.slice(from, m.index));
        next.push(m[0]);
        from = m.index + m[0].length;
      }
      if (from < w.length) next.push(w.slice(from));
    }
    words = next;
  }
  return words;
}
