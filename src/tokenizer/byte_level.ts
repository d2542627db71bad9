/**
 * GPT-2's byte-to-unicode table. Byte-level BPE vocabularies store every byte as a printable character:
 * bytes that are printable Latin-1 ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves, and the other 68
 * (controls, space, soft hyphen) are moved to U+0100 onwards in byte order, so ' ' becomes 'Ġ' (U+0120)
 * and '\n' becomes 'Ċ' (U+010A). Every mapped character is a single UTF-16 code unit.
 */
function buildByteToChar(): string[] {
  const table = new Array<string>(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCharCode(printable ? b : next++);
  }
  return table;
}

/** byte -> the character that stands for it. */
export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();

/** char code -> byte, or -1 for characters outside the table. */
export const CHAR_TO_BYTE: Int16Array = (() => {
  const t = new Int16Array(512).fill(-1);
  BYTE_TO_CHAR.forEach((c, b) => { t[c.charCodeAt(0)] = b; });
  return t;
})();

const utf8 = new TextEncoder();

/** Text -> its UTF-8 bytes written as byte-level characters (what the BPE merges operate on). */
export function byteEncode(text: string): string {
  let out = '';
  for (const b of utf8.encode(text)) out += BYTE_TO_CHAR[b];
  return out;
}

/**
 * A vocab string written in byte-level characters -> the bytes it stands for. A character outside the
 * table (it happens in hand-edited vocabularies) is kept as its own UTF-8 rather than dropped.
 */
export function byteDecode(token: string): Uint8Array {
  const out: number[] = [];
  for (const ch of token) {
    const code = ch.codePointAt(0)!;
    const b = code < 512 ? CHAR_TO_BYTE[code]! : -1;
    if (b >= 0) out.push(b);
    else out.push(...utf8.encode(ch));
  }
  return Uint8Array.from(out);
}
