/**
 * XLM-R with the tokenizer the real models have (test/fixtures/xlm_roberta_spm, made by
 * make_xlm_roberta_spm_oracle.py): a SentencePiece Unigram vocabulary with its precompiled nmt_nfkc normalizer, as
 * multilingual-e5 and bge-m3 ship it, against sentence-transformers from the folder and from its GGUF (tokenizer.ggml.model
 * "t5", as llama.cpp writes and reads XLM-R's), and against llama.cpp on that GGUF (make_xlm_roberta_spm_llama_cpp.mts).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { testGpu } from './helpers/gpu.ts';
import { maxDiff } from './helpers/vectors.ts';
import { hfToGGUF, hfToGGUFFile } from '../models/hf_to_gguf.ts';
import { writeGGUF } from '../src/gguf/writer.ts';
import { expectEmberError } from './helpers/errors.ts';

const FOLDER = resolve(import.meta.dirname, 'fixtures/xlm_roberta_spm');
const read = <T>(file: string) => JSON.parse(readFileSync(join(FOLDER, file), 'utf8')) as T;
const st = read<{ cases: { text: string; ids: number[]; embedding: number[] }[] }>('xlm_roberta_spm.sentence_transformers.json').cases;
const llamaCpp = read<{ cases: { text: string; tokens: number[]; input: number[]; embedding: number[] }[] }>('xlm_roberta_spm.llama_cpp.json').cases;

/** The engine's ids and embeddings of every text against sentence-transformers': ids equal, within 1e-5. */
async function expectSentenceTransformers(engine: Engine): Promise<void> {
  const r = await engine.embed(st.map((c) => c.text));
  for (const [i, c] of st.entries()) {
    expect([...engine.tokenize(c.text), ...engine.tokenizer.endIds], c.text).toEqual(c.ids);
    expect(maxDiff(r.embeddings[i], c.embedding), c.text).toBeLessThan(1e-5);
  }
}

describe('XLM-R with a SentencePiece Unigram tokenizer (full-width forms, ligatures, combining accents, runs of spaces)', () => {
  it('from its folder: sentence-transformers\' ids and embeddings', async () => {
    const engine = await Engine.load(FOLDER, { gpu: await testGpu(), kvCache: 'f32' });
    try {
      await expectSentenceTransformers(engine);
    } finally {
      await engine.dispose();
    }
  });

  it('its GGUF (t5 vocabulary, the position rows from pad_token_id + 1): the same ids and embeddings; llama.cpp tokenizes it alike and embeds as the engine does', async () => {
    const file = await hfToGGUFFile(FOLDER);
    const key = (k: string) => file.metadata.find(([name]) => name === k)?.[1].value;
    expect([key('tokenizer.ggml.model'), key('tokenizer.ggml.add_space_prefix'), key('tokenizer.ggml.remove_extra_whitespaces')]).toEqual(['t5', true, true]);
    expect((key('tokenizer.ggml.precompiled_charsmap') as ArrayLike<number>).length).toBeGreaterThan(1000);
    expect(file.tensors.find((t) => t.name === 'position_embd.weight')!.ne).toEqual([64, 64]); // (66 rows, the first 2 dropped)
    const engine = await Engine.load(await hfToGGUF(FOLDER), { gpu: await testGpu(), kvCache: 'f32' });
    try {
      expect([engine.config.arch, engine.config.positionOffset, engine.config.contextTrain, engine.config.tokenTypes]).toEqual(['bert', 0, 64, 1]);
      await expectSentenceTransformers(engine);
      for (const c of llamaCpp) {
        expect(engine.tokenize(c.text).slice(1), c.text).toEqual(c.tokens); // (after <s>)
        const [e] = (await engine.embed([c.input], { normalize: false })).embeddings; // (node-llama-cpp's input: no <s> in front)
        expect(maxDiff(e, c.embedding), c.text).toBeLessThan(2e-5); // (norms of 3.7 to 4.3; measured 8.3e-6 at most)
      }
    } finally {
      await engine.dispose();
    }
  });

  it('a t5 vocabulary without its scores or its unknown token is BAD_MODEL, naming the key', async () => {
    const file = await hfToGGUFFile(FOLDER);
    for (const [drop, message] of [['tokenizer.ggml.scores', /needs tokenizer\.ggml\.scores/], ['tokenizer.ggml.unknown_token_id', /needs tokenizer\.ggml\.unknown_token_id/]] as const) {
      const bytes = writeGGUF({ ...file, metadata: file.metadata.filter(([k]) => k !== drop) });
      await expectEmberError(async () => Engine.load(bytes, { gpu: await testGpu() }), 'BAD_MODEL', message);
    }
  });
});
