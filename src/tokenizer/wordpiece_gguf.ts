import { EmberError } from '../errors.ts';
import type { GGUFValue } from '../gguf/reader.ts';
import { tokenizerFromHF } from './hf_tokenizer.ts';
import type { Tokenizer } from './types.ts';
import { TokenType } from './types.ts';
import type { GGUFVocab } from './vocab.ts';

/** The phantom space llama.cpp's converter puts in front of a word-start WordPiece token. */
const PHANTOM = '\u2581';

/**
 * llama.cpp's BERT vocabulary (tokenizer.ggml.model "bert") as the tokenizer.json it came from, for the tokenizer
 * library's WordPiece: the converter wrote a word's first piece with U+2581 in front and a continuation without its
 * "##" (control tokens as they are), which is undone here. llama.cpp's WPM tokenizer lowercases and strips accents
 * whatever the model's own tokenizer did, and puts BOS ([CLS]) in front of a text and the separator ([SEP]) after it.
 */
export function wordPieceFromGGUF(vocab: GGUFVocab, meta: ReadonlyMap<string, GGUFValue>): Tokenizer {
  const control = (i: number) => vocab.types[i] === TokenType.CONTROL || vocab.types[i] === TokenType.UNKNOWN;
  const pieces = vocab.tokens.map((t, i) => (control(i) ? t : t.startsWith(PHANTOM) ? t.slice(PHANTOM.length) : `##${t}`));
  const idOf = (key: string, fallback: string) => {
    const v = meta.get(key);
    const id = typeof v === 'number' && v >= 0 && v < pieces.length ? v : vocab.ids.get(fallback);
    if (id === undefined) throw new EmberError('BAD_MODEL', `a "bert" tokenizer needs ${key} (or a ${fallback} token)`);
    return id;
  };
  const cls = vocab.bosId ?? idOf('tokenizer.ggml.cls_token_id', '[CLS]');
  const sep = idOf('tokenizer.ggml.seperator_token_id', '[SEP]'); // (gguf-py's spelling)
  const unk = vocab.unkId ?? idOf('tokenizer.ggml.unknown_token_id', '[UNK]');
  const special = (id: number) => ({ id, content: pieces[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const token = (id: number) => ({ SpecialToken: { id: pieces[id], type_id: 0 } });
  const json = {
    version: '1.0',
    added_tokens: pieces.flatMap((_, i) => (control(i) ? [special(i)] : [])),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: true, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [token(cls), { Sequence: { id: 'A', type_id: 0 } }, token(sep)],
      pair: [token(cls), { Sequence: { id: 'A', type_id: 0 } }, token(sep), { Sequence: { id: 'B', type_id: 1 } }, token(sep)],
      special_tokens: Object.fromEntries([cls, sep].map((id) => [pieces[id], { id: pieces[id], ids: [id], tokens: [pieces[id]] }])),
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: pieces[unk], continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(pieces.map((p, i) => [p, i])) },
  };
  return tokenizerFromHF(json, {});
}
