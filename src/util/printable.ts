/**
 * Text as it may appear in an error message: control bytes and other invisible characters escaped
 * (`\x00`, `\u200b`), and at most `max` characters of the result, so that a corrupted length field
 * cannot make a message quote megabytes of binary.
 */
function escaped(str: string, max: number, quotes: boolean): string {
  let out = '';
  for (const ch of str) {
    const e = quotes || (ch !== '"' && ch !== '\\') ? escapeChar(ch) : ch;
    if (out.length + e.length > max) return `${out}…(${str.length} chars in all)`;
    out += e;
  }
  return out;
}

function escapeChar(ch: string): string {
  const c = ch.codePointAt(0)!;
  if (ch === '"' || ch === '\\') return `\\${ch}`;
  if (c < 0x20 || c === 0x7f) return `\\x${c.toString(16).padStart(2, '0')}`;
  // C1 controls, the replacement character of undecodable bytes, format/separator/private/surrogate code points
  if ((c >= 0x80 && c < 0xa0) || c === 0xfffd || /[\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cs}]/u.test(ch)) {
    return c > 0xffff ? `\\u{${c.toString(16)}}` : `\\u${c.toString(16).padStart(4, '0')}`;
  }
  return ch;
}

/** A name as it appears in a message, unquoted: `blk.0.attn_q.weight`, `llama\x00`. */
export function printableName(s: unknown, max = 80): string {
  return escaped(typeof s === 'string' ? s : String(s), max, false);
}

/** A string value, quoted: `"llama\x00"`. */
export function printable(s: unknown, max = 80): string {
  return `"${escaped(typeof s === 'string' ? s : String(s), max, true)}"`;
}

/** Any value (a config field's content) as short printable JSON: `1e+300`, `"abc"`, `[1,2,…(40 chars in all)`. */
export function printableJson(v: unknown, max = 80): string {
  let text: string | undefined;
  try {
    text = typeof v === 'number' && !Number.isFinite(v) ? String(v) : JSON.stringify(v);
  } catch {
    text = undefined;
  }
  return escaped(text ?? String(v), max, false); // JSON text has its quotes escaped already
}
