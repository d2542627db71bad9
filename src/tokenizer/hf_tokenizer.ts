import { Tokenizer as HFTokenizer } from '@huggingface/tokenizers';
import { EmberError } from '../errors.ts';
import { byteDecode } from './byte_level.ts';
import { readingCharsmaps } from './charsmap.ts';
import { joinTokenBytes } from './join_bytes.ts';
import type { PairWrap, Tokenizer } from './types.ts';
import { END_OF_GENERATION_TEXTS } from './vocab.ts';
import { withUnicodePreTokenizers } from './unicode_pre_tokenizers.ts';

/** The parts of tokenizer.json this wrapper reads itself; the library reads the rest. */
interface TokenizerJson {
  model?: { type?: string };
  pre_tokenizer?: unknown;
  added_tokens?: { id: number; content: string; special?: boolean }[];
  decoder?: DecoderJson | null;
  post_processor?: { type?: string; single?: unknown[] } | null;
}
interface DecoderJson {
  type?: string;
  decoders?: DecoderJson[];
  pattern?: { String?: string };
  content?: string;
  start?: number;
  replacement?: string;
  prepend_scheme?: string;
  add_prefix_space?: boolean;
  prefix?: string; // WordPiece
}
type TokenizerConfigJson = Record<string, unknown>;

const utf8 = new TextEncoder();
const EMPTY = new Uint8Array(0);

/** How the model's decoder turns a vocab entry into text, read off the tokenizer.json decoder chain. */
interface DecodingStyle {
  byteLevel: boolean;
  /** The character that stands for a space ('▁' for SentencePiece-style models), or null. */
  spaceChar: string | null;
  byteFallback: boolean;
  /** The decoder strips the space that encoding put in front (Strip(' ', 1, 0) or Metaspace 'first'/'always'). */
  stripsLeadingSpace: boolean;
  /** WordPiece (BERT): a word's continuation pieces start with this ('##'); every other piece is a word after a space. */
  continuation: string | null;
}

function decodingStyle(decoder: DecoderJson | null | undefined): DecodingStyle {
  const style: DecodingStyle = { byteLevel: false, spaceChar: null, byteFallback: false, stripsLeadingSpace: false, continuation: null };
  const visit = (d: DecoderJson | null | undefined) => {
    if (!d) return;
    switch (d.type) {
      case 'Sequence': d.decoders?.forEach(visit); break;
      case 'ByteLevel': style.byteLevel = true; break;
      case 'ByteFallback': style.byteFallback = true; break;
      case 'Replace':
        if (d.content === ' ' && d.pattern?.String) style.spaceChar = d.pattern.String;
        break;
      case 'Strip':
        if (d.content === ' ' && (d.start ?? 0) >= 1) style.stripsLeadingSpace = true;
        break;
      case 'WordPiece':
        style.continuation = d.prefix ?? '##';
        style.stripsLeadingSpace = true;
        break;
      case 'Metaspace':
        style.spaceChar = d.replacement ?? '▁';
        style.stripsLeadingSpace = d.prepend_scheme !== undefined ? d.prepend_scheme !== 'never' : (d.add_prefix_space ?? true);
        break;
    }
  };
  visit(decoder);
  return style;
}

/** A `bos_token` / `eos_token` entry of tokenizer_config.json: a string or an AddedToken-like object. */
function configTokenText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return null;
}

/**
 * A tokenizer from a Hugging Face tokenizer.json (+ tokenizer_config.json), encoding through the
 * `@huggingface/tokenizers` library. Decoding goes through `tokenBytes` like the GGUF tokenizers, so
 * `decode` and `TextStreamer` agree; it skips the library's `clean_up_tokenization_spaces`, which
 * rewrites " ," to "," and would make decode lossy.
 */
class HFWrappedTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly addBos: boolean;
  readonly endIds: readonly number[];
  readonly pairWrap?: PairWrap;
  readonly addSpacePrefix: boolean;
  private readonly full: HFTokenizer;
  /** Same tokenizer without the special added tokens, for `parseSpecial: false`; built on first use. */
  private plain: HFTokenizer | null = null;
  private readonly style: DecodingStyle;
  private readonly specialIds = new Set<number>();
  private readonly specialTexts: string[] = [];
  private readonly addedText = new Map<number, string>();
  private readonly eogIds = new Set<number>();
  private readonly bytesCache: (Uint8Array | undefined)[];

  constructor(private readonly json: TokenizerJson, private readonly config: TokenizerConfigJson) {
    this.full = readingCharsmaps(new HFTokenizer(json, config));
    for (const t of json.added_tokens ?? []) {
      this.addedText.set(t.id, t.content);
      if (t.special) {
        this.specialIds.add(t.id);
        this.specialTexts.push(t.content);
      }
      if (END_OF_GENERATION_TEXTS.has(t.content)) this.eogIds.add(t.id);
    }
    this.vocabSize = this.full.model?.vocab.length ?? 0;
    this.bytesCache = new Array(this.vocabSize);
    this.style = decodingStyle(json.decoder);
    this.addSpacePrefix = this.style.stripsLeadingSpace;

    const idOf = (key: string) => {
      const text = configTokenText(config[key]);
      return text === null ? null : (this.full.token_to_id(text) ?? null);
    };
    // The library builds some parts (the post-processor) only when it first encodes: a malformed one
    // must fail here, at load, not in the middle of a generation.
    const wrap = this.postProcessorWrap();
    // (BERT's [CLS], from its BertProcessing: its config names no bos_token, its template no `single`)
    this.bosId = idOf('bos_token') ?? this.templateBos() ?? (wrap.before.length === 1 ? wrap.before[0] : null);
    this.eosId = idOf('eos_token');
    if (this.eosId !== null) this.eogIds.add(this.eosId);
    const addBos = config['add_bos_token'];
    this.addBos = this.bosId !== null && (typeof addBos === 'boolean' ? addBos : wrap.before[0] === this.bosId);
    this.endIds = wrap.after;
    this.pairWrap = this.pairTemplate();
    const probe = this.full.encode('Once upon a time, 1 2', { add_special_tokens: false }).ids;
    const outside = probe.find((id) => !(id >= 0 && id < this.vocabSize));
    if (probe.length === 0 || outside !== undefined) {
      const found = probe.length === 0 ? 'no tokens' : `token id ${outside}, outside its vocabulary of ${this.vocabSize}`;
      throw new EmberError('BAD_MODEL', `the tokenizer encodes "Once upon a time, 1 2" to ${found}; expected ids of its vocabulary`);
    }
  }

  /** BOS from the post-processor's template when the config names none (Llama 3 configs sometimes do this). */
  private templateBos(): number | null {
    const first = this.json.post_processor?.single?.[0] as { SpecialToken?: { id?: string } } | undefined;
    const text = first?.SpecialToken?.id;
    return text === undefined ? null : (this.full.token_to_id(text) ?? null);
  }

  /**
   * What the model's own post-processor puts around a text, found by encoding one: in front (BOS, the HF default when
   * add_bos_token is not set) and after it, its special tokens (Qwen3-Embedding's end token).
   */
  private postProcessorWrap(): { before: number[]; after: number[] } {
    const plain = this.full.encode('a', { add_special_tokens: false }).ids;
    const whole = this.full.encode('a', { add_special_tokens: true }).ids;
    const at = whole.findIndex((_, i) => plain.every((id, j) => whole[i + j] === id));
    if (at < 0) return { before: whole, after: [] };
    return { before: whole.slice(0, at), after: whole.slice(at + plain.length).filter((id) => this.specialIds.has(id)) };
  }

  /** The pair template's special tokens, found by encoding a pair of one-token texts; undefined where it has none. */
  private pairTemplate(): PairWrap | undefined {
    if (!this.json.post_processor) return undefined;
    const [a] = this.full.encode('a', { add_special_tokens: false }).ids;
    const [b] = this.full.encode('b', { add_special_tokens: false }).ids;
    const ids = this.full.encode('a', { text_pair: 'b', add_special_tokens: true }).ids;
    const [i, j] = [ids.indexOf(a), ids.lastIndexOf(b)];
    if (a === undefined || b === undefined || i < 0 || j <= i) return undefined;
    return { before: ids.slice(0, i), between: ids.slice(i + 1, j), after: ids.slice(j + 1) };
  }

  encode(text: string, opts: { addBos?: boolean; parseSpecial?: boolean } = {}): number[] {
    const out: number[] = [];
    if (opts.addBos ?? this.addBos) {
      if (this.bosId === null) throw new EmberError('BAD_ARGUMENT', 'addBos was requested but this tokenizer has no BOS token');
      out.push(this.bosId);
    }
    if (text.length === 0) return out;
    // The library always matches added tokens; only text that really contains a special one needs
    // the second instance that lacks them (so a large vocab is not held twice for nothing).
    const needsPlain = !opts.parseSpecial && this.specialTexts.some((s) => text.includes(s));
    const lib = needsPlain ? this.plainTokenizer() : this.full;
    let ids: number[];
    try {
      ids = lib.encode(text, { add_special_tokens: false }).ids;
    } catch (e) {
      throw new EmberError('BAD_MODEL', `tokenizer.json: the tokenizer library failed to encode the text (${(e as Error).message})`);
    }
    for (const id of ids) out.push(id);
    return out;
  }

  private plainTokenizer(): HFTokenizer {
    this.plain ??= readingCharsmaps(new HFTokenizer({ ...this.json, added_tokens: (this.json.added_tokens ?? []).filter((t) => !t.special) }, this.config));
    return this.plain;
  }

  tokenBytes(id: number): Uint8Array {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new EmberError('BAD_ARGUMENT', `token id ${id} is outside the vocabulary (0..${this.vocabSize - 1})`);
    }
    let b = this.bytesCache[id];
    if (b === undefined) {
      b = this.computeBytes(id);
      this.bytesCache[id] = b;
    }
    return b;
  }

  private computeBytes(id: number): Uint8Array {
    if (this.specialIds.has(id)) return EMPTY;
    const added = this.addedText.get(id);
    if (added !== undefined) return utf8.encode(added);
    const token = this.full.id_to_token(id);
    if (token === undefined) return EMPTY;
    const { byteLevel, spaceChar, byteFallback, continuation } = this.style;
    if (byteLevel) return byteDecode(token);
    // (BERT's pieces: "##ing" goes on the word before it; the spaces its pre-tokenizer split on come back, around
    // punctuation too, as the library's decode without clean_up_tokenization_spaces gives them)
    if (continuation !== null) return utf8.encode(token.startsWith(continuation) ? token.slice(continuation.length) : ` ${token}`);
    if (byteFallback) {
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(token);
      if (m) return Uint8Array.of(parseInt(m[1]!, 16));
    }
    return utf8.encode(spaceChar ? token.replaceAll(spaceChar, ' ') : token);
  }

  decode(ids: readonly number[], opts: { skipSpecial?: boolean } = {}): string {
    const skipSpecial = opts.skipSpecial ?? true;
    const pieces = ids.map((id) => {
      const b = this.tokenBytes(id);
      return !skipSpecial && this.specialIds.has(id) ? utf8.encode(this.addedText.get(id)!) : b;
    });
    return joinTokenBytes(pieces, this.addSpacePrefix);
  }

  isEndOfGeneration(id: number): boolean {
    return this.eogIds.has(id);
  }
}

/**
 * A tokenizer from the JSON objects of a Hugging Face model's tokenizer.json and (optionally)
 * tokenizer_config.json. The config gives bos/eos and add_bos_token; without it, BOS comes from the
 * post-processor template.
 */
export function tokenizerFromHF(tokenizerJson: object, tokenizerConfig: object = {}): Tokenizer {
  const json = tokenizerJson as TokenizerJson;
  if (typeof json.model?.type !== 'string') {
    throw new EmberError('BAD_MODEL', 'tokenizer.json has no model.type; is this a Hugging Face tokenizer.json?');
  }
  if (!['BPE', 'Unigram', 'WordPiece'].includes(json.model.type)) {
    throw new EmberError('UNSUPPORTED', `tokenizer.json model type ${JSON.stringify(json.model.type)} is not supported (supported: BPE, Unigram, WordPiece)`);
  }
  const unicodeJson = withUnicodePreTokenizers({ ...json, added_tokens: json.added_tokens ?? [] });
  return new HFWrappedTokenizer(unicodeJson, tokenizerConfig as TokenizerConfigJson);
}
