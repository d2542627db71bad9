/**
 * GGUF tokenizers against llama.cpp's own test vocabularies (exact ids for 46 strings each) and the
 * stories260K oracle from llama.cpp (prompt ids and detokenized text).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { EmberError } from '../src/errors.ts';
import { readGGUF, type GGUFFile, type GGUFValue } from '../src/gguf/reader.ts';
import { sourceFromBuffer } from '../src/gguf/source.ts';
import { tokenizerFromGGUF, TextStreamer, type Tokenizer } from '../src/tokenizer/index.ts';

const MODELS = fileURLToPath(new URL('../../shared/models/', import.meta.url));

/** A shared fixture's bytes; a missing file fails the test (never a skip). */
function fixture(rel: string): Uint8Array {
  const p = MODELS + rel;
  if (!existsSync(p)) throw new Error(`shared model fixture ${rel} is missing: expected it at ${p}`);
  return new Uint8Array(readFileSync(p));
}
const fixtureText = (rel: string) => new TextDecoder().decode(fixture(rel));
const openGGUF = (rel: string) => readGGUF(sourceFromBuffer(fixture(rel), rel));

const SEPARATOR = '\n__ggml_vocab_test__\n';

/** llama.cpp's test-tokenizer-0 format: strings each followed by the separator, and one line of ids per string. */
function readVocabCases(name: string): { text: string; ids: number[] }[] {
  const texts = fixtureText(`vocab/ggml-vocab-${name}.gguf.inp`).split(SEPARATOR);
  expect(texts.pop(), 'the .inp file ends with a separator').toBe('');
  const lines = fixtureText(`vocab/ggml-vocab-${name}.gguf.out`).split('\n');
  expect(lines.pop(), 'the .out file ends with a newline').toBe('');
  expect(lines.length).toBe(texts.length);
  return texts.map((text, i) => ({ text, ids: lines[i]!.trim() === '' ? [] : lines[i]!.trim().split(/\s+/).map(Number) }));
}

describe.each(['llama-spm', 'gpt-2', 'qwen2', 'llama-bpe'])('vocab %s', (name) => {
  let tok: Tokenizer;
  const cases = readVocabCases(name);
  beforeAll(async () => {
    tok = tokenizerFromGGUF(await openGGUF(`vocab/ggml-vocab-${name}.gguf`));
  });

  it(`encodes all ${cases.length} test strings exactly as llama.cpp`, () => {
    expect(cases.length).toBe(46);
    const failures: string[] = [];
    for (const { text, ids } of cases) {
      const got = tok.encode(text, { addBos: false, parseSpecial: false });
      if (got.join(' ') !== ids.join(' ')) failures.push(`${JSON.stringify(text)}\n  want ${ids.join(' ')}\n  got  ${got.join(' ')}`);
    }
    expect(failures, failures.join('\n')).toEqual([]);
  });

  it('decodes the expected ids back to the input text', () => {
    for (const { text, ids } of cases) {
      // SPM drops the one space it added, so the round trip is exact for both families.
      expect(tok.decode(ids)).toBe(text);
    }
  });
});

describe('stories260K', () => {
  let tok: Tokenizer;
  beforeAll(async () => {
    tok = tokenizerFromGGUF(await openGGUF('stories260K/stories260K.gguf'));
  });

  it('has the llama2.c special tokens', () => {
    expect(tok.vocabSize).toBe(512);
    expect([tok.bosId, tok.eosId, tok.addBos, tok.addSpacePrefix]).toEqual([1, 2, true, true]);
    expect(tok.isEndOfGeneration(2)).toBe(true);
    expect(tok.isEndOfGeneration(1)).toBe(false);
  });

  it('encodes "Once upon a time" with BOS', () => {
    expect(tok.encode('Once upon a time')).toEqual([1, 403, 407, 261, 378]);
  });

  const oracle = JSON.parse(fixtureText('oracle/stories260K.llama-cpp.json')) as OracleFile;
  it.each(oracle.results.map((r) => [r.prompt, r] as const))('matches llama.cpp on prompt %j', (_p, r) => {
    expect(tok.encode(r.prompt)).toEqual(r.prompt_token_ids);
    expect(tok.decode([...r.prompt_token_ids, ...r.generated_token_ids])).toBe(r.full_text);
    expect(tok.decode(r.generated_token_ids)).toBe(r.generated_text);
  });

  it('streams the 256-token BOS-only run to exactly llama.cpp\'s text', () => {
    const run = (JSON.parse(fixtureText('oracle/stories260K.llama-cpp.bos-only-256.json')) as OracleFile).results[0]!;
    const ids = [...run.prompt_token_ids, ...run.generated_token_ids];
    expect(ids.length).toBe(257);
    const streamer = new TextStreamer(tok, { stripLeadingSpace: true });
    let text = '';
    for (const id of ids) text += streamer.push(id);
    text += streamer.flush();
    expect(text).toBe(run.full_text);
    expect(tok.decode(ids)).toBe(run.full_text);
    // Without stripping, the text keeps the space the first piece ("▁Once") carries.
    const raw = new TextStreamer(tok, { stripLeadingSpace: false });
    expect(ids.map((id) => raw.push(id)).join('') + raw.flush()).toBe(' ' + run.full_text);
  });
});

interface OracleFile {
  results: { prompt: string; prompt_token_ids: number[]; generated_token_ids: number[]; generated_text: string; full_text: string }[];
}

describe('streaming detokenizer', () => {
  let spm: Tokenizer;
  let bpe: Tokenizer;
  beforeAll(async () => {
    spm = tokenizerFromGGUF(await openGGUF('vocab/ggml-vocab-llama-spm.gguf'));
    bpe = tokenizerFromGGUF(await openGGUF('vocab/ggml-vocab-gpt-2.gguf'));
  });

  it.each(['spm', 'bpe'] as const)('emits multi-byte characters whole (%s)', (which) => {
    const tok = which === 'spm' ? spm : bpe;
    const text = 'Llamas 🦙 and rockets 🚀, Cửa Việt, 我想在apple工作 😶‍🌫️!';
    const ids = tok.encode(text, { addBos: false });
    // The emoji must really be split across tokens for this test to mean anything.
    const splitChars = ids.filter((id) => new TextDecoder('utf-8', { fatal: false }).decode(tok.tokenBytes(id)).includes('\uFFFD'));
    expect(splitChars.length).toBeGreaterThan(4);
    const streamer = new TextStreamer(tok);
    const pieces = ids.map((id) => streamer.push(id));
    pieces.push(streamer.flush());
    for (const p of pieces) expect(p).not.toContain('\uFFFD');
    expect(pieces.join('')).toBe(text);
  });

  it('byte-fallback tokens of the SPM vocab spell the emoji as <0xXX> bytes', () => {
    const ids = spm.encode('🦙', { addBos: false });
    expect(ids).toEqual([29871, 243, 162, 169, 156]); // '▁', then F0 9F A6 99 as <0xF0>.. (id = byte + 3)
    const streamer = new TextStreamer(spm, { stripLeadingSpace: false });
    expect(ids.map((id) => streamer.push(id))).toEqual([' ', '', '', '', '🦙']);
  });

  it('flush emits U+FFFD for a character cut off at the end', () => {
    const streamer = new TextStreamer(spm);
    expect(streamer.push(243)).toBe('');
    expect(streamer.flush()).toBe('\uFFFD');
  });
});

describe('special tokens', () => {
  let llama3: Tokenizer;
  beforeAll(async () => {
    llama3 = tokenizerFromGGUF(await openGGUF('vocab/ggml-vocab-llama-bpe.gguf'));
  });

  it('matches control tokens only when parseSpecial is set', () => {
    const text = '<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>';
    const parsed = llama3.encode(text, { addBos: false, parseSpecial: true });
    expect(parsed).toEqual([128006, 882, 128007, 271, 13347, 128009]);
    const plain = llama3.encode(text, { addBos: false });
    expect(plain).not.toContain(128009);
    expect(llama3.decode(plain)).toBe(text);
  });

  it('Llama 3 adds BOS by default and ends generation on <|eot_id|>', () => {
    expect(llama3.addBos).toBe(true);
    expect(llama3.encode('Hi')).toEqual([128000, 13347]);
    expect(llama3.isEndOfGeneration(128009)).toBe(true);
    expect(llama3.isEndOfGeneration(128001)).toBe(true);
    expect(llama3.isEndOfGeneration(13347)).toBe(false);
  });

  it('renders control tokens only when asked', () => {
    expect(llama3.decode([128000, 13347, 128009])).toBe('Hi');
    expect(llama3.decode([128000, 13347, 128009], { skipSpecial: false })).toBe('<|begin_of_text|>Hi<|eot_id|>');
    expect(llama3.tokenBytes(128009).length).toBe(0);
  });
});

describe('bad metadata', () => {
  const fake = (entries: Record<string, GGUFValue>): Pick<GGUFFile, 'metadata'> => ({ metadata: new Map(Object.entries(entries)) });
  const base = { 'tokenizer.ggml.tokens': ['<unk>', '<s>', '</s>', 'a'] };

  function expectError(fn: () => unknown, code: string, message: RegExp) {
    let err: unknown;
    try { fn(); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(EmberError);
    expect((err as EmberError).code).toBe(code);
    expect((err as EmberError).message).toMatch(message);
  }

  it('rejects an unknown tokenizer model, naming it', () => {
    expectError(() => tokenizerFromGGUF(fake({ ...base, 'tokenizer.ggml.model': 'rwkv' })), 'UNSUPPORTED', /"rwkv" is not supported \(supported: .*"bert" \(WordPiece\), "t5" \(SentencePiece Unigram\)\)/);
    expectError(() => tokenizerFromGGUF(fake(base)), 'UNSUPPORTED', /tokenizer\.ggml\.model/);
  });

  it('rejects an unknown pre-tokenizer, naming it', () => {
    expectError(() => tokenizerFromGGUF(fake({ ...base, 'tokenizer.ggml.model': 'gpt2', 'tokenizer.ggml.pre': 'martian', 'tokenizer.ggml.merges': [] })), 'UNSUPPORTED', /"martian"/);
  });

  it('rejects inconsistent vocab metadata', () => {
    const spm = { ...base, 'tokenizer.ggml.model': 'llama' };
    expectError(() => tokenizerFromGGUF(fake({ ...spm, 'tokenizer.ggml.scores': new Float32Array(3) })), 'BAD_MODEL', /scores has 3 entries for 4 tokens/);
    expectError(() => tokenizerFromGGUF(fake({ ...spm, 'tokenizer.ggml.token_type': new Int32Array(2) })), 'BAD_MODEL', /token_type has 2 entries/);
    expectError(() => tokenizerFromGGUF(fake({ ...spm, 'tokenizer.ggml.tokens': ['a', 'b', 'a'] })), 'BAD_MODEL', /duplicate token/);
    expectError(() => tokenizerFromGGUF(fake({ ...base, 'tokenizer.ggml.model': 'gpt2', 'tokenizer.ggml.pre': 'gpt-2' })), 'BAD_MODEL', /merges/);
  });
});
