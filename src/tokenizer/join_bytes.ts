/**
 * Concatenates token byte strings and decodes them as UTF-8 in one go (so characters split across
 * tokens come out whole). `stripLeadingSpace`: SentencePiece put one '▁' in front of the text when
 * encoding, so the first piece that has any bytes gives that space back. A leading BOS has no bytes,
 * which makes this match llama.cpp's text for `[BOS, ...]` too.
 */
export function joinTokenBytes(pieces: readonly Uint8Array[], stripLeadingSpace: boolean): string {
  let total = 0;
  for (const p of pieces) total += p.length;
  const all = new Uint8Array(total);
  let at = 0;
  let strip = stripLeadingSpace;
  for (let p of pieces) {
    if (strip && p.length > 0) {
      if (p[0] === 0x20) p = p.subarray(1);
      strip = false;
    }
    all.set(p, at);
    at += p.length;
  }
  return new TextDecoder('utf-8', { fatal: false }).decode(all.subarray(0, at));
}
