/**
 * The Hugging Face tokenizer.json wrapper, on tokenizer.json files built here from GGUF vocabularies:
 * a SentencePiece-style BPE with byte fallback (stories260K) and byte-level BPEs (GPT-2, Llama 3).
 * Where the two implementations should agree, they must give the same ids.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { EmberError } from '../src/errors.ts';
import { readGGUF, type GGUFFile } from '../src/gguf/reader.ts';
import { sourceFromBuffer } from '../src/gguf/source.ts';
import { TextStreamer, tokenizerFromGGUF, tokenizerFromHF, type Tokenizer } from '../src/tokenizer/index.ts';

const MODELS = fileURLToPath(new URL('../../shared/models/', import.meta.url));

function fixture(rel: string): Uint8Array {
  const p = MODELS + rel;
  if (!existsSync(p)) throw new Error(`shared model fixture ${rel} is missing: expected it at ${p}`);
  return new Uint8Array(readFileSync(p));
}
const fixtureText = (rel: string) => new TextDecoder().decode(fixture(rel));
const openGGUF = (rel: string) => readGGUF(sourceFromBuffer(fixture(rel), rel));

function vocabCases(name: string): { text: string; ids: number[] }[] {
  const texts = fixtureText(`vocab/ggml-vocab-${name}.gguf.inp`).split('\n__ggml_vocab_test__\n').slice(0, -1);
  const lines = fixtureText(`vocab/ggml-vocab-${name}.gguf.out`).split('\n');
  return texts.map((text, i) => ({ text, ids: lines[i]!.trim() === '' ? [] : lines[i]!.trim().split(/\s+/).map(Number) }));
}

const meta = <T>(f: GGUFFile, key: string) => f.metadata.get(key) as T;
const CONTROL = 3;

/**
 * tokenizer.json for a SentencePiece BPE vocab, the way transformers converts Llama tokenizers: merges
 * are every split of a vocab piece into two vocab pieces, best-scored piece first; spaces become '▁'
 * with one prepended; unknown characters fall back to <0xXX> tokens.
 */
function spmTokenizerJson(f: GGUFFile): object {
  const tokens = meta<string[]>(f, 'tokenizer.ggml.tokens');
  const scores = meta<Float32Array>(f, 'tokenizer.ggml.scores');
  const types = meta<Int32Array>(f, 'tokenizer.ggml.token_type');
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => { vocab[t] = i; });
  const merges: { l: string; r: string; score: number; li: number; ri: number }[] = [];
  tokens.forEach((piece, id) => {
    if (types[id] !== 1) return;
    const chars = Array.from(piece);
    for (let k = 1; k < chars.length; k++) {
      const l = chars.slice(0, k).join('');
      const r = chars.slice(k).join('');
      if (vocab[l] !== undefined && vocab[r] !== undefined) merges.push({ l, r, score: scores[id]!, li: vocab[l]!, ri: vocab[r]! });
    }
  });
  merges.sort((a, b) => b.score - a.score || a.li - b.li || a.ri - b.ri);
  return {
    added_tokens: tokens.flatMap((t, id) => (types[id] === CONTROL || types[id] === 2 ? [{ id, content: t, special: true, normalized: false }] : [])),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }],
    },
    model: { type: 'BPE', unk_token: '<unk>', fuse_unk: true, byte_fallback: true, vocab, merges: merges.map((m) => `${m.l} ${m.r}`) },
  };
}

/** tokenizer.json for a byte-level BPE vocab; `split` is the Llama 3 style pre-split regex, if any. */
function byteLevelTokenizerJson(f: GGUFFile, split?: string): object {
  const tokens = meta<string[]>(f, 'tokenizer.ggml.tokens');
  const types = meta<Int32Array>(f, 'tokenizer.ggml.token_type');
  const vocab: Record<string, number> = {};
  const added: object[] = [];
  tokens.forEach((t, id) => {
    if (types[id] === CONTROL) added.push({ id, content: t, special: true, normalized: false });
    else vocab[t] = id;
  });
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: split === undefined };
  return {
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: split === undefined ? byteLevel : { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: split }, behavior: 'Isolated', invert: false }, byteLevel] },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', ignore_merges: split !== undefined, vocab, merges: meta<string[]>(f, 'tokenizer.ggml.merges') },
  };
}

const LLAMA3_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

describe('tokenizer.json with SentencePiece-style BPE and byte fallback (from stories260K)', () => {
  let hf: Tokenizer;
  let gguf: Tokenizer;
  beforeAll(async () => {
    const f = await openGGUF('stories260K/stories260K.gguf');
    gguf = tokenizerFromGGUF(f);
    hf = tokenizerFromHF(spmTokenizerJson(f), { bos_token: '<s>', eos_token: '</s>', add_bos_token: true });
  });

  it('reads BOS/EOS and the space prefix from the config and decoder', () => {
    expect([hf.vocabSize, hf.bosId, hf.eosId, hf.addBos, hf.addSpacePrefix]).toEqual([512, 1, 2, true, true]);
    expect(hf.isEndOfGeneration(2)).toBe(true);
  });

  it('ends a text with what the post-processor appends (endIds), and nothing it puts in front', async () => {
    const f = await openGGUF('stories260K/stories260K.gguf');
    const special = (id: string) => ({ SpecialToken: { id, type_id: 0 } });
    const template = (single: object[]) => ({
      type: 'TemplateProcessing', single, pair: single,
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] }, '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] } },
    });
    const text = { Sequence: { id: 'A', type_id: 0 } };
    const withPost = (post: object | null) => tokenizerFromHF({ ...spmTokenizerJson(f), post_processor: post }, { bos_token: '<s>', eos_token: '</s>' });
    expect(hf.endIds).toEqual([]);
    expect(withPost(template([special('<s>'), text])).endIds).toEqual([]); // Llama's: BOS in front only
    expect(withPost(template([special('<s>'), text, special('</s>')])).endIds).toEqual([2]);
    expect(withPost(template([text, special('</s>')])).endIds).toEqual([2]); // Qwen3-Embedding's shape
    expect(tokenizerFromGGUF(f).endIds).toEqual([]); // no tokenizer.ggml.add_eos_token
  });

  const oracle = JSON.parse(fixtureText('oracle/stories260K.llama-cpp.bos-only-256.json')) as { results: { generated_token_ids: number[]; full_text: string }[] };
  const story = oracle.results[0]!.full_text;
  const texts = ['Once upon a time', 'Lily wanted to', 'The cat', story, ...story.split('\n'), 'Émile ate 3 crêpes 🥞 at 10:30!', '  two leading spaces', 'tab\tand\nnewline'];

  it('agrees with the GGUF SPM tokenizer', () => {
    for (const t of texts) expect(hf.encode(t), JSON.stringify(t)).toEqual(gguf.encode(t));
  });

  it('round-trips and detokenizes like the GGUF tokenizer', () => {
    for (const t of texts) {
      const ids = hf.encode(t);
      expect(hf.decode(ids)).toBe(t);
      for (const id of ids) expect(hf.tokenBytes(id)).toEqual(gguf.tokenBytes(id));
    }
    const streamer = new TextStreamer(hf);
    const ids = [1, ...oracle.results[0]!.generated_token_ids];
    expect(ids.map((id) => streamer.push(id)).join('') + streamer.flush()).toBe(story);
  });
});

describe.each([
  ['gpt-2', undefined],
  ['llama-bpe', LLAMA3_SPLIT],
] as const)('byte-level tokenizer.json (from the %s vocab)', (name, split) => {
  let hf: Tokenizer;
  let gguf: Tokenizer;
  const cases = vocabCases(name);
  beforeAll(async () => {
    const f = await openGGUF(`vocab/ggml-vocab-${name}.gguf`);
    gguf = tokenizerFromGGUF(f);
    hf = tokenizerFromHF(byteLevelTokenizerJson(f, split));
  });

  it(`encodes the ${cases.length} llama.cpp test strings to the expected ids`, () => {
    expect(cases.length).toBe(46);
    for (const { text, ids } of cases) expect(hf.encode(text, { addBos: false }), JSON.stringify(text)).toEqual(ids);
  });

  it('decodes and maps token bytes like the GGUF tokenizer', () => {
    for (const { text, ids } of cases) {
      expect(hf.decode(ids)).toBe(text);
      for (const id of ids) expect(hf.tokenBytes(id)).toEqual(gguf.tokenBytes(id));
    }
  });

  it('matches special tokens only with parseSpecial', () => {
    const eos = name === 'gpt-2' ? '<|endoftext|>' : '<|end_of_text|>';
    const eosId = gguf.encode(eos, { addBos: false, parseSpecial: true });
    expect(eosId.length).toBe(1);
    expect(hf.encode(`Hi${eos}`, { addBos: false, parseSpecial: true })).toEqual(gguf.encode(`Hi${eos}`, { addBos: false, parseSpecial: true }));
    const plain = hf.encode(`Hi${eos}`, { addBos: false });
    expect(plain).not.toContain(eosId[0]);
    expect(plain).toEqual(gguf.encode(`Hi${eos}`, { addBos: false }));
    expect(hf.tokenBytes(eosId[0]!).length).toBe(0);
    expect(hf.isEndOfGeneration(eosId[0]!)).toBe(true);
  });
});

describe('tokenizerFromHF input checks', () => {
  const errorOf = (fn: () => unknown): EmberError => {
    try { fn(); } catch (e) { if (e instanceof EmberError) return e; throw e; }
    throw new Error('expected an EmberError, but nothing was thrown');
  };

  it('rejects JSON that is not a tokenizer.json, or a model type it cannot decode', () => {
    expect(errorOf(() => tokenizerFromHF({ hello: 1 })).code).toBe('BAD_MODEL');
    const e = errorOf(() => tokenizerFromHF({ model: { type: 'WordLevel' } }));
    expect(e.code).toBe('UNSUPPORTED');
    expect(e.message).toMatch(/"WordLevel"/);
  });
});
