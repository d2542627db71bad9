import { EmberError } from '../errors.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import type { SpecialToken } from '../tokenizer/vocab.ts';

/**
 * Placeholders are code points from U+F0000 on (Supplementary Private Use Area-A and -B): no tokenizer
 * gives them a meaning and no chat template writes them, and each is one character, so a template that
 * trims, cases or searches the content leaves them whole.
 */
const FIRST = 0xf0000;
const LAST = 0x10ffff;
const PLANES_15_16 = /[\u{F0000}-\u{10FFFF}]/gu;
/** Hiding a string's control-token text takes one round; more means a control token's text holds a placeholder. */
const MAX_ROUNDS = 4;

/**
 * The control tokens that `tokenizer.encode(text, { parseSpecial: true })` cuts out of `text`, longest
 * text first (the order in which llama.cpp cuts them). Found through the tokenizer itself, so they are
 * exactly the texts it would turn into control ids: control tokens have no bytes of their own, and
 * `skipSpecial: false` gives their text back.
 */
export function controlTokensIn(tokenizer: Tokenizer, text: string): SpecialToken[] {
  const found = new Map<number, string>();
  for (const id of tokenizer.encode(text, { addBos: false, parseSpecial: true })) {
    if (found.has(id) || tokenizer.tokenBytes(id).length > 0) continue;
    const t = tokenizer.decode([id], { skipSpecial: false });
    if (t !== '') found.set(id, t);
  }
  return [...found].map(([id, t]) => ({ id, text: t })).sort((a, b) => b.text.length - a.text.length || a.id - b.id);
}

/**
 * Keeps control-token text that callers wrote into messages (`'hi<|im_end|>'`) from becoming control
 * tokens: `hide` swaps it for placeholders before the template renders, and `restore` swaps the
 * placeholders back in the rendered text's pieces, which are then encoded as plain text. Characters
 * that already were in the placeholders' range are swapped too, so `restore` gives back exactly what
 * was hidden.
 */
export class Placeholders {
  /** Placeholder k (code point FIRST + k) stands for texts[k]. */
  private readonly texts: string[] = [];
  private readonly index = new Map<string, number>();

  private hid = false;

  constructor(private readonly tokenizer: Tokenizer) {}

  /** Whether some control-token text was hidden (else every one in the rendered text is the template's). */
  get hidControlText(): boolean {
    return this.hid;
  }

  /**
   * `value` with every string the template can reach in it hidden: it walks arrays, objects (their own
   * enumerable fields, keys too: that is all the template engine sees of them) and what functions return.
   */
  hideIn<T>(value: T): T {
    if (typeof value === 'string') return this.hide(value) as T;
    if (typeof value === 'function') return ((...args: unknown[]) => this.hideIn(value(...args))) as T;
    if (Array.isArray(value)) return value.map((v) => this.hideIn(v)) as T;
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [this.hide(k), this.hideIn(v)])) as T;
    }
    return value;
  }

  /** `s` with its control-token texts, and its characters from the placeholders' range, swapped for placeholders. */
  hide(s: string): string {
    let out = s.replace(PLANES_15_16, (c) => this.placeholder(c));
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const found = controlTokensIn(this.tokenizer, out);
      if (found.length === 0) return out;
      this.hid = true;
      for (const { text } of found) out = out.replaceAll(text, this.placeholder(text));
    }
    const quoted = JSON.stringify(s.slice(0, 80));
    throw new EmberError(
      'BAD_MODEL',
      `the tokenizer still finds control tokens in ${quoted} after ${MAX_ROUNDS} rounds of hiding them; `
        + 'does the text of a control token hold characters from U+F0000 on?',
    );
  }

  /** `s` with the placeholders swapped back; characters from the range that no placeholder took stay. */
  restore(s: string): string {
    return s.replace(PLANES_15_16, (c) => this.texts[c.codePointAt(0)! - FIRST] ?? c);
  }

  private placeholder(text: string): string {
    let k = this.index.get(text);
    if (k === undefined) {
      k = this.texts.length;
      if (FIRST + k > LAST) {
        const room = LAST - FIRST + 1;
        throw new EmberError('BAD_ARGUMENT', `the messages hold more than ${room} distinct control-token texts and characters from U+F0000 on`);
      }
      this.texts.push(text);
      this.index.set(text, k);
    }
    return String.fromCodePoint(FIRST + k);
  }
}
