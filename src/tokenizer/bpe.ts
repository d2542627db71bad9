import { byteDecode, byteEncode } from './byte_level.ts';
import { mergeSymbols } from './merge.ts';
import { preTokenizerFor, splitWords, type PreTokenizer } from './pre_tokenizer.ts';
import type { GGUFVocab } from './vocab.ts';
import { VocabTokenizer } from './vocab_tokenizer.ts';

/** Words repeat a lot in real text; remember this many word -> ids results. */
const WORD_CACHE_LIMIT = 50_000;

/**
 * Byte-level BPE for `tokenizer.ggml.model == 'gpt2'` (GPT-2, Llama 3, Qwen2, ...): the text is split
 * into words by the model's pre-tokenizer regexes, each word's UTF-8 bytes are written as GPT-2 byte
 * characters, and adjacent symbols are merged in the order of `tokenizer.ggml.merges`.
 */
export class BpeTokenizer extends VocabTokenizer {
  readonly addSpacePrefix = false;
  /** "left right" (the merges' own spelling) -> rank. */
  private readonly ranks = new Map<string, number>();
  private readonly pre: PreTokenizer;
  private readonly wordCache = new Map<string, readonly number[]>();

  /** `merges`: tokenizer.ggml.merges, "left right" strings, best (rank 0) first. */
  constructor(vocab: GGUFVocab, merges: readonly string[]) {
    const pre = preTokenizerFor(vocab.pre);
    super(vocab, pre.addBos);
    this.pre = pre;
    for (let i = 0; i < merges.length; i++) {
      // On a duplicate merge the first (best) rank stands, as in llama.cpp.
      if (!this.ranks.has(merges[i]!)) this.ranks.set(merges[i]!, i);
    }
  }

  protected encodeText(text: string, _afterSpecial: boolean, out: number[]): void {
    for (const word of splitWords(text, this.pre.regexes)) {
      const encoded = byteEncode(word);
      let ids = this.wordCache.get(encoded);
      if (ids === undefined) {
        ids = this.encodeWord(encoded);
        if (this.wordCache.size >= WORD_CACHE_LIMIT) this.wordCache.clear();
        this.wordCache.set(encoded, ids);
      }
      for (const id of ids) out.push(id);
    }
  }

  /** BPE over one byte-encoded word: every byte character is a symbol (a single UTF-16 unit) to start with. */
  private encodeWord(word: string): number[] {
    const vocabIds = this.vocab.ids;
    if (this.pre.ignoreMerges) {
      const whole = vocabIds.get(word);
      if (whole !== undefined) return [whole];
    }
    // Lowest merge rank first, as llama.cpp's `llm_bigram_bpe::comparator`.
    const pieces = mergeSymbols(word, Array.from(word, (_, i) => i), new Array<number>(word.length).fill(1), (l, r) => this.ranks.get(`${l} ${r}`));
    const ids: number[] = [];
    for (const piece of pieces) {
      const id = vocabIds.get(piece);
      if (id !== undefined) {
        ids.push(id);
        continue;
      }
      // A merge result missing from the vocab: fall back to its single byte characters (llama.cpp
      // drops any byte that has no token either; a well-formed byte-level vocab has all 256).
      for (const ch of piece) {
        const b = vocabIds.get(ch);
        if (b !== undefined) ids.push(b);
      }
    }
    return ids;
  }

  protected normalTokenBytes(id: number): Uint8Array {
    return byteDecode(this.vocab.tokens[id]!);
  }
}
