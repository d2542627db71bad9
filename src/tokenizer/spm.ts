import { EmberError } from '../errors.ts';
import { mergeSymbols } from './merge.ts';
import type { GGUFVocab } from './vocab.ts';
import { VocabTokenizer } from './vocab_tokenizer.ts';

const SPACE = '▁'; // U+2581, SentencePiece's visible space
const utf8 = new TextEncoder();

/**
 * SentencePiece BPE as llama.cpp runs it for `tokenizer.ggml.model == 'llama'`: spaces become '▁', a
 * '▁' is put in front of the text (and after each special token), then adjacent symbols are merged
 * greedily, best-scored vocab entry first. Characters that end up in no vocab entry are written as
 * `<0xXX>` byte tokens.
 */
export class SpmTokenizer extends VocabTokenizer {
  readonly addSpacePrefix: boolean;
  private readonly scores: Float32Array;
  /** byte -> id of its `<0xXX>` token (or of the one-character token for ASCII), -1 if none. */
  private readonly byteIds = new Int32Array(256).fill(-1);

  constructor(vocab: GGUFVocab) {
    super(vocab, true);
    this.addSpacePrefix = vocab.addSpacePrefixKey ?? true;
    this.scores = vocab.scores ?? new Float32Array(vocab.tokens.length);
    for (let b = 0; b < 256; b++) {
      const hex = b.toString(16).toUpperCase().padStart(2, '0');
      this.byteIds[b] = vocab.ids.get(`<0x${hex}>`) ?? (b < 0x80 ? vocab.ids.get(String.fromCharCode(b)) : undefined) ?? -1;
    }
  }

  protected encodeText(raw: string, afterSpecial: boolean, out: number[]): void {
    const text = ((this.addSpacePrefix && afterSpecial ? ' ' : '') + raw).replaceAll(' ', SPACE);
    const ids = this.vocab.ids;

    // One symbol per code point, as a doubly linked list over [start, start + len) of `text`.
    const start: number[] = [];
    const len: number[] = [];
    for (let i = 0; i < text.length; ) {
      const n = text.codePointAt(i)! > 0xffff ? 2 : 1;
      start.push(i);
      len.push(n);
      i += n;
    }
    // Highest score first, as llama.cpp's `llm_bigram_spm::comparator`: a merge makes a vocab entry.
    const pieces = mergeSymbols(text, start, len, (l, r) => {
      const id = ids.get(l + r);
      return id === undefined ? undefined : -this.scores[id];
    });

    // Every merged symbol is a vocab entry by construction; only unmerged characters can be unknown.
    // (llama.cpp's `resegment` also consults its reverse-merge map, which never holds such a character.)
    for (const piece of pieces) {
      const id = ids.get(piece);
      if (id !== undefined) out.push(id);
      else for (const b of utf8.encode(piece)) out.push(this.byteToken(b));
    }
  }

  private byteToken(b: number): number {
    const id = this.byteIds[b];
    if (id >= 0) return id;
    if (this.vocab.unkId !== null) return this.vocab.unkId;
    throw new EmberError('BAD_MODEL', `the vocabulary has no byte token <0x${b.toString(16).toUpperCase().padStart(2, '0')}> and no unknown token, so this text cannot be encoded`);
  }

  protected normalTokenBytes(id: number): Uint8Array {
    return utf8.encode(this.vocab.tokens[id]!.replaceAll(SPACE, ' '));
  }
}
