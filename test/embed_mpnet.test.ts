/**
 * Engine.embed against sentence-transformers on an MPNet folder (test/fixtures/mpnet, made by
 * test/fixtures/make_mpnet_oracle.py): all-mpnet-base-v2's layout, an MPNetModel (BERT's post-norm encoder with
 * RoBERTa's positions, no token types, and a learned bias by relative position on every attention score, T5's
 * buckets) under mean pooling and Normalize; transformers' buckets; what it refuses.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { relativeBucket, relativeBiasTable } from '../src/model/relative_bias.ts';
import { MPNET_RELATIVE_BIAS } from '../src/hf/config_encoders.ts';
import { hfToGGUFFile } from '../models/hf_to_gguf.ts';
import { testGpu, VARIANTS } from './helpers/gpu.ts';
import { expectEmberError } from './helpers/errors.ts';
import { maxDiff } from './helpers/vectors.ts';

const FOLDER = resolve(import.meta.dirname, 'fixtures/mpnet');
interface Case { text: string; ids: number[]; embedding: number[] }
const oracle = JSON.parse(readFileSync(join(FOLDER, 'mpnet.sentence_transformers.json'), 'utf8')) as { cases: Case[]; buckets_from: number; buckets: number[] };
const texts = oracle.cases.map((c) => c.text);

describe('MPNet\'s relative position buckets', () => {
  it('are transformers\' for every key - query from -600 to 600', () => {
    const ours = oracle.buckets.map((_, i) => relativeBucket(oracle.buckets_from + i, MPNET_RELATIVE_BIAS.buckets, MPNET_RELATIVE_BIAS.maxDistance));
    expect(ours).toEqual(oracle.buckets);
  });

  it('fill a table over every distance of a pass, by head', () => {
    const weights = Float32Array.from({ length: 32 * 2 }, (_, i) => i); // bucket b, head h: 2b + h
    const t = relativeBiasTable(weights, 2, MPNET_RELATIVE_BIAS, 4); // R = 3: 7 distances a head
    expect(Array.from(t)).toEqual([...[-3, -2, -1, 0, 1, 2, 3].map((r) => 2 * relativeBucket(r, 32, 128)), ...[-3, -2, -1, 0, 1, 2, 3].map((r) => 2 * relativeBucket(r, 32, 128) + 1)]);
    expect([relativeBucket(0, 32, 128), relativeBucket(-1, 32, 128), relativeBucket(1, 32, 128), relativeBucket(-500, 32, 128), relativeBucket(500, 32, 128)]).toEqual([0, 1, 17, 15, 31]);
  });
});

describe.each(VARIANTS)('MPNet folder (%s device)', (variant) => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(FOLDER, { gpu: await testGpu(variant), kvCache: 'f32' });
  });
  afterAll(() => engine?.dispose());

  it('reads BERT\'s layout with RoBERTa\'s positions, no token types and the relative bias', () => {
    const c = engine.config;
    expect([c.arch, c.postLayerNorms, c.learnedPositions, c.bidirectional, c.positionOffset, c.tokenTypes, c.contextTrain, c.eps, c.pooling]).toEqual(['bert', true, true, true, 2, 0, 256, 1e-5, 'mean']);
    expect(c.relativeBias).toEqual({ buckets: 32, maxDistance: 128 });
  });

  it('gives sentence-transformers\' ids and embeddings, a list in one call (several inputs a pass) and each text alone', async () => {
    const r = await engine.embed(texts);
    for (const [i, c] of oracle.cases.entries()) {
      expect([...engine.tokenize(c.text), ...engine.tokenizer.endIds], c.text).toEqual(c.ids);
      expect(maxDiff(r.embeddings[i], c.embedding), c.text).toBeLessThan(1e-5); // (measured 6e-8; without the bias 6e-4 to 5e-3)
    }
    expect(oracle.cases.at(-1)!.ids.length).toBeGreaterThan(128); // (keys past max_distance: the last bucket)
    engine.tuning.batchInputs = false;
    try {
      for (const c of oracle.cases) expect(maxDiff((await engine.embed(c.text)).embeddings[0], c.embedding), c.text).toBeLessThan(1e-5);
    } finally {
      engine.tuning.batchInputs = true;
    }
  });
});

describe('MPNet refused', () => {
  it('other bucket counts than transformers computes with, and writing its GGUF (llama.cpp has no MPNet)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'emberlm-mpnet-'));
    try {
      cpSync(FOLDER, dir, { recursive: true });
      const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, relative_attention_num_buckets: 64 }));
      await expectEmberError(async () => Engine.load(dir, { gpu: await testGpu() }), 'UNSUPPORTED', /relative_attention_num_buckets 64 is not supported/);
      await expectEmberError(() => hfToGGUFFile(FOLDER), 'UNSUPPORTED', /encoders with a bias by relative position \(MPNet, T5\) are not written to GGUF/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
