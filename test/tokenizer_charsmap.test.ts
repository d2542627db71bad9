/**
 * SentencePiece's precompiled normalizer read from its table (src/tokenizer/charsmap.ts), against the Rust `tokenizers`
 * crate on the xlm_roberta_spm fixture's nmt_nfkc charsmap (make_charsmap_oracle.py): every code point, strings where
 * graphemes and emoji sequences meet the table, and the whole tokenizer's ids from the folder and from its GGUF.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hfToGGUF } from '../models/hf_to_gguf.ts';
import { readGGUF } from '../src/gguf/reader.ts';
import { sourceFromBuffer } from '../src/gguf/source.ts';
import { normalizeWithCharsmap, parseCharsmap, transform } from '../src/tokenizer/charsmap.ts';
import { tokenizerFromGGUF, tokenizerFromHF } from '../src/tokenizer/index.ts';
import { expectEmberError } from './helpers/errors.ts';

const FOLDER = resolve(import.meta.dirname, 'fixtures/xlm_roberta_spm');
const read = <T>(file: string) => JSON.parse(readFileSync(join(FOLDER, file), 'utf8')) as T;
const tokenizerJson = read<{ normalizer: { normalizers: { precompiled_charsmap: string }[] } }>('tokenizer.json');
const oracle = read<{ changed: Record<string, string>; strings: { text: string; normalized: string; ids: number[] }[] }>('charsmap.tokenizers.json');
const blob = new Uint8Array(Buffer.from(tokenizerJson.normalizer.normalizers[0].precompiled_charsmap, 'base64'));

describe('precompiled charsmap', () => {
  it('maps every code point as the tokenizers crate does (5,008 changed, the rest kept)', () => {
    const map = parseCharsmap(blob);
    const wrong: string[] = [];
    for (let cp = 1; cp < 0x110000; cp++) {
      if (cp >= 0xd800 && cp < 0xe000) continue; // (surrogates are no text)
      const c = String.fromCodePoint(cp);
      const want = oracle.changed[cp.toString(16)] ?? c;
      if ((transform(map, c) ?? c) !== want) wrong.push(cp.toString(16));
    }
    expect(wrong).toEqual([]);
    expect(Object.keys(oracle.changed).length).toBe(5008);
  });

  it('normalizes by graphemes: emoji sequences keep their joiners, a short cluster the table starts is replaced whole, long text in chunks', () => {
    const map = parseCharsmap(blob);
    for (const s of oracle.strings) expect(normalizeWithCharsmap(map, s.text), s.text.slice(0, 40)).toBe(s.normalized);
    expect(oracle.strings.at(-1)!.text.length).toBeGreaterThan(2000);
    expect(normalizeWithCharsmap(map, 'a\u200db')).toBe('a\u200db'); // (the library's stand-in made it 'a b')
  });

  it('tokenizes as the tokenizers crate, from the folder and from its GGUF', async () => {
    const folder = tokenizerFromHF(tokenizerJson, read('tokenizer_config.json'));
    const gguf = tokenizerFromGGUF(await readGGUF(sourceFromBuffer(await hfToGGUF(FOLDER), 'xlm_roberta_spm.gguf')));
    for (const s of oracle.strings) {
      expect(folder.encode(s.text, { addBos: false }), s.text.slice(0, 40)).toEqual(s.ids);
      expect(gguf.encode(s.text, { addBos: false }), s.text.slice(0, 40)).toEqual(s.ids);
    }
  });

  it('a corrupt table is BAD_MODEL naming the charsmap', async () => {
    const trieBytes = new DataView(blob.buffer, blob.byteOffset).getUint32(0, true);
    const tooLong = blob.slice();
    new DataView(tooLong.buffer).setUint32(0, blob.length, true);
    for (const b of [blob.subarray(0, 3), blob.subarray(0, 4 + trieBytes - 8), tooLong]) {
      await expectEmberError(() => parseCharsmap(b), 'BAD_MODEL', /precompiled_charsmap is corrupt/);
    }
    const noStrings = parseCharsmap(blob.subarray(0, 4 + trieBytes)); // (every value points past the end now)
    await expectEmberError(() => transform(noStrings, 'ﬁ'), 'BAD_MODEL', /precompiled_charsmap is corrupt: a string at/);
    const notBase64 = structuredClone(tokenizerJson);
    notBase64.normalizer.normalizers[0].precompiled_charsmap = 'ALwC*AAA';
    await expectEmberError(() => tokenizerFromHF(notBase64), 'BAD_MODEL', /precompiled_charsmap is corrupt: it is not base64/);
  });
});
