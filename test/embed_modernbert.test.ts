/**
 * Engine.embed against sentence-transformers on a ModernBERT folder (test/fixtures/modernbert, made by
 * test/fixtures/make_modernbert_oracle.py): modernbert-embed's and gte-modernbert's layout, a ModernBertModel (pre-norm
 * LayerNorms without biases, RoPE with a base for the global layers and one for the local ones, attention both ways
 * and within a window on either side in the local layers, GeGLU by erf) under mean pooling and Normalize; the same
 * model from transformers v4's config keys and from a ModernBertFor* checkpoint's `model.` names; what it refuses; a
 * ModernBERT cross-encoder (test/fixtures/modernbert_reranker: gte-reranker-modernbert-base's layout) against CrossEncoder.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { testGpu, VARIANTS } from './helpers/gpu.ts';
import { expectEmberError } from './helpers/errors.ts';
import { cosine, maxDiff } from './helpers/vectors.ts';
import { hfToGGUFFile } from '../models/hf_to_gguf.ts';
import { readSafetensors, readTensorBytes } from '../src/hf/safetensors.ts';
import { encodeSafetensors } from '../src/hf/safetensors_writer.ts';
import { sourceFromBuffer } from '../src/gguf/source.ts';

const FOLDER = resolve(import.meta.dirname, 'fixtures/modernbert');
const RERANKER = resolve(import.meta.dirname, 'fixtures/modernbert_reranker');
interface Case { text: string; ids: number[]; embedding: number[] }
const oracle = JSON.parse(readFileSync(join(FOLDER, 'modernbert.sentence_transformers.json'), 'utf8')) as { cases: Case[] };
const texts = oracle.cases.map((c) => c.text);

/** The engine's ids and embeddings for the oracle's texts, all in one call: the same ids, embeddings within `tol`. */
async function expectOracle(engine: Engine, tol = 1e-5): Promise<void> {
  const r = await engine.embed(texts);
  for (const [i, c] of oracle.cases.entries()) {
    expect([...engine.tokenize(c.text), ...engine.tokenizer.endIds], c.text).toEqual(c.ids);
    expect(maxDiff(r.embeddings[i], c.embedding), c.text).toBeLessThan(tol);
  }
}

/** A copy of the fixture (or of `from`), `edit` run on it; removed after `use`. */
async function withCopy(edit: (dir: string) => void | Promise<void>, use: (dir: string) => Promise<void>, from = FOLDER): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'emberlm-modernbert-'));
  try {
    cpSync(from, dir, { recursive: true, dereference: true });
    await edit(dir);
    await use(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const editJson = (dir: string, file: string, edit: (json: Record<string, unknown>) => unknown) =>
  writeFileSync(join(dir, file), JSON.stringify(edit(JSON.parse(readFileSync(join(dir, file), 'utf8')))));

/** Loads `dir`, runs `use`, disposes. */
async function withEngine(dir: string, use: (e: Engine) => Promise<void>, opts: Parameters<typeof Engine.load>[1] = {}): Promise<void> {
  const engine = await Engine.load(dir, { gpu: await testGpu(), kvCache: 'f32', ...opts });
  try {
    await use(engine);
  } finally {
    await engine.dispose();
  }
}

describe.each(VARIANTS)('ModernBERT folder (%s device)', (variant) => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(FOLDER, { gpu: await testGpu(variant), kvCache: 'f32' });
  });
  afterAll(() => engine?.dispose());

  it('reads a pre-norm encoder: LayerNorms, global and local layers with their own RoPE bases, GeGLU by erf, mean pooling', () => {
    const c = engine.config;
    expect([c.arch, c.layerNorms, c.postLayerNorms, c.preNorms, c.bidirectional, c.ffnGated, c.ffnAct, c.pooling]).toEqual(['modern-bert', true, false, true, true, true, 'gelu', 'mean']);
    // local_attention 8: keys less than 8 / 2 + 1 away on either side, in every layer but each 3rd from the first
    expect([c.layerWindow, c.ropeBase, c.ropeBaseLocal, c.eps, c.nRot, c.ropeNeox]).toEqual([[0, 5, 5, 0], 160000, 10000, 1e-5, 16, true]);
  });

  it('gives sentence-transformers\' embeddings, a list in one call (several inputs a pass) and each text alone', async () => {
    await expectOracle(engine);
    engine.tuning.batchInputs = false;
    try {
      const long = oracle.cases.at(-1)!; // (40 tokens: the local layers' windows cut its attention)
      const [e] = (await engine.embed(long.text)).embeddings;
      expect(maxDiff(e, long.embedding)).toBeLessThan(1e-5);
    } finally {
      engine.tuning.batchInputs = true;
    }
  });

  it('does not generate or rerank, refuses an input past its context, and embeds after', async () => {
    await expectEmberError(() => engine.complete('Once upon a time', { maxTokens: 2 }), 'UNSUPPORTED', /attends both ways.*does not generate/);
    await expectEmberError(() => engine.rerank('a', ['b']), 'UNSUPPORTED', /does not rerank/);
    await expectEmberError(() => engine.embed(['a', 'the park '.repeat(40)]), 'CONTEXT_OVERFLOW', /input\[1\] is \d+ tokens, past the context of 64/);
    const [e] = (await engine.embed(oracle.cases[1].text)).embeddings;
    expect(maxDiff(e, oracle.cases[1].embedding)).toBeLessThan(1e-5);
  });
});

describe('ModernBERT folder, other loads', () => {
  it('with the default f16 K/V cache, and weights as int8-g32 (Q8_0): near sentence-transformers\'', async () => {
    for (const [quant, tol, cos] of [['auto', 5e-4, 0.99999], ['int8-g32', 3e-2, 0.999]] as const) {
      await withEngine(FOLDER, async (engine) => {
        const r = await engine.embed(texts);
        for (const [i, p] of oracle.cases.entries()) {
          expect(maxDiff(r.embeddings[i], p.embedding), `${quant}: ${p.text}`).toBeLessThan(tol);
          expect(cosine(r.embeddings[i], p.embedding), `${quant}: ${p.text}`).toBeGreaterThan(cos);
        }
      }, { quant, kvCache: 'f16' });
    }
  });

  it('by default holds one pass\'s K/V: an 8,192-token model\'s context is its 2,048-token pass (maxBatch)', async () => {
    await withCopy((d) => editJson(d, 'config.json', (c) => ({ ...c, max_position_embeddings: 8192 })), (d) => withEngine(d, async (engine) => {
      expect([engine.model.nCtx, engine.model.maxBatch]).toEqual([2048, 2048]);
      await expectEmberError(() => engine.embed([Array.from({ length: 2049 }, () => 5)]), 'CONTEXT_OVERFLOW', /past the context of 2048/);
    }));
  });

  it('reads transformers v4\'s keys (global_rope_theta, local_rope_theta, global_attn_every_n_layers; no layer_types), as published checkpoints have them', async () => {
    await withCopy(
      (d) => editJson(d, 'config.json', ({ layer_types: _t, rope_parameters: _r, ...c }) => ({ ...c, global_rope_theta: 160000, local_rope_theta: 10000, global_attn_every_n_layers: 3 })),
      (d) => withEngine(d, async (engine) => {
        expect([engine.config.layerWindow, engine.config.ropeBase, engine.config.ropeBaseLocal]).toEqual([[0, 5, 5, 0], 160000, 10000]);
        await expectOracle(engine);
      }),
    );
  });

  it('reads a ModernBertFor* checkpoint (its encoder under model., a head beside it), and pools the mean without modules.json', async () => {
    const edit = async (d: string) => {
      const file = join(d, 'model.safetensors');
      const st = await readSafetensors(sourceFromBuffer(new Uint8Array(readFileSync(file)), 'model.safetensors'));
      const tensors = await Promise.all([...st.tensors.values()].map(async (t) => ({ name: `model.${t.name}`, dtype: t.dtype, shape: [...t.shape], bytes: await readTensorBytes(t) })));
      tensors.push({ name: 'head.dense.weight', dtype: 'F32', shape: [64, 64], bytes: new Uint8Array(64 * 64 * 4) }, { name: 'decoder.bias', dtype: 'F32', shape: [4], bytes: new Uint8Array(16) });
      writeFileSync(file, encodeSafetensors(tensors));
      editJson(d, 'config.json', (c) => ({ ...c, architectures: ['ModernBertForMaskedLM'] }));
      rmSync(join(d, 'modules.json'));
    };
    await withCopy(edit, (d) => withEngine(d, async (engine) => {
      expect(engine.config.pooling).toBeUndefined();
      await expectOracle(engine); // (sentence-transformers' own default for a bare encoder: mean, then Normalize)
    }));
  });

  it('refuses LayerNorm biases, a classifier of several labels or another activation, biased projections and writing a GGUF', async () => {
    const refused = async (edit: (c: Record<string, unknown>) => unknown, message: RegExp, from = FOLDER) =>
      withCopy((d) => editJson(d, 'config.json', edit), async (d) => {
        await expectEmberError(async () => Engine.load(d, { gpu: await testGpu() }), 'UNSUPPORTED', message);
      }, from);
    await refused((c) => ({ ...c, norm_bias: true }), /norm_bias true .* is not supported for ModernBERT/);
    await refused((c) => ({ ...c, id2label: { 0: 'a', 1: 'b' } }), /ModernBertForSequenceClassification of 2 labels is not supported/, RERANKER);
    await refused((c) => ({ ...c, classifier_activation: 'tanh' }), /classifier_activation "tanh" is not supported/, RERANKER);
    await refused((c) => ({ ...c, mlp_bias: true }), /mlp_bias true is not supported/);
    await expectEmberError(() => hfToGGUFFile(FOLDER), 'UNSUPPORTED', /ModernBERT folders are not written to GGUF/);
  });
});

describe('ModernBERT cross-encoder (gte-reranker-modernbert-base\'s layout: a head over the rows\' mean)', () => {
  interface Pair { query: string; document: string; score: number }
  const scored = (file: string) => (JSON.parse(readFileSync(join(RERANKER, file), 'utf8')) as { cases: Pair[] }).cases;
  /** Engine.rerank's scores for each query of `pairs` against CrossEncoder.predict's, within 1e-6. */
  async function expectScores(engine: Engine, pairs: readonly Pair[]): Promise<void> {
    for (const query of new Set(pairs.map((p) => p.query))) {
      const mine = pairs.filter((p) => p.query === query);
      const { scores } = await engine.rerank(query, mine.map((p) => p.document));
      mine.forEach((p, i) => expect(Math.abs(scores[i] - p.score), p.document).toBeLessThan(1e-6));
    }
  }

  it('scores as CrossEncoder does, by the mean of every row (classifier_pooling mean) and by [CLS] (cls); does not embed', async () => {
    await withEngine(RERANKER, async (engine) => {
      expect([engine.config.pooling, engine.config.classifierPooling, engine.model.embedRows]).toEqual(['rank', 'mean', 'all']);
      await expectScores(engine, scored('modernbert_reranker.cross_encoder.json'));
      await expectEmberError(() => engine.embed('a'), 'UNSUPPORTED', /pooled by rank \(pooling_type: a cross-encoder/);
    });
    await withCopy((d) => editJson(d, 'config.json', (c) => ({ ...c, classifier_pooling: 'cls' })), (d) => withEngine(d, async (engine) => {
      expect(engine.model.embedRows).toBe('first');
      await expectScores(engine, scored('modernbert_reranker.cls.cross_encoder.json'));
    }), RERANKER);
  });
});
