/**
 * Finds stop strings in streamed text. Text that might be the start of a stop string is held back
 * until the next piece decides it, so nothing of a stop string is ever emitted.
 */
export class StopMatcher {
  private held = '';
  private readonly longest: number;

  constructor(private readonly stops: readonly string[]) {
    this.longest = Math.max(0, ...stops.map((s) => s.length));
  }

  /** Text now safe to emit, and whether a stop string ended the text. */
  push(piece: string): { text: string; stopped: boolean } {
    const buf = this.held + piece;
    let at = -1;
    for (const s of this.stops) {
      const i = buf.indexOf(s);
      if (i >= 0 && (at < 0 || i < at)) at = i;
    }
    if (at >= 0) {
      this.held = '';
      return { text: buf.slice(0, at), stopped: true };
    }
    const keep = partialTail(buf, this.stops, this.longest);
    this.held = buf.slice(buf.length - keep);
    return { text: buf.slice(0, buf.length - keep), stopped: false };
  }

  /** What was held back, once the text has ended without a stop. */
  flush(): string {
    const t = this.held;
    this.held = '';
    return t;
  }

}

/** Length of the longest suffix of `text` that is a proper prefix of one of `words` (text to hold back). */
export function partialTail(text: string, words: readonly string[], longest = Math.max(0, ...words.map((w) => w.length))): number {
  for (let n = Math.min(longest - 1, text.length); n > 0; n--) {
    const tail = text.slice(text.length - n);
    if (words.some((w) => w.startsWith(tail))) return n;
  }
  return 0;
}

/**
 * Streamed text with the whitespace at its edges dropped, the same however it was cut into pieces: leading whitespace
 * while `trimStart` is on (until text comes), trailing whitespace held back until text after it shows it was inside.
 */
export class EdgeTrimmer {
  /** Whitespace held back at the end of the text so far. */
  private space = '';

  constructor(private trimStart = true) {}

  /** The piece's text now safe to emit. */
  push(piece: string): string {
    let body = this.space + piece;
    if (this.trimStart) body = body.trimStart();
    const trimmed = body.trimEnd();
    this.space = body.slice(trimmed.length);
    if (trimmed !== '') this.trimStart = false;
    return trimmed;
  }

  /** The whitespace held back (and no longer held). */
  takeSpace(): string {
    const s = this.space;
    this.space = '';
    return s;
  }

  /** From here on, as at a start: what is held is dropped, and leading whitespace too. */
  restart(): void {
    this.space = '';
    this.trimStart = true;
  }
}
