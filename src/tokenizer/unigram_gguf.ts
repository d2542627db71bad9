import { EmberError } from '../errors.ts';
import { bytesToBase64 } from '../util/base64.ts';
import type { GGUFValue } from '../gguf/reader.ts';
import { tokenizerFromHF } from './hf_tokenizer.ts';
import type { Tokenizer } from './types.ts';
import { TokenType } from './types.ts';
import type { GGUFVocab } from './vocab.ts';

/**
 * llama.cpp's SentencePiece Unigram vocabulary (tokenizer.ggml.model "t5": XLM-R's, as in bge-m3 and multilingual-e5
 * files) as the tokenizer.json transformers' SpmConverter makes of such a model, for the tokenizer library's Unigram:
 * the scores, the precompiled normalizer (where the file has a charsmap), extra spaces stripped and collapsed
 * (remove_extra_whitespaces), a Metaspace '▁' in front (add_space_prefix); BOS and EOS around a text as add_bos_token and
 * add_eos_token say, and a pair as llama.cpp joins one, `BOS a EOS SEP b EOS` (XLM-R's `<s> a </s></s> b </s>`).
 */
export function unigramFromGGUF(vocab: GGUFVocab, meta: ReadonlyMap<string, GGUFValue>): Tokenizer {
  if (!vocab.scores) throw new EmberError('BAD_MODEL', 'a "t5" (Unigram) tokenizer needs tokenizer.ggml.scores');
  if (vocab.unkId === null) throw new EmberError('BAD_MODEL', 'a "t5" (Unigram) tokenizer needs tokenizer.ggml.unknown_token_id');
  const scores = vocab.scores;
  const special = (i: number) => vocab.types[i] === TokenType.CONTROL || vocab.types[i] === TokenType.UNKNOWN;
  const added = (i: number) => special(i) || vocab.types[i] === TokenType.USER_DEFINED;
  const charsmap = meta.get('tokenizer.ggml.precompiled_charsmap');
  const bytes = Array.isArray(charsmap) && charsmap.length > 0 ? Uint8Array.from(charsmap as number[]) : null;
  const squeeze = meta.get('tokenizer.ggml.remove_extra_whitespaces') !== false;
  const normalizers = [
    ...(bytes ? [{ type: 'Precompiled', precompiled_charsmap: bytesToBase64(bytes) }] : []),
    ...(squeeze ? [{ type: 'Strip', strip_left: false, strip_right: true }, { type: 'Replace', pattern: { Regex: ' {2,}' }, content: '\u2581' }] : []),
  ];
  const metaspace = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: vocab.addSpacePrefixKey === false ? 'never' : 'always', split: true };
  const sepKey = meta.get('tokenizer.ggml.seperator_token_id'); // (gguf-py's spelling)
  const sep = typeof sepKey === 'number' && sepKey < vocab.tokens.length ? sepKey : null;
  const token = (id: number) => ({ SpecialToken: { id: vocab.tokens[id], type_id: 0 } });
  const bos = vocab.addBosKey !== false && vocab.bosId !== null ? [token(vocab.bosId)] : [];
  const eos = vocab.addEosKey !== false && vocab.eosId !== null ? [token(vocab.eosId)] : [];
  const used = [...bos, ...eos, ...(sep !== null ? [token(sep)] : [])].map((t) => t.SpecialToken.id);
  const json = {
    version: '1.0',
    added_tokens: vocab.tokens.flatMap((content, id) => (added(id) ? [{ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: special(id) }] : [])),
    normalizer: normalizers.length ? { type: 'Sequence', normalizers } : null,
    pre_tokenizer: metaspace,
    post_processor: {
      type: 'TemplateProcessing',
      single: [...bos, { Sequence: { id: 'A', type_id: 0 } }, ...eos],
      pair: [...bos, { Sequence: { id: 'A', type_id: 0 } }, ...eos, ...(sep !== null ? [token(sep)] : []), { Sequence: { id: 'B', type_id: 0 } }, ...eos],
      special_tokens: Object.fromEntries(used.map((t) => [t, { id: t, ids: [vocab.ids.get(t)!], tokens: [t] }])),
    },
    decoder: metaspace,
    model: { type: 'Unigram', unk_id: vocab.unkId, vocab: vocab.tokens.map((t, i) => [t, scores[i]]), byte_fallback: false },
  };
  return tokenizerFromHF(json, {});
}
