import { EmberError } from '../errors.ts';
import type { GGUFFile } from '../gguf/reader.ts';
import { BpeTokenizer } from './bpe.ts';
import { SpmTokenizer } from './spm.ts';
import type { Tokenizer } from './types.ts';
import { readVocab } from './vocab.ts';
import { wordPieceFromGGUF } from './wordpiece_gguf.ts';
import { unigramFromGGUF } from './unigram_gguf.ts';

/**
 * The tokenizer stored in a GGUF file: SentencePiece ('llama'), byte-level BPE ('gpt2'), WordPiece ('bert') or a
 * SentencePiece Unigram ('t5': XLM-R's).
 * Throws UNSUPPORTED for other `tokenizer.ggml.model` values and BAD_MODEL for inconsistent vocab metadata.
 */
export function tokenizerFromGGUF(f: Pick<GGUFFile, 'metadata'>): Tokenizer {
  try {
    return build(f);
  } catch (e) {
    if (e instanceof EmberError) throw e;
    // a metadata value of a shape the builders did not expect: the file, not emberlm, is wrong
    throw new EmberError('BAD_MODEL', `the tokenizer in tokenizer.ggml.* cannot be built (${(e as Error).message})`);
  }
}

function build(f: Pick<GGUFFile, 'metadata'>): Tokenizer {
  const model = f.metadata.get('tokenizer.ggml.model');
  if (model !== 'llama' && model !== 'gpt2' && model !== 'bert' && model !== 't5') {
    throw new EmberError('UNSUPPORTED', `tokenizer.ggml.model = ${JSON.stringify(model ?? null)} is not supported (supported: "llama" (SentencePiece), "gpt2" (byte-level BPE), "bert" (WordPiece), "t5" (SentencePiece Unigram))`, { model });
  }
  const vocab = readVocab(f.metadata);
  if (model === 'llama') return new SpmTokenizer(vocab);
  if (model === 'bert') return wordPieceFromGGUF(vocab, f.metadata);
  if (model === 't5') return unigramFromGGUF(vocab, f.metadata);

  const merges = f.metadata.get('tokenizer.ggml.merges');
  if (!Array.isArray(merges) || merges.some((m) => typeof m !== 'string')) {
    throw new EmberError('BAD_MODEL', 'tokenizer.ggml.merges is missing or is not an array of strings; a "gpt2" (BPE) tokenizer needs it');
  }
  return new BpeTokenizer(vocab, merges as string[]);
}
