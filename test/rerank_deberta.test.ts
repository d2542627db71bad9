/**
 * Engine.rerank by a DeBERTa-v3 cross-encoder against transformers (test/fixtures/deberta_reranker, made by
 * test/fixtures/make_deberta_oracle.py): mxbai-rerank-*-v1's layout, a DebertaV2ForSequenceClassification of one label,
 * whose attention adds each pair of tokens' disentangled terms (c2p, p2c) by their log position bucket; pairs of 6 to
 * 92 tokens, past the exact buckets. The buckets themselves against transformers' for mxbai-rerank's configuration, and
 * the configurations emberlm refuses.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { configFromHF } from '../src/hf/config.ts';
import { prepareCrossEncode } from '../src/rerank.ts';
import { debertaBucket } from '../src/model/relative_bias.ts';
import { testGpu, VARIANTS } from './helpers/gpu.ts';
import { expectEmberError } from './helpers/errors.ts';
import { withPatchedFolder } from './helpers/folders.ts';

const FOLDER = resolve(import.meta.dirname, 'fixtures/deberta_reranker');
interface Case { query: string; document: string; ids: number[]; logit: number; score: number }
interface Embedding { text: string; ids: number[]; mean: number[] }
const oracle = JSON.parse(readFileSync(join(FOLDER, 'deberta_reranker.cross_encoder.json'), 'utf8')) as { cases: Case[]; embeddings: Embedding[]; buckets: Record<string, number[]> & { reach: number } };
const byQuery = [...new Set(oracle.cases.map((c) => c.query))].map((q) => ({ query: q, cases: oracle.cases.filter((c) => c.query === q) }));
const config = JSON.parse(readFileSync(join(FOLDER, 'config.json'), 'utf8')) as Record<string, unknown>;

async function worstScoreError(engine: Engine): Promise<number> {
  let worst = 0;
  for (const { query, cases } of byQuery) {
    const r = await engine.rerank(query, cases.map((c) => c.document));
    expect(r.promptTokens).toBe(cases.reduce((n, c) => n + c.ids.length, 0));
    cases.forEach((c, i) => (worst = Math.max(worst, Math.abs(r.scores[i] - c.score))));
  }
  return worst;
}

describe('DeBERTa-v3 cross-encoder (mxbai-rerank-v1\'s layout: disentangled attention, a ContextPooler of GELU)', () => {
  it('buckets relative positions as transformers does (make_log_bucket_position), at mxbai-rerank\'s 256 / 512 and the fixture\'s 8 / 128', () => {
    const { reach } = oracle.buckets;
    for (const [key, buckets, max] of [['256/512', 256, 512], ['8/128', 8, 128]] as const) {
      const mine = Array.from({ length: 2 * reach + 1 }, (_, i) => debertaBucket(i - reach, buckets, max));
      expect(mine, key).toEqual(oracle.buckets[key]);
    }
  });

  it('reads config.json: no positions, no token types, the scores scaled by 1 / sqrt(3 head_dim), a cross-encoder', () => {
    const c = configFromHF(config).config;
    expect([c.arch, c.learnedPositions, c.tokenTypes, c.pooling, c.disentangled]).toEqual(['bert', false, 0, 'rank', { buckets: 8, maxPosition: 128 }]);
    expect(c.attnScale).toBeCloseTo(1 / Math.sqrt(3 * 16), 12);
    // DeBERTa-v2's configs write pos_att_type as "p2c|c2p"; max_relative_positions past 0 is what the buckets reach
    expect(configFromHF({ ...config, pos_att_type: 'p2c|c2p', max_relative_positions: 300 }).config.disentangled).toEqual({ buckets: 8, maxPosition: 300 });
  });

  it.each([
    ['position_biased_input', true], ['share_att_key', false], ['relative_attention', false], ['conv_kernel_size', 3],
    ['pos_att_type', ['c2p']], ['norm_rel_ebd', 'none'], ['pooler_hidden_act', 'tanh'], ['embedding_size', 128], ['position_buckets', -1],
  ])('refuses %s %j (UNSUPPORTED, naming it)', async (field, value) => {
    await expectEmberError(() => configFromHF({ ...config, [field]: value }), 'UNSUPPORTED', new RegExp(field));
  });

  it('refuses buckets that reach past the positions (BAD_MODEL) and a rel_embeddings of another size, naming the field or tensor', async () => {
    await expectEmberError(() => configFromHF({ ...config, max_relative_positions: 5 }), 'BAD_MODEL', /max_relative_positions is 5/);
    await withPatchedFolder(FOLDER, { position_buckets: 16 }, async (dir) => {
      await expectEmberError(async () => (await Engine.load(dir, { gpu: await testGpu() })).dispose(), 'BAD_MODEL', /rel_embeddings/);
    });
  });

  describe.each(VARIANTS)('(%s kernels)', (variant) => {
    it('pairs by the tokenizer\'s template and scores as transformers does (f32 K/V cache: within 1e-6)', async () => {
      const engine = await Engine.load(FOLDER, { gpu: await testGpu(variant), kvCache: 'f32' });
      try {
        for (const { query, cases } of byQuery) {
          const r = prepareCrossEncode(query, cases.map((c) => c.document), {}, { tokenizer: engine.tokenizer, nCtx: 128, onePass: 128, config: engine.config });
          expect(r.seqs).toEqual(cases.map((c) => c.ids));
        }
        expect(await worstScoreError(engine)).toBeLessThan(1e-6);
      } finally {
        await engine.dispose();
      }
    });
  });

  it('as an encoder (DebertaV2Model, no modules.json) embeds by the mean of its last hidden state (L2-normalised), as transformers computes it', async () => {
    // (a DebertaV2Model of one label's config: id2label and label2id stay, read by no model class but the classifier's)
    await withPatchedFolder(FOLDER, { architectures: ['DebertaV2Model'] }, async (dir) => {
      const engine = await Engine.load(dir, { gpu: await testGpu(), kvCache: 'f32' });
      try {
        const tok = engine.tokenizer;
        expect([...tok.encode(oracle.embeddings[0].text, { addBos: tok.addBos }), ...tok.endIds]).toEqual(oracle.embeddings[0].ids); // (as embed wraps a text)
        const got = (await engine.embed(oracle.embeddings.map((e) => e.text))).embeddings;
        let worst = 0;
        got.forEach((v, i) => {
          const mean = oracle.embeddings[i].mean, norm = Math.hypot(...mean); // (embed L2-normalises, as emberlm does without modules.json)
          mean.forEach((w, d) => (worst = Math.max(worst, Math.abs(v[d] - w / norm))));
        });
        expect(worst).toBeLessThan(1e-5);
      } finally {
        await engine.dispose();
      }
    });
  });

  it('with the default f16 K/V cache and int8 weights, close to transformers; embed is refused', async () => {
    const f16 = await Engine.load(FOLDER, { gpu: await testGpu() });
    try {
      expect(await worstScoreError(f16)).toBeLessThan(1e-4);
      await expectEmberError(() => f16.embed(['a']), 'UNSUPPORTED', /cross-encoder|rerank/);
    } finally {
      await f16.dispose();
    }
    const int8 = await Engine.load(FOLDER, { gpu: await testGpu(), quant: 'int8-g32', kvCache: 'f32' });
    try {
      expect(await worstScoreError(int8)).toBeLessThan(1e-2);
    } finally {
      await int8.dispose();
    }
  });
});
