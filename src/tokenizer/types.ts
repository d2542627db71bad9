/** Text <-> token ids for one model. Built once at load; every method is synchronous and pure. */
/** The special tokens of a pair template: before the first text, between the two, after the second. */
export interface PairWrap {
  readonly before: readonly number[];
  readonly between: readonly number[];
  readonly after: readonly number[];
}

export interface Tokenizer {
  readonly vocabSize: number;
  /** null when the model has none. */
  readonly bosId: number | null;
  readonly eosId: number | null;
  /** Whether `encode` prepends BOS unless told otherwise (tokenizer.ggml.add_bos_token, or the model family's default). */
  readonly addBos: boolean;
  /**
   * The special tokens the model's tokenizer puts after a whole text (a Hugging Face post-processor's template, GGUF
   * `tokenizer.ggml.add_eos_token`'s EOS): an embedding's input ends with them (Qwen3-Embedding's end token). Chat and
   * generation never append them.
   */
  readonly endIds: readonly number[];
  /**
   * The special tokens a Hugging Face post-processor's pair template puts around and between two texts (a
   * cross-encoder's query and document: BERT's [CLS] a [SEP] b [SEP], RoBERTa's <s> a </s></s> b </s>); absent where
   * the tokenizer has no pair template (GGUF's SentencePiece and BPE ones).
   */
  readonly pairWrap?: PairWrap;
  /**
   * Whether encoding puts a space ('▁') in front of the text (SentencePiece style). Such tokenizers drop
   * that one leading space again when decoding; `TextStreamer` uses this as its default for `stripLeadingSpace`.
   */
  readonly addSpacePrefix: boolean;
  /**
   * `parseSpecial` (default false): match control tokens such as `<|eot_id|>` written in the text. Off by
   * default so user text cannot inject control tokens; turn it on for rendered chat templates.
   */
  encode(text: string, opts?: { addBos?: boolean; parseSpecial?: boolean }): number[];
  /**
   * The raw bytes a token stands for when detokenizing (SPM: '▁' -> ' ', <0xAB> byte tokens -> that byte;
   * BPE: byte-level unicode mapped back to bytes; special/control tokens -> empty). A token may be part of
   * a multi-byte character, so decode streams with `TextStreamer`, never token by token with a TextDecoder.
   */
  tokenBytes(id: number): Uint8Array;
  /** `skipSpecial` (default true): control tokens decode to nothing; false renders their text (`<s>`). */
  decode(ids: readonly number[], opts?: { skipSpecial?: boolean }): string;
  /** eos, eot (tokenizer.ggml.eot_token_id), eom, and the end-of-turn tokens found by name. */
  isEndOfGeneration(id: number): boolean;
}

/** Values of `tokenizer.ggml.token_type`, as llama.cpp defines them. */
export const TokenType = {
  UNDEFINED: 0,
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;
