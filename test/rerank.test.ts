/**
 * Engine.rerank against transformers (test/fixtures/qwen3_reranker, made by test/fixtures/make_reranker_oracle.py):
 * Qwen3-Reranker's recipe (its model card's prompt around each pair, P("yes") against "no" at the last position) on
 * hf-oracle/llama-smollm2-bf16, whose tokenizer has the two words and the ChatML markers; the shared prefix through the
 * KV cache; aborts, refusals, and a generation beside it.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { hfOracleFolder, sharedModelPath } from './helpers/models.ts';
import { testGpu, VARIANTS } from './helpers/gpu.ts';
import { expectEmberError } from './helpers/errors.ts';

interface Case { instruction: string | null; query: string; document: string; ids: number[]; logit_yes: number; logit_no: number; score: number }
const oracle = JSON.parse(readFileSync(resolve(import.meta.dirname, 'fixtures/qwen3_reranker/qwen3_reranker.transformers.json'), 'utf8')) as { cases: Case[] };
const GREEDY = { temperature: 0, topK: 0, topP: 1 };
const logOdds = (p: number) => Math.log(p / (1 - p));

describe.each(VARIANTS)('rerank, Qwen3-Reranker\'s recipe (%s device)', (variant) => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(hfOracleFolder('llama-smollm2-bf16'), { gpu: await testGpu(variant), contextLength: 256, kvCache: 'f32', quant: 'f32' });
  });
  afterAll(() => engine?.dispose());

  it('scores each document as transformers does: P(yes) against no, in document order', async () => {
    const plain = oracle.cases.filter((c) => c.instruction === null);
    for (const query of new Set(plain.map((c) => c.query))) {
      const cases = plain.filter((c) => c.query === query);
      const r = await engine.rerank(query, cases.map((c) => c.document));
      expect(r.promptTokens).toBe(cases.reduce((n, c) => n + c.ids.length, 0));
      r.scores.forEach((s, i) => expect(Math.abs(logOdds(s) - (cases[i].logit_yes - cases[i].logit_no)), cases[i].document).toBeLessThan(1e-4)); // (3e-6 measured)
    }
    const c = oracle.cases.find((x) => x.instruction !== null)!;
    const [s] = (await engine.rerank(c.query, [c.document], { instruction: c.instruction! })).scores;
    expect(Math.abs(s - c.score)).toBeLessThan(1e-5);
  });

  it('gives the same scores whatever the KV cache held before, and a generation between is unchanged', async () => {
    const c = oracle.cases[0];
    const solo = (await engine.complete('Once upon a time', { ...GREEDY, maxTokens: 8 })).ids;
    const [a] = (await engine.rerank(c.query, [c.document])).scores;
    const [b] = (await engine.rerank(c.query, [c.document])).scores; // its prompt whole in the cache: the last token runs
    expect(b).toBe(a);
    expect((await engine.complete('Once upon a time', { ...GREEDY, maxTokens: 8 })).ids).toEqual(solo);
  });
});

describe('rerank refusals', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(hfOracleFolder('llama-smollm2-bf16'), { gpu: await testGpu(), contextLength: 128 });
  });
  afterAll(() => engine?.dispose());

  it('refuses bad arguments, a pair past the context and an aborted signal, and reranks after', async () => {
    await expectEmberError(() => engine.rerank(42 as never, ['a']), 'BAD_ARGUMENT', /the query must be a string/);
    await expectEmberError(() => engine.rerank('q', []), 'BAD_ARGUMENT', /the documents must be a non-empty array of strings/);
    await expectEmberError(() => engine.rerank('q', ['a', 7 as never]), 'BAD_ARGUMENT', /the documents must be a non-empty array of strings/);
    await expectEmberError(() => engine.rerank('q', ['a'], { instruction: 3 as never }), 'BAD_ARGUMENT', /instruction must be a string/);
    await expectEmberError(() => engine.rerank('q', ['a', 'word '.repeat(200)]), 'CONTEXT_OVERFLOW', /documents\[1\] makes a prompt of \d+ tokens, past the context of 128/);
    const ac = new AbortController();
    ac.abort();
    const e = await expectEmberError(() => engine.rerank('q', ['a', 'b'], { signal: ac.signal }), 'ABORTED', /the reranking was aborted after 0 of 2 inputs/);
    expect(e.details.done).toBe(0);
    expect((await engine.rerank('q', ['a', 'b'])).scores).toHaveLength(2);
  });

  it('reports progress after each document (and embed after each pass, of one input or several); a progress that is not a function is refused', async () => {
    const calls: [number, number][] = [];
    await engine.rerank('q', ['a', 'b', 'c'], { onProgress: (done, total) => calls.push([done, total]) });
    expect(calls).toEqual([[1, 3], [2, 3], [3, 3]]);
    const embedded: [number, number][] = [];
    await engine.embed(['a', 'b', 'c'], { onProgress: (done, total) => embedded.push([done, total]) });
    expect(embedded.at(-1)).toEqual([3, 3]);
    expect(embedded.every(([done], i) => i === 0 || done > embedded[i - 1][0])).toBe(true);
    await expectEmberError(() => engine.rerank('q', ['a'], { onProgress: 'yes' as never }), 'BAD_ARGUMENT', /onProgress must be a function \(done, total\) => void/);
  });

  it('refuses a tokenizer without single "yes" and "no" tokens', async () => {
    const stories = await Engine.load(sharedModelPath('stories260K/stories260K.gguf'), { gpu: await testGpu(), contextLength: 64 });
    try {
      await expectEmberError(() => stories.rerank('q', ['a']), 'UNSUPPORTED', /reranking scores the tokens "yes" and "no", but this tokenizer spells "yes" with \d+ tokens/);
    } finally {
      await stories.dispose();
    }
  });
});

it('a device lost while reranking: DEVICE with the documents done; recover() and the same scores again', async () => {
  const c = oracle.cases[0];
  const engine = await Engine.load(hfOracleFolder('llama-smollm2-bf16'), { contextLength: 256, kvCache: 'f32', quant: 'f32' }); // a device of its own
  try {
    const [want] = (await engine.rerank(c.query, [c.document])).scores;
    const docs = Array.from({ length: 400 }, (_, i) => `${c.document} (${i})`);
    const running = engine.rerank(c.query, docs);
    setTimeout(() => engine.model.gpu.device.destroy(), 50);
    const err = await expectEmberError(() => running, 'DEVICE', /the GPU device was lost \(.*\) after \d+ of 400 inputs; engine.recover\(\)/);
    expect(err.details.done).toBeLessThan(400);
    await expectEmberError(() => engine.rerank(c.query, [c.document]), 'DEVICE', /lost/);
    await engine.recover();
    expect((await engine.rerank(c.query, [c.document])).scores[0]).toBe(want);
    expect((await engine.embed('Once upon a time')).embeddings[0]).toHaveLength(engine.config.nEmbd);
  } finally {
    await engine.dispose();
  }
});
