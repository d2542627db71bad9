/**
 * Engine.rerank by a BERT cross-encoder against sentence-transformers' CrossEncoder (test/fixtures/bert_reranker, made by
 * test/fixtures/make_bert_reranker_oracle.py): cross-encoder/ms-marco-MiniLM-L6-v2's layout, a
 * BertForSequenceClassification of one label; each (query, document) pair in one input, the document's tokens of type 1,
 * scored by the pooler and classifier over [CLS] and a sigmoid. Its GGUF in llama.cpp's layout (pooling_type rank, cls
 * and cls.output); what such a model refuses.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { prepareCrossEncode } from '../src/rerank.ts';
import { testGpu, VARIANTS } from './helpers/gpu.ts';
import { expectEmberError } from './helpers/errors.ts';
import { withPatchedFolder } from './helpers/folders.ts';
import { hfToGGUFFile } from '../models/hf_to_gguf.ts';
import { writeGGUF } from '../src/gguf/writer.ts';

const FOLDER = resolve(import.meta.dirname, 'fixtures/bert_reranker');
interface Case { query: string; document: string; ids: number[]; token_type_ids: number[]; logit: number; score: number; logit_all_type_0: number }
const oracle = JSON.parse(readFileSync(join(FOLDER, 'bert_reranker.cross_encoder.json'), 'utf8')) as { cases: Case[] };
const byQuery = [...new Set(oracle.cases.map((c) => c.query))].map((q) => ({ query: q, cases: oracle.cases.filter((c) => c.query === q) }));

/** Each query's pairs as the oracle's ids (the tokenizer's pair template) and their scores within 1e-6 of the oracle's. */
async function expectPairsAndScores(engine: Engine, cases: readonly Case[]): Promise<void> {
  for (const query of [...new Set(cases.map((c) => c.query))]) {
    const mine = cases.filter((c) => c.query === query);
    const r = prepareCrossEncode(query, mine.map((c) => c.document), {}, { tokenizer: engine.tokenizer, nCtx: 64, onePass: 64, config: engine.config });
    expect(r.seqs).toEqual(mine.map((c) => c.ids));
    const { scores } = await engine.rerank(query, mine.map((c) => c.document));
    mine.forEach((c, i) => expect(Math.abs(scores[i] - c.score), c.document).toBeLessThan(1e-6));
  }
}

async function expectScores(engine: Engine, tol: number) {
  for (const { query, cases } of byQuery) {
    const r = await engine.rerank(query, cases.map((c) => c.document));
    expect(r.promptTokens).toBe(cases.reduce((n, c) => n + c.ids.length, 0));
    cases.forEach((c, i) => expect(Math.abs(r.scores[i] - c.score), c.document).toBeLessThan(tol));
  }
}

describe.each(VARIANTS)('BERT cross-encoder folder (%s device)', (variant) => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(FOLDER, { gpu: await testGpu(variant), kvCache: 'f32' });
  });
  afterAll(() => engine?.dispose());

  it('pairs the query and each document as the tokenizer\'s pair template does, the document of token type 1', () => {
    expect([engine.config.arch, engine.config.pooling, engine.config.tokenTypes]).toEqual(['bert', 'rank', 2]);
    for (const c of oracle.cases) {
      const r = prepareCrossEncode(c.query, [c.document], {}, { tokenizer: engine.tokenizer, nCtx: 64, onePass: 64, config: engine.config });
      expect(r.seqs[0], c.document).toEqual(c.ids);
      expect(r.segmentB[0]).toBe(c.token_type_ids.indexOf(1));
    }
  });

  it('with truncate, cuts a pair past the model\'s positions as the tokenizers library\'s longest_first does', () => {
    // (tokenizers 0.23 on this vocabulary, max_length 12, strategy longest_first: the ids and the first of type 1)
    const cases: [string, string, number[], number][] = [
      ['What is the capital of China?', 'The capital of China is Beijing.', [2, 70, 46, 63, 38, 3, 63, 38, 50, 40, 46, 3], 6],
      ['a', 'Lily wanted to play with the big red ball under the tree', [2, 9, 3, 47, 69, 65, 55, 71, 63, 37, 58, 3], 3],
      ['Lily wanted to play with the big red ball under the tree', 'a', [2, 47, 69, 65, 55, 71, 63, 37, 58, 3, 9, 3], 10],
    ];
    for (const [query, doc, ids, segmentB] of cases) {
      const target = { tokenizer: engine.tokenizer, nCtx: 12, onePass: 64, config: engine.config };
      expect(() => prepareCrossEncode(query, [doc], {}, target)).toThrow(/past the 12 this model takes in one pass/);
      const r = prepareCrossEncode(query, [doc], { truncate: true }, target);
      expect([r.seqs[0], r.segmentB[0]], query).toEqual([ids, segmentB]);
    }
  });

  it('scores each pair as CrossEncoder.predict does (the sigmoid of its logit)', async () => {
    await expectScores(engine, 1e-6);
    // (the document's token type counts: with every token of type 0 the logits differ by 0.1 to 3.7)
    expect(Math.max(...oracle.cases.map((c) => Math.abs(c.logit - c.logit_all_type_0)))).toBeGreaterThan(1);
  });

  it('refuses to embed, to generate and an instruction; a pair past the context; then scores', async () => {
    await expectEmberError(() => engine.embed('a'), 'UNSUPPORTED', /a cross-encoder: engine.rerank scores \(query, document\) pairs/);
    await expectEmberError(() => engine.complete('a', { maxTokens: 1 }), 'UNSUPPORTED', /attends both ways/);
    await expectEmberError(() => engine.rerank('a', ['b'], { instruction: 'x' }), 'BAD_ARGUMENT', /instruction .*a cross-encoder, which takes the query and the document alone/);
    await expectEmberError(() => engine.rerank('a', ['b', 'the park '.repeat(40)]), 'CONTEXT_OVERFLOW', /documents\[1\] makes a pair of \d+ tokens with the query, past the 64/);
    await expectScores(engine, 1e-6);
  });
});

describe('BERT cross-encoder, other loads', () => {
  it('with the default f16 K/V cache', async () => {
    const engine = await Engine.load(FOLDER, { gpu: await testGpu() });
    try {
      await expectScores(engine, 1e-4);
    } finally {
      await engine.dispose();
    }
  });

  it('its GGUF (bert, pooling_type rank, the head as cls and cls.output) scores alike', async () => {
    const file = await hfToGGUFFile(FOLDER);
    expect(file.metadata.find(([k]) => k === 'bert.pooling_type')?.[1].value).toBe(4);
    expect(file.tensors.filter((t) => t.name.startsWith('cls')).map((t) => [t.name, ...t.ne])).toEqual([['cls.weight', 64, 64], ['cls.bias', 64], ['cls.output.weight', 64, 1], ['cls.output.bias', 1]]);
    const engine = await Engine.load(writeGGUF(file), { gpu: await testGpu(), kvCache: 'f32' });
    try {
      expect(engine.config.pooling).toBe('rank');
      await expectScores(engine, 1e-6);
    } finally {
      await engine.dispose();
    }
  });

  it('refuses a BertForSequenceClassification of two labels (not a reranker\'s)', async () => {
    await withPatchedFolder(FOLDER, { id2label: { 0: 'no', 1: 'yes' } }, async (dir) => {
      await expectEmberError(async () => Engine.load(dir, { gpu: await testGpu() }), 'UNSUPPORTED', /BertForSequenceClassification of 2 labels is not supported/);
    });
  });
});

describe('XLM-RoBERTa cross-encoder (bge-reranker\'s layout: <s> query </s></s> document </s>, one token type)', () => {
  const XLMR = resolve(import.meta.dirname, 'fixtures/xlm_roberta_reranker');
  const cases = (JSON.parse(readFileSync(join(XLMR, 'xlm_roberta_reranker.cross_encoder.json'), 'utf8')) as { cases: Case[] }).cases;

  it('pairs by the tokenizer\'s RobertaProcessing template and scores as the model does', async () => {
    const engine = await Engine.load(XLMR, { gpu: await testGpu(), kvCache: 'f32' });
    try {
      expect([engine.config.pooling, engine.config.tokenTypes, engine.config.positionOffset]).toEqual(['rank', 1, 1]);
      await expectPairsAndScores(engine, cases);
    } finally {
      await engine.dispose();
    }
  });
});

describe('ELECTRA cross-encoder (ms-marco-electra-base\'s layout: BERT under electra., a head of GELU)', () => {
  const ELECTRA = resolve(import.meta.dirname, 'fixtures/electra_reranker');
  const cases = (JSON.parse(readFileSync(join(ELECTRA, 'electra_reranker.cross_encoder.json'), 'utf8')) as { cases: Case[] }).cases;

  it('pairs as BERT does (the document of token type 1) and scores as CrossEncoder does: dense, GELU, out_proj over [CLS]', async () => {
    const engine = await Engine.load(ELECTRA, { gpu: await testGpu(), kvCache: 'f32' });
    try {
      expect([engine.config.pooling, engine.config.tokenTypes, engine.config.classifierAct]).toEqual(['rank', 2, 'gelu']);
      await expectPairsAndScores(engine, cases);
    } finally {
      await engine.dispose();
    }
  });

  it('refuses an embedding_size other than hidden_size (ELECTRA-small\'s embeddings_project), naming it', async () => {
    await withPatchedFolder(ELECTRA, { embedding_size: 32 }, async (dir) => {
      await expectEmberError(async () => Engine.load(dir, { gpu: await testGpu() }), 'UNSUPPORTED', /embedding_size 32 is not supported/);
    });
  });
});
