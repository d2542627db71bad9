/**
 * Engine.embed against sentence-transformers on T5 encoder folders (made by test/fixtures/make_t5_oracle.py):
 * sentence-t5's and gtr-t5's layout, a T5EncoderModel (pre-norm RMSNorm, attention both ways with q.k unscaled and a
 * learned bias by relative position, no positions of its own) under mean pooling, a Dense layer and Normalize; T5
 * v1.0's ReLU FFN (test/fixtures/t5_relu: sentence-t5's, gtr-t5's) and v1.1's GeGLU (test/fixtures/t5); what it refuses.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { createGpu } from '../src/gpu/device.ts';
import { watchCompiles } from '../src/gpu/pipelines.ts';
import { hfToGGUFFile } from '../models/hf_to_gguf.ts';
import { readSafetensors, readTensorBytes } from '../src/hf/safetensors.ts';
import { encodeSafetensors } from '../src/hf/safetensors_writer.ts';
import { sourceFromBuffer } from '../src/gguf/source.ts';
import { testGpu, VARIANTS } from './helpers/gpu.ts';
import { expectEmberError } from './helpers/errors.ts';
import { maxDiff } from './helpers/vectors.ts';

interface Case { text: string; ids: number[]; embedding: number[] }
const folder = (name: string) => resolve(import.meta.dirname, 'fixtures', name);
const oracle = (name: string) => (JSON.parse(readFileSync(join(folder(name), 't5.sentence_transformers.json'), 'utf8')) as { cases: Case[] }).cases;

describe.each(VARIANTS)('T5 encoder folders (%s device)', (variant) => {
  it.each([['t5_relu', 'relu', false], ['t5', 'gelu_tanh', true]])('%s: sentence-transformers\' ids and embeddings, a list in one call and each text alone', async (name, act, gated) => {
    const engine = await Engine.load(folder(name), { gpu: await testGpu(variant), kvCache: 'f32' });
    try {
      const c = engine.config;
      expect([c.arch, c.preNorms, c.postLayerNorms, c.bidirectional, c.attnScale, c.ffnAct, c.ffnGated, c.layerRope.some(Boolean), c.eps]).toEqual(['t5', true, false, true, 1, act, gated, false, 1e-6]);
      expect(c.relativeBias).toEqual({ buckets: 32, maxDistance: 128 });
      const cases = oracle(name);
      const r = await engine.embed(cases.map((x) => x.text));
      for (const [i, x] of cases.entries()) {
        expect([...engine.tokenize(x.text), ...engine.tokenizer.endIds], x.text).toEqual(x.ids);
        expect(maxDiff(r.embeddings[i], x.embedding), x.text).toBeLessThan(2e-6); // (measured 9e-8 relu, 3.4e-7 GeGLU)
      }
      expect(cases.at(-1)!.ids.length).toBeGreaterThan(128); // (keys past max_distance: the buckets' last)
      engine.tuning.batchInputs = false;
      for (const x of cases.slice(-2)) expect(maxDiff((await engine.embed(x.text)).embeddings[0], x.embedding), x.text).toBeLessThan(2e-6);
      await expectEmberError(() => engine.complete('Once', { maxTokens: 1 }), 'UNSUPPORTED', /attends both ways/);
    } finally {
      await engine.dispose();
    }
  });
});

describe('an encoder builds nothing of decode', () => {
  it('no GEMV, decode attention, last-row norm, LM head or sampler; a pass of one token runs the prefill\'s lists', async () => {
    const gpu = await createGpu(); // (a device of its own: every pipeline this load needs is compiled, none cached)
    const compiled: string[] = [];
    const unwatch = watchCompiles(gpu, (label) => compiled.push(label));
    const engine = await Engine.load(folder('t5'), { gpu, kvCache: 'f32' });
    try {
      unwatch();
      expect(compiled.filter((l) => /gemv|decode|rmsnorm\/last|sample\//.test(l))).toEqual([]);
      expect([engine.model.decode.length, engine.model.chained.length, engine.model.head.length, engine.model.sampler]).toEqual([0, 0, 0, null]);
      // '' is '</s>' alone: its pass of one token, alone and among others, gives one embedding
      expect([...engine.tokenize(''), ...engine.tokenizer.endIds]).toHaveLength(1);
      const [withOthers] = (await engine.embed(['', 'Once upon a time'])).embeddings;
      engine.tuning.batchInputs = false;
      expect(maxDiff((await engine.embed('')).embeddings[0], withOthers)).toBeLessThan(1e-6);
      await expectEmberError(() => engine.complete('Once', { maxTokens: 1 }), 'UNSUPPORTED', /attends both ways/);
    } finally {
      await engine.dispose();
      gpu.device.destroy();
    }
  });
});

describe('a whole T5 checkpoint (T5ForConditionalGeneration)', () => {
  it('embeds by its encoder: the decoder\'s tensors and the LM head beside it are not read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'emberlm-t5-full-'));
    try {
      cpSync(folder('t5_relu'), dir, { recursive: true });
      const file = join(dir, 'model.safetensors');
      const st = await readSafetensors(sourceFromBuffer(new Uint8Array(readFileSync(file)), 'model.safetensors'));
      const tensors = await Promise.all([...st.tensors.values()].map(async (t) => ({ name: t.name, dtype: t.dtype, shape: [...t.shape], bytes: await readTensorBytes(t) })));
      const [shared] = tensors.filter((t) => t.name === 'shared.weight');
      const decoder = tensors.filter((t) => t.name.startsWith('encoder.block.0.')).map((t) => ({ ...t, name: t.name.replace('encoder.', 'decoder.'), bytes: new Uint8Array(t.bytes.length).fill(7) }));
      writeFileSync(file, encodeSafetensors([...tensors, ...decoder, { ...shared, name: 'lm_head.weight' }]));
      const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, architectures: ['T5ForConditionalGeneration'], is_encoder_decoder: true }));
      const engine = await Engine.load(dir, { gpu: await testGpu(), kvCache: 'f32' });
      try {
        const cases = oracle('t5_relu');
        const r = await engine.embed(cases.map((x) => x.text));
        cases.forEach((x, i) => expect(maxDiff(r.embeddings[i], x.embedding), x.text).toBeLessThan(2e-6));
      } finally {
        await engine.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('T5 refused', () => {
  it('feed_forward_proj other than relu and gated-gelu, and writing its GGUF', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'emberlm-t5-'));
    try {
      cpSync(folder('t5'), dir, { recursive: true });
      const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, feed_forward_proj: 'gated-silu' }));
      await expectEmberError(async () => Engine.load(dir, { gpu: await testGpu() }), 'UNSUPPORTED', /feed_forward_proj "gated-silu" is not supported/);
      await expectEmberError(() => hfToGGUFFile(folder('t5_relu')), 'UNSUPPORTED', /a bias by relative position \(MPNet, T5\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
