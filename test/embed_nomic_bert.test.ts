/**
 * Engine.embed against llama.cpp on a nomic-bert GGUF (test/fixtures/nomic_bert, made by
 * test/fixtures/make_nomic_bert_oracle.mts): nomic-embed-text's architecture, BERT's post-norm encoder with RoPE in place
 * of learned positions, fused q|k|v, a SwiGLU FFN and no projection biases, mean pooling.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { testGpu, VARIANTS } from './helpers/gpu.ts';
import { cosine, maxDiff } from './helpers/vectors.ts';

const FOLDER = resolve(import.meta.dirname, 'fixtures/nomic_bert');
const FILE = join(FOLDER, 'nomic-bert-tiny.gguf');
interface Case { text: string; tokens: number[]; embedding: number[] }
const oracle = JSON.parse(readFileSync(join(FOLDER, 'nomic-bert.llama_cpp.json'), 'utf8')) as { cases: Case[] };
const texts = oracle.cases.map((c) => c.text);
const unit = (v: readonly number[]) => v.map((x) => x / Math.hypot(...v));
const CLS = 2, SEP = 3; // (test/fixtures/bert's vocabulary)

describe.each(VARIANTS)('nomic-bert GGUF (%s device)', (variant) => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(FILE, { gpu: await testGpu(variant), kvCache: 'f32' });
  });
  afterAll(() => engine?.dispose());

  it('reads a post-norm encoder that rotates: no position table, token types, SwiGLU, mean pooling', () => {
    const c = engine.config;
    expect([c.arch, c.postLayerNorms, c.learnedPositions, c.tokenTypes, c.layerRope, c.ropeBase, c.ropeNeox, c.ffnGated, c.ffnAct, c.qkvBias, c.pooling]).toEqual(
      ['bert', true, false, 2, [true, true], 1000, true, true, 'silu', false, 'mean'],
    );
  });

  it('tokenizes as llama.cpp (its [CLS] and [SEP] around) and embeds as llama.cpp does, a list in one call and a text alone', async () => {
    const raw = await engine.embed(texts, { normalize: false });
    const normalised = await engine.embed(texts);
    for (const [i, c] of oracle.cases.entries()) {
      expect([...engine.tokenize(c.text), ...engine.tokenizer.endIds], c.text).toEqual([CLS, ...c.tokens, SEP]);
      expect(maxDiff(raw.embeddings[i], c.embedding), c.text).toBeLessThan(2e-6); // (norms of about 8)
      expect(maxDiff(normalised.embeddings[i], unit(c.embedding)), c.text).toBeLessThan(5e-7);
    }
    const long = oracle.cases[2];
    const [alone] = (await engine.embed(long.text, { normalize: false })).embeddings;
    expect(maxDiff(alone, long.embedding)).toBeLessThan(2e-6);
  });
});

it('nomic-bert as int8-g32 (Q8_0) with the default f16 K/V cache: near llama.cpp\'s', async () => {
  const engine = await Engine.load(FILE, { gpu: await testGpu(), quant: 'int8-g32' });
  try {
    const r = await engine.embed(texts);
    for (const [i, c] of oracle.cases.entries()) expect(cosine(r.embeddings[i], c.embedding), c.text).toBeGreaterThan(0.999);
  } finally {
    await engine.dispose();
  }
});
