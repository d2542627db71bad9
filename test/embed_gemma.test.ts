/**
 * Engine.embed against sentence-transformers (test/fixtures/embeddinggemma, made by
 * test/fixtures/make_embeddinggemma_oracle.py): an EmbeddingGemma-shaped folder, a bare Gemma3TextModel whose attention
 * runs both ways (its sliding layers' window on either side of a token), then modules.json's mean pooling, two Dense
 * layers and Normalize; its prompts by name; what such a model refuses (generation, an input past one pass); its GGUF
 * in llama.cpp's gemma-embedding layout; and the modules it does not run, refused by name.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { embeddingGemmaFolder } from './helpers/models.ts';
import { testGpu, VARIANTS } from './helpers/gpu.ts';
import { expectEmberError } from './helpers/errors.ts';
import { maxDiff } from './helpers/vectors.ts';
import { hfToGGUF } from '../models/hf_to_gguf.ts';
import { readSafetensors, readTensorBytes, tensorToF32 } from '../src/hf/safetensors.ts';
import { encodeSafetensors } from '../src/hf/safetensors_writer.ts';
import { sourceFromBuffer } from '../src/gguf/source.ts';

interface Prompt { text: string; ids: number[]; hidden: number[][]; mean: number[]; dense: number[]; embedding: number[] }
const oracle = JSON.parse(readFileSync(resolve(import.meta.dirname, 'fixtures/embeddinggemma/embeddinggemma.sentence_transformers.json'), 'utf8')) as { prompts: Prompt[] };
const texts = oracle.prompts.map((p) => p.text);
const QUERY = 'task: search result | query: ';


describe.each(VARIANTS)('EmbeddingGemma-shaped folder (%s device)', (variant) => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(embeddingGemmaFolder(), { gpu: await testGpu(variant), contextLength: 64, kvCache: 'f32' });
  });
  afterAll(() => engine?.dispose());

  it('reads bidirectional attention, its window on either side, and the modules', () => {
    expect(engine.config.bidirectional).toBe(true);
    expect(engine.config.layerWindow).toEqual([5, 5, 0, 5]); // sliding_window 8: |q - k| <= 4, as transformers holds it
    expect(engine.config.pooling).toBe('mean');
    expect(engine.model.maxBatch).toBe(64); // one pass takes a whole context's input
    for (const p of oracle.prompts) expect([...engine.tokenize(p.text), ...engine.tokenizer.endIds]).toEqual(p.ids);
  });

  it('gives sentence-transformers\' embeddings: mean of every row, Dense, Dense, Normalize', async () => {
    const r = await engine.embed(texts);
    expect(r.promptTokens).toBe(oracle.prompts.reduce((n, p) => n + p.ids.length, 0));
    for (const [i, p] of oracle.prompts.entries()) expect(maxDiff(r.embeddings[i], p.embedding), p.text).toBeLessThan(2e-5);
  });

  it('gives the Dense output as it is with normalize false, a Matryoshka prefix with dimensions', async () => {
    const p = oracle.prompts[3];
    const [raw] = (await engine.embed(p.text, { normalize: false })).embeddings;
    expect(maxDiff(raw, p.dense) / Math.max(...p.dense.map(Math.abs))).toBeLessThan(2e-5);
    const [short] = (await engine.embed(p.text, { dimensions: 32 })).embeddings;
    const head = p.dense.slice(0, 32), norm = Math.hypot(...head);
    expect(maxDiff(short, head.map((v) => v / norm))).toBeLessThan(2e-5);
  });

  it('puts a named prompt in front of each text, and names the prompts it has', async () => {
    const p = oracle.prompts[1];
    expect(p.text.startsWith(QUERY)).toBe(true);
    const [e] = (await engine.embed(p.text.slice(QUERY.length), { promptName: 'query' })).embeddings;
    expect(maxDiff(e, p.embedding)).toBeLessThan(2e-5);
    await expectEmberError(() => engine.embed('x', { promptName: 'search' }), 'BAD_ARGUMENT', /promptName must be one of the model's prompts \(query, document\)/);
    // The OpenAI-style surface takes it as prompt_name (not OpenAI's own field)
    const res = await engine.embeddings.create({ input: [p.text.slice(QUERY.length)], prompt_name: 'query' });
    expect(maxDiff(res.data[0].embedding as number[], p.embedding)).toBeLessThan(2e-5);
  });

  it('runs each input whole: a cached prefix from an earlier input is not reused', async () => {
    const p = oracle.prompts[1];
    await engine.embed([p.ids.slice(0, 20)]); // the cache holds its first 20 tokens, computed without the rest
    const [e] = (await engine.embed([p.ids])).embeddings;
    expect(maxDiff(e, p.embedding)).toBeLessThan(2e-5);
  });

  it('does not generate, refuses an input past one pass, and embeds after', async () => {
    await expectEmberError(() => engine.complete('Once upon a time', { maxTokens: 2 }), 'UNSUPPORTED', /attends both ways.*does not generate/);
    await expectEmberError(() => engine.embed(['a', 'word '.repeat(80)]), 'CONTEXT_OVERFLOW', /input\[1\] is \d+ tokens, past the context of 64/);
    const [e] = (await engine.embed(oracle.prompts[4].text)).embeddings;
    expect(maxDiff(e, oracle.prompts[4].embedding)).toBeLessThan(2e-5);
  });
});

describe('EmbeddingGemma-shaped folder, other loads', () => {
  it('refuses an input past a smaller maxBatch, naming it', async () => {
    const engine = await Engine.load(embeddingGemmaFolder(), { gpu: await testGpu(), contextLength: 64, maxBatch: 16 });
    try {
      await expectEmberError(() => engine.embed(texts), 'CONTEXT_OVERFLOW', /input\[1\] is 45 tokens: this model embeds each input in one pass, of at most 16 tokens \(the load's maxBatch\)/);
      const [e] = (await engine.embed(texts[0])).embeddings;
      expect(maxDiff(e, oracle.prompts[0].embedding)).toBeLessThan(3e-4); // (an f16 K/V cache: 1.2e-4 apart)
    } finally {
      await engine.dispose();
    }
  });

  it('its GGUF (gemma-embedding, as llama.cpp names it: dense_2 and dense_3, pooling_type mean, the saved window) embeds alike', async () => {
    const engine = await Engine.load(await hfToGGUF(embeddingGemmaFolder()), { gpu: await testGpu(), contextLength: 64, kvCache: 'f32' });
    try {
      expect(engine.config.bidirectional).toBe(true);
      expect(engine.config.layerWindow).toEqual([5, 5, 0, 5]);
      expect(engine.config.pooling).toBe('mean');
      const r = await engine.embed(oracle.prompts.map((p) => p.ids));
      for (const [i, p] of oracle.prompts.entries()) expect(maxDiff(r.embeddings[i], p.embedding), p.text).toBeLessThan(2e-5);
      await expectEmberError(() => engine.complete('a', { maxTokens: 1 }), 'UNSUPPORTED', /attends both ways/);
    } finally {
      await engine.dispose();
    }
  });

  it('Dense layers with a bias and Tanh (sentence-transformers\' default activation) are applied as written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'emberlm-gemma-dense-'));
    try {
      cpSync(embeddingGemmaFolder(), dir, { recursive: true, dereference: true });
      const tensor = async (file: string, name: string) => {
        const f = await readSafetensors(sourceFromBuffer(new Uint8Array(readFileSync(join(dir, file))), file));
        const t = f.tensors.get(name)!;
        return tensorToF32(t, await readTensorBytes(t));
      };
      const w2 = await tensor('2_Dense/model.safetensors', 'linear.weight'), w3 = await tensor('3_Dense/model.safetensors', 'linear.weight');
      const b3 = Float32Array.from({ length: 96 }, (_, i) => Math.sin(i) * 0.5);
      writeFileSync(join(dir, '2_Dense/config.json'), JSON.stringify({ in_features: 96, out_features: 192, bias: false, activation_function: 'torch.nn.modules.activation.Tanh' }));
      writeFileSync(join(dir, '3_Dense/config.json'), JSON.stringify({ in_features: 192, out_features: 96, bias: true, activation_function: 'torch.nn.modules.linear.Identity' }));
      const f32 = (a: Float32Array) => new Uint8Array(a.buffer);
      writeFileSync(join(dir, '3_Dense/model.safetensors'), encodeSafetensors([
        { name: 'linear.weight', dtype: 'F32', shape: [96, 192], bytes: f32(w3) }, { name: 'linear.bias', dtype: 'F32', shape: [96], bytes: f32(b3) },
      ]));
      const engine = await Engine.load(dir, { gpu: await testGpu(), contextLength: 64, kvCache: 'f32' });
      try {
        const p = oracle.prompts[3];
        const [e] = (await engine.embed(p.ids)).embeddings;
        const h = Array.from({ length: 192 }, (_, o) => Math.tanh(p.mean.reduce((s, v, i) => s + w2[o * 96 + i] * v, 0)));
        const y = Array.from({ length: 96 }, (_, o) => b3[o] + h.reduce((s, v, i) => s + w3[o * 192 + i] * v, 0));
        const n = Math.hypot(...y);
        expect(maxDiff(e, y.map((v) => v / n))).toBeLessThan(2e-5);
      } finally {
        await engine.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a Dense weight of NaN (a file corrupted past its header) is BAD_MODEL at embed, naming the Dense layers; the engine stays usable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'emberlm-gemma-nan-'));
    try {
      cpSync(embeddingGemmaFolder(), dir, { recursive: true, dereference: true });
      const file = join(dir, '3_Dense/model.safetensors');
      const f = await readSafetensors(sourceFromBuffer(new Uint8Array(readFileSync(file)), '3_Dense/model.safetensors'));
      const w = tensorToF32(f.tensors.get('linear.weight')!, await readTensorBytes(f.tensors.get('linear.weight')!));
      w[5] = NaN;
      writeFileSync(file, encodeSafetensors([{ name: 'linear.weight', dtype: 'F32', shape: [96, 192], bytes: new Uint8Array(w.buffer) }]));
      const engine = await Engine.load(dir, { gpu: await testGpu(), contextLength: 64 });
      try {
        await expectEmberError(() => engine.embed('a'), 'BAD_MODEL', /the Dense layers' output is not finite \(NaN or infinity\)/);
        expect((await engine.tokenize('a')).length).toBeGreaterThan(0);
        await expectEmberError(() => engine.embed('b'), 'BAD_MODEL', /Dense layers/);
      } finally {
        await engine.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // A copy of the folder with one file changed.
  const changed = (file: string, edit: (json: Record<string, unknown>) => unknown) => {
    const dir = mkdtempSync(join(tmpdir(), 'emberlm-gemma-embed-'));
    cpSync(embeddingGemmaFolder(), dir, { recursive: true, dereference: true });
    const path = join(dir, file);
    writeFileSync(path, JSON.stringify(edit(JSON.parse(readFileSync(path, 'utf8')))));
    return dir;
  };
  it.each([
    ['1_Pooling/config.json', (c: Record<string, unknown>) => ({ ...c, pooling_mode_mean_tokens: false, pooling_mode_max_tokens: true }), 'UNSUPPORTED', /pooling pooling_mode_max_tokens is not supported/],
    ['1_Pooling/config.json', (c: Record<string, unknown>) => ({ ...c, include_prompt: 0 }), 'BAD_MODEL', /include_prompt is 0; expected true or false/],
    ['1_Pooling/config.json', (c: Record<string, unknown>) => ({ ...c, word_embedding_dimension: 768 }), 'BAD_MODEL', /word_embedding_dimension is 768, but the model's hidden_size is 96/],
    ['2_Dense/config.json', (c: Record<string, unknown>) => ({ ...c, in_features: 768 }), 'BAD_MODEL', /in_features is 768, but what comes in has 96 values/],
    ['3_Dense/config.json', (c: Record<string, unknown>) => ({ ...c, bias: true }), 'BAD_MODEL', /3_Dense\/model.safetensors: tensor linear.bias is missing/],
    ['2_Dense/config.json', (c: Record<string, unknown>) => ({ ...c, activation_function: 'torch.nn.modules.activation.GELU' }), 'UNSUPPORTED', /activation_function "torch.nn.modules.activation.GELU" is not supported/],
    ['modules.json', (m: unknown) => [...(m as unknown[]), { idx: 5, name: '5', path: '5_Dense', type: 'sentence_transformers.models.LayerNorm' }], 'UNSUPPORTED', /module 5 \(sentence_transformers.models.LayerNorm\) is not supported here/],
    ['config.json', (c: Record<string, unknown>) => ({ ...c, model_type: 'qwen3', architectures: ['Qwen3ForCausalLM'] }), 'UNSUPPORTED', /use_bidirectional_attention true is supported for gemma3_text \(EmbeddingGemma\) only/],
  ])('refuses %s changed: %#', async (file, edit, code, message) => {
    const dir = changed(file, edit as (json: Record<string, unknown>) => unknown);
    const gpu = await testGpu();
    try {
      await expectEmberError(() => Engine.load(dir, { gpu }), code as 'UNSUPPORTED', message);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

it('maxBatch by default: 256 for a model that generates; for one that embeds in one pass the context up to 2,048, within a 128 MiB activation', async () => {
  const { defaultMaxBatch } = await import('../src/load.ts');
  const engine = await Engine.load(embeddingGemmaFolder(), { gpu: await testGpu(), contextLength: 4096 });
  try {
    const c = engine.config;
    expect(engine.model.maxBatch).toBe(2048);
    expect(defaultMaxBatch({ ...c, bidirectional: false, pooling: undefined }, 4096)).toBe(256);
    expect(defaultMaxBatch({ ...c, bidirectional: false, pooling: 'mean' }, 1000)).toBe(1000);
    // A wide FFN (Qwen3-Embedding-8B's 12,288): gate|up rows of 96 KiB, so 1,365 of them in 128 MiB
    expect(defaultMaxBatch({ ...c, nFf: 12288 }, 4096)).toBe(1365);
  } finally {
    await engine.dispose();
  }
});
