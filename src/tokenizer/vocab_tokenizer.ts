import { EmberError } from '../errors.ts';
import { joinTokenBytes } from './join_bytes.ts';
import { splitOnSpecialTokens } from './special_split.ts';
import { TokenType, type Tokenizer } from './types.ts';
import type { GGUFVocab } from './vocab.ts';

const utf8 = new TextEncoder();
const EMPTY = new Uint8Array(0);

/**
 * What the GGUF tokenizers (SPM and BPE) share: BOS handling, cutting special tokens out of the text,
 * and detokenizing through per-token byte strings. Subclasses supply the model itself
 * (`encodeText`) and how a normal vocab entry maps to bytes (`normalTokenBytes`).
 */
export abstract class VocabTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly addBos: boolean;
  readonly endIds: readonly number[];
  abstract readonly addSpacePrefix: boolean;
  /** id -> bytes, filled on first use: decoding a stream touches few distinct tokens. */
  private readonly bytesCache: (Uint8Array | undefined)[];

  constructor(protected readonly vocab: GGUFVocab, addBosDefault: boolean) {
    this.vocabSize = vocab.tokens.length;
    this.bosId = vocab.bosId;
    this.eosId = vocab.eosId;
    this.addBos = (vocab.addBosKey ?? addBosDefault) && vocab.bosId !== null;
    this.endIds = vocab.addEosKey && vocab.eosId !== null ? [vocab.eosId] : [];
    this.bytesCache = new Array(this.vocabSize);
  }

  /** Tokenizes raw text (no special tokens in it). `afterSpecial`: it starts the input or follows a special token. */
  protected abstract encodeText(text: string, afterSpecial: boolean, out: number[]): void;
  /** The bytes of a token of type NORMAL (or any type the model does not treat specially). */
  protected abstract normalTokenBytes(id: number): Uint8Array;

  encode(text: string, opts: { addBos?: boolean; parseSpecial?: boolean } = {}): number[] {
    const out: number[] = [];
    if (opts.addBos ?? this.addBos) {
      if (this.bosId === null) throw new EmberError('BAD_ARGUMENT', 'addBos was requested but this model has no BOS token');
      out.push(this.bosId);
    }
    // User-defined tokens are always matched whole (llama.cpp and HF do the same for non-special
    // added tokens); control tokens only when the caller asks for it.
    const specials = opts.parseSpecial ? this.vocab.specialTokens : this.vocab.userDefinedTokens;
    let afterSpecial = true;
    for (const frag of splitOnSpecialTokens(text, specials)) {
      if (typeof frag === 'number') {
        out.push(frag);
        afterSpecial = true;
      } else {
        this.encodeText(frag, afterSpecial, out);
        afterSpecial = false;
      }
    }
    return out;
  }

  tokenBytes(id: number): Uint8Array {
    this.checkId(id);
    let b = this.bytesCache[id];
    if (b === undefined) {
      b = this.computeBytes(id);
      this.bytesCache[id] = b;
    }
    return b;
  }

  private computeBytes(id: number): Uint8Array {
    switch (this.vocab.types[id]) {
      case TokenType.CONTROL:
      case TokenType.UNKNOWN:
      case TokenType.UNUSED:
      case TokenType.UNDEFINED:
        return EMPTY;
      case TokenType.USER_DEFINED:
        return utf8.encode(this.vocab.tokens[id]);
      case TokenType.BYTE: {
        const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(this.vocab.tokens[id]!);
        if (!m) throw new EmberError('BAD_MODEL', `token ${id} is typed BYTE but its text ${JSON.stringify(this.vocab.tokens[id])} is not <0xXX>`);
        return Uint8Array.of(parseInt(m[1]!, 16));
      }
      default:
        return this.normalTokenBytes(id);
    }
  }

  decode(ids: readonly number[], opts: { skipSpecial?: boolean } = {}): string {
    const skipSpecial = opts.skipSpecial ?? true;
    const pieces = ids.map((id) => {
      const b = this.tokenBytes(id);
      return !skipSpecial && b.length === 0 && this.isSpecial(id) ? utf8.encode(this.vocab.tokens[id]) : b;
    });
    return joinTokenBytes(pieces, this.addSpacePrefix);
  }

  isEndOfGeneration(id: number): boolean {
    return this.vocab.eogIds.has(id);
  }

  private isSpecial(id: number): boolean {
    const t = this.vocab.types[id];
    return t === TokenType.CONTROL || t === TokenType.UNKNOWN;
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new EmberError('BAD_ARGUMENT', `token id ${id} is outside the vocabulary (0..${this.vocabSize - 1})`);
    }
  }
}
