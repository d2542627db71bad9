import type { SpecialToken } from './vocab.ts';

/** A piece of input: raw text still to be tokenized, or a special token's id already decided. */
export type Fragment = string | number;

/**
 * Cuts every occurrence of the given special tokens out of `text`, as llama.cpp's
 * `tokenizer_st_partition` does: tokens are taken longest first, and each one splits all raw-text
 * fragments left by the ones before it. Empty raw fragments are dropped.
 */
export function splitOnSpecialTokens(text: string, specials: readonly SpecialToken[]): Fragment[] {
  let fragments: Fragment[] = text.length > 0 ? [text] : [];
  for (const { text: s, id } of specials) {
    let next: Fragment[] | null = null;
    for (let f = 0; f < fragments.length; f++) {
      const frag = fragments[f]!;
      const at = typeof frag === 'string' ? frag.indexOf(s) : -1;
      if (at < 0) {
        next?.push(frag);
        continue;
      }
      // Copy lazily: most special tokens occur nowhere, and then the list is left as it is.
      next ??= fragments.slice(0, f);
      let from = 0;
      for (let i = at; i >= 0; i = (frag as string).indexOf(s, from)) {
        if (i > from) next.push((frag as string).slice(from, i));
        next.push(id);
        from = i + s.length;
      }
      if (from < (frag as string).length) next.push((frag as string).slice(from));
    }
    if (next) fragments = next;
  }
  return fragments;
}
