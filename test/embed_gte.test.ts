/**
 * GTE v1.5 (Alibaba-NLP's NewModel, transformers' GteModel: BERT's post-norm encoder with RoPE, fused q|k|v with biases
 * and a GeGLU FFN) against transformers and sentence-transformers (test/fixtures/gte*, made by
 * test/fixtures/make_gte_oracle.py): gte-multilingual-base's layout (model_type new, and the same weights as transformers
 * saves them, model_type gte), gte-base-en-v1.5's (no token types, NewModel's fixed NTK RoPE scaling), and
 * gte-multilingual-reranker-base's cross-encoder; what such a model refuses.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { configFromHF } from '../src/hf/config.ts';
import { hfToGGUFFile } from '../models/hf_to_gguf.ts';
import { testGpu, VARIANTS } from './helpers/gpu.ts';
import { expectEmberError } from './helpers/errors.ts';
import { maxDiff } from './helpers/vectors.ts';

const FIXTURES = resolve(import.meta.dirname, 'fixtures');
interface Case { text: string; ids: number[]; embedding: number[] }
interface Pair { query: string; document: string; ids: number[]; score: number }
const oracleOf = (name: string) => JSON.parse(readFileSync(join(FIXTURES, name, `${name}.sentence_transformers.json`), 'utf8')) as { cases: Case[] };
const rerankOracle = JSON.parse(readFileSync(join(FIXTURES, 'gte_reranker/gte_reranker.cross_encoder.json'), 'utf8')) as { cases: Pair[] };
const readConfig = (name: string) => JSON.parse(readFileSync(join(FIXTURES, name, 'config.json'), 'utf8')) as Record<string, unknown>;

/** A copy of fixture `name` with its config.json changed by `edit`, for `use`; removed after. */
async function withConfig(name: string, edit: (c: Record<string, unknown>) => Record<string, unknown>, use: (dir: string) => Promise<void>) {
  const dir = mkdtempSync(join(tmpdir(), 'emberlm-gte-'));
  try {
    cpSync(join(FIXTURES, name), dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(edit(readConfig(name))));
    await use(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function expectEmbeddings(engine: Engine, cases: Case[], tol: number) {
  const r = await engine.embed(cases.map((c) => c.text));
  for (const [i, c] of cases.entries()) {
    expect([...engine.tokenize(c.text), ...engine.tokenizer.endIds], c.text).toEqual(c.ids);
    expect(maxDiff(r.embeddings[i], c.embedding), c.text).toBeLessThan(tol);
  }
}

describe('GTE\'s config.json', () => {
  it('reads NewConfig and GteConfig alike: BERT\'s post-norm layout, RoPE, biases, GeGLU by erf', () => {
    for (const name of ['gte', 'gte_hf']) {
      const { config: c } = configFromHF(readConfig(name), name);
      expect([c.arch, c.postLayerNorms, c.learnedPositions, c.preNorms, c.bidirectional, c.qkvBias, c.ffnGated, c.ffnAct, c.tokenTypes, c.ropeBase, c.ropeNeox, c.contextTrain, c.eps], name)
        .toEqual(['bert', true, false, false, true, true, true, 'gelu', 1, 160000, true, 128, 1e-12]);
      expect(c.layerRope.every(Boolean)).toBe(true);
    }
  });

  it('runs NewModel\'s fixed NTK scaling as linear scaling by f^(2/d) at rope_theta theta f', () => {
    const { config: c } = configFromHF(readConfig('gte_en'), 'gte_en');
    expect([c.tokenTypes, c.ropeBase, c.ropeScaling.type]).toEqual([0, 1e6, 'linear']);
    expect(c.ropeScaling.factor).toBeCloseTo(2 ** (2 / 16), 12);
    const unscaled = configFromHF({ ...readConfig('gte_en'), rope_scaling: { type: 'ntk', factor: 1 } }, 'gte_en').config;
    expect([unscaled.ropeBase, unscaled.ropeScaling.type]).toEqual([500000, 'none']);
  });
});

describe.each(VARIANTS)('GTE folders (%s device)', (variant) => {
  const engines: Engine[] = [];
  const load = async (name: string) => {
    const e = await Engine.load(join(FIXTURES, name), { gpu: await testGpu(variant), kvCache: 'f32' });
    engines.push(e);
    return e;
  };
  afterAll(() => engines.forEach((e) => e.dispose()));

  it('gte-multilingual-base\'s layout gives sentence-transformers\' ids and embeddings, as NewModel and as transformers saves it', async () => {
    const cases = oracleOf('gte').cases;
    expect(cases.at(-1)!.ids.length).toBeGreaterThan(100);
    for (const name of ['gte', 'gte_hf']) await expectEmbeddings(await load(name), cases, 1e-5); // (measured 1.2e-7)
  });

  it('gte-base-en-v1.5\'s layout (no token types, NTK scaling) gives sentence-transformers\' embeddings, each text alone too', async () => {
    const engine = await load('gte_en');
    const cases = oracleOf('gte_en').cases;
    await expectEmbeddings(engine, cases, 1e-5); // (measured 1.2e-7)
    engine.tuning.batchInputs = false;
    try {
      for (const c of cases) expect(maxDiff((await engine.embed(c.text)).embeddings[0], c.embedding), c.text).toBeLessThan(1e-5);
    } finally {
      engine.tuning.batchInputs = true;
    }
  });

  it('gte-multilingual-reranker-base\'s layout scores each pair as transformers does', async () => {
    const engine = await load('gte_reranker');
    expect([engine.config.pooling, engine.config.tokenTypes]).toEqual(['rank', 1]);
    for (const query of new Set(rerankOracle.cases.map((c) => c.query))) {
      const cases = rerankOracle.cases.filter((c) => c.query === query);
      const r = await engine.rerank(query, cases.map((c) => c.document));
      expect(r.promptTokens).toBe(cases.reduce((n, c) => n + c.ids.length, 0));
      cases.forEach((c, i) => expect(Math.abs(r.scores[i] - c.score), c.document).toBeLessThan(1e-6));
    }
  });
});

describe('GTE, what counts and what is refused', () => {
  it('NTK scaling moves the embeddings (the oracle sees it)', async () => {
    const cases = oracleOf('gte_en').cases;
    await withConfig('gte_en', (c) => ({ ...c, rope_scaling: null }), async (dir) => {
      const engine = await Engine.load(dir, { gpu: await testGpu(), kvCache: 'f32' });
      try {
        const r = await engine.embed(cases.map((c) => c.text));
        expect(Math.max(...cases.map((c, i) => maxDiff(r.embeddings[i], c.embedding)))).toBeGreaterThan(1e-3);
      } finally {
        engine.dispose();
      }
    });
  });

  it('what NewModel runs otherwise, and writing its GGUF', async () => {
    const refused: [Record<string, unknown>, RegExp][] = [
      [{ logn_attention_scale: true }, /logn_attention_scale true is not supported/],
      [{ layer_norm_type: 'rms_norm' }, /layer_norm_type "rms_norm" is not supported/],
      [{ position_embedding_type: 'absolute' }, /position_embedding_type "absolute" is not supported/],
      [{ pack_qkv: false }, /pack_qkv false is not supported/],
      [{ rope_scaling: { type: 'ntk', factor: 2, mixed_b: 0.6 } }, /rope_scaling .* is not supported \(emberlm runs GTE with fixed NTK scaling/],
      [{ hidden_act: 'silu' }, /hidden_act "silu" is not supported/],
    ];
    for (const [edit, message] of refused) expect(() => configFromHF({ ...readConfig('gte'), ...edit }, 'gte'), JSON.stringify(edit)).toThrow(message);
    expect(() => configFromHF({ ...readConfig('gte'), rope_scaling: { type: 'ntk', factor: 'two' } }, 'gte')).toThrow(/rope_scaling.factor is "two"/);
    await expectEmberError(() => hfToGGUFFile(join(FIXTURES, 'gte')), 'UNSUPPORTED', /nomic-bert, GTE and jina-bert-v2 folders are not written to GGUF/);
  });

  it('an up_gate_proj of other rows than intermediate_size, named by its half', async () => {
    await withConfig('gte', (c) => ({ ...c, intermediate_size: 95 }), async (dir) => {
      await expectEmberError(async () => Engine.load(dir, { gpu: await testGpu() }), 'BAD_MODEL', /up_gate_proj\.weight \(its (first|second) half\) has shape \[96, 64\], expected \[95, 64\]/);
    });
  });
});
