import type { Tokenizer } from './types.ts';

export interface TextStreamerOptions {
  /**
   * Drop one leading space from the first token that has any text. Default: `tokenizer.addSpacePrefix`.
   *
   * SentencePiece models put a '▁' in front of the text, so the first word piece after BOS reads
   * "▁Once". llama.cpp's detokenizer drops that space: streaming `[BOS, ...prompt, ...generated]` with
   * this on reproduces its `full_text` (and `Tokenizer.decode` of the same ids) exactly. Turn it off
   * when streaming only the continuation of a prompt you already showed, so that " and" after
   * "The cat" keeps its space.
   */
  readonly stripLeadingSpace?: boolean;
}

/**
 * Turns token ids into text as they are generated. Tokens map to bytes (`Tokenizer.tokenBytes`) and a
 * streaming UTF-8 decoder joins them, so a character split over several tokens (an emoji spelled as
 * `<0xF0><0x9F><0xA6><0x99>` byte tokens, or a BPE token ending mid-character) is emitted once it is
 * complete and never as U+FFFD halves. Special tokens contribute nothing.
 */
export class TextStreamer {
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });
  private stripPending: boolean;

  constructor(private readonly tokenizer: Tokenizer, opts: TextStreamerOptions = {}) {
    this.stripPending = opts.stripLeadingSpace ?? tokenizer.addSpacePrefix;
  }

  /** The text that token `id` completes; '' while a character is still incomplete. */
  push(id: number): string {
    let bytes = this.tokenizer.tokenBytes(id);
    if (this.stripPending && bytes.length > 0) {
      if (bytes[0] === 0x20) bytes = bytes.subarray(1);
      this.stripPending = false;
    }
    return this.decoder.decode(bytes, { stream: true });
  }

  /** Ends the stream: returns what is left, with U+FFFD for a character cut off at the end. */
  flush(): string {
    return this.decoder.decode();
  }
}
