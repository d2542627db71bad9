/**
 * Several inputs in one pass (Model.batched, src/model/pass_inputs.ts): an embedding model's texts side by side, each
 * token attending within its own input at its own positions, give what each gives alone, in one pass where they fit:
 * BERT (learned positions), XLM-R (positions from padding_idx + 1), DistilBERT, ModernBERT and EmbeddingGemma (RoPE,
 * windowed layers both ways), Qwen3-Embedding (causal, the last row an input) and the BERT, XLM-R and ModernBERT
 * cross-encoders (a pair's document of token type 1 where the model has types; ModernBERT's head over the mean of a
 * pair's rows); a model with recurrent layers runs one input a pass.
 */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { fitting } from '../src/per_input.ts';
import { testGpu } from './helpers/gpu.ts';
import { embeddingFolder, embeddingGemmaFolder, hfOracleFolder } from './helpers/models.ts';
import { maxDiff } from './helpers/vectors.ts';

const fixture = (name: string) => resolve(import.meta.dirname, 'fixtures', name);
const TEXTS = ['A man is eating.', 'The park', 'A cheetah runs fast.', 'ok', 'Two children play.'];

/** The queue submits (one a pass) while `run` runs. */
async function submits<T>(engine: Engine, run: () => Promise<T>): Promise<[T, number]> {
  const queue = engine.model.gpu.device.queue;
  const submit = queue.submit.bind(queue);
  let n = 0;
  queue.submit = (buffers) => {
    n++;
    submit(buffers);
  };
  try {
    return [await run(), n];
  } finally {
    queue.submit = submit;
  }
}

/** A copy of the EmbeddingGemma folder pooling its last token: both ways, one row an input read back. */
function gemmaLastToken(): string {
  const dir = mkdtempSync(join(tmpdir(), 'emberlm-gemma-last-'));
  cpSync(embeddingGemmaFolder(), dir, { recursive: true, dereference: true }); // (its files are links into the repository)
  const pooling = join(dir, '1_Pooling/config.json');
  writeFileSync(pooling, JSON.stringify({ ...JSON.parse(readFileSync(pooling, 'utf8')), pooling_mode_mean_tokens: false, pooling_mode_lasttoken: true }));
  return dir;
}

describe('several inputs a pass', () => {
  it.each([
    ['BERT', () => fixture('bert')],
    ['XLM-R', () => fixture('xlm_roberta')],
    ['DistilBERT', () => fixture('distilbert')],
    ['ModernBERT (RoPE, windowed layers both ways)', () => fixture('modernbert')],
    ['EmbeddingGemma', embeddingGemmaFolder],
    ['EmbeddingGemma with last-token pooling (both ways, one row an input)', gemmaLastToken],
    ['Qwen3-Embedding (causal, its last row)', embeddingFolder],
  ])('%s: a list in one pass gives each text\'s embedding alone', async (_, folder) => {
    const engine = await Engine.load(folder(), { gpu: await testGpu(), kvCache: 'f32', contextLength: 64 });
    try {
      expect(engine.model.batched).not.toBeNull();
      engine.tuning.passMs = Infinity; // passes of up to maxBatch tokens
      expect(TEXTS.reduce((n, t) => n + engine.tokenize(t).length + engine.tokenizer.endIds.length, 0)).toBeLessThanOrEqual(engine.model.maxBatch);
      const alone = [];
      for (const text of TEXTS) alone.push((await engine.embed(text)).embeddings[0]);
      const [r, passes] = await submits(engine, () => engine.embed(TEXTS));
      expect(passes).toBe(1);
      for (const [i, e] of r.embeddings.entries()) expect(maxDiff(e, alone[i]), TEXTS[i]).toBeLessThan(1e-6);
    } finally {
      await engine.dispose();
    }
  });

  it.each([['BERT', 'bert_reranker'], ['XLM-R', 'xlm_roberta_reranker'], ['ModernBERT (the mean of each pair\'s rows)', 'modernbert_reranker']])('%s cross-encoder: pairs in one pass score as each alone', async (_, name) => {
    const engine = await Engine.load(fixture(name), { gpu: await testGpu(), kvCache: 'f32' });
    try {
      engine.tuning.passMs = Infinity;
      const alone = [];
      const docs = TEXTS.slice(1); // (pairs of 58 tokens together: the fixture's maxBatch is 64)
      for (const doc of docs) alone.push((await engine.rerank('ok', [doc])).scores[0]);
      const [r, passes] = await submits(engine, () => engine.rerank('ok', docs));
      expect(passes).toBe(1);
      for (const [i, s] of r.scores.entries()) expect(Math.abs(s - alone[i]), docs[i]).toBeLessThan(1e-6);
    } finally {
      await engine.dispose();
    }
  });

  it('a tuned pass size bounds a batch: passes of about tuning.passMs, the first alone; batchInputs false: one a pass', async () => {
    const engine = await Engine.load(fixture('bert'), { gpu: await testGpu(), kvCache: 'f32' });
    try {
      const [r, passes] = await submits(engine, () => engine.embed(TEXTS));
      expect(r.embeddings).toHaveLength(TEXTS.length);
      expect(passes).toBeGreaterThan(1); // the first pass takes one input: its time sizes the next (PrefillPasses)
      expect(passes).toBeLessThan(TEXTS.length);
      const progress: number[] = [];
      await engine.embed(TEXTS, { onProgress: (done) => progress.push(done) }); // after each pass
      expect(progress.at(-1)).toBe(TEXTS.length);
      engine.tuning.batchInputs = false;
      expect((await submits(engine, () => engine.embed(TEXTS)))[1]).toBe(TEXTS.length);
      expect(() => (engine.tuning.batchInputs = 1 as never)).toThrow(/tuning.batchInputs must be true or false, got 1/);
    } finally {
      await engine.dispose();
    }
  });

  it('fitting: consecutive inputs within a pass\'s tokens, at least one', () => {
    const seqs = [[1, 2], [3], [4, 5, 6], [7]];
    expect([fitting(seqs, 0, 3), fitting(seqs, 0, 2), fitting(seqs, 2, 3), fitting(seqs, 2, 4), fitting(seqs, 2, 1), fitting(seqs, 0, 100)]).toEqual([2, 1, 1, 2, 1, 4]);
  });

  it('a model with recurrent layers runs one input a pass (LFM2: its convolutions\' state runs through a pass)', async () => {
    const engine = await Engine.load(hfOracleFolder('lfm2'), { gpu: await testGpu(), contextLength: 64 });
    try {
      expect(engine.model.batched).toBeNull();
      engine.tuning.passMs = Infinity;
      const [first] = (await engine.embed(TEXTS[0])).embeddings;
      const [r, passes] = await submits(engine, () => engine.embed(TEXTS));
      expect(passes).toBe(TEXTS.length);
      expect(maxDiff(r.embeddings[0], first)).toBe(0);
    } finally {
      await engine.dispose();
    }
  });
});
