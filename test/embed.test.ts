/**
 * Engine.embed against transformers (test/fixtures/qwen3_embedding, made by test/fixtures/make_embedding_oracle.py): a
 * Qwen3-Embedding-shaped checkpoint (the bare Qwen3Model's tensor names, a tokenizer whose post-processor appends an end
 * token), each text's ids and its last token's final hidden state, L2-normalised; then how embedding shares the engine
 * with generation, and what it refuses.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { embeddingFolder, sharedModelPath } from './helpers/models.ts';
import { testGpu, VARIANTS } from './helpers/gpu.ts';
import { expectEmberError } from './helpers/errors.ts';
import { cosine, maxDiff } from './helpers/vectors.ts';
import { hfToGGUF, hfToGGUFFile } from '../models/hf_to_gguf.ts';
import { meta, writeGGUF } from '../src/gguf/writer.ts';

interface EmbeddingOracle { end_token: string; prompts: { text: string; ids: number[]; hidden: number[]; embedding: number[] }[] }
const oracle = JSON.parse(readFileSync(resolve(import.meta.dirname, 'fixtures/qwen3_embedding/qwen3_embedding.transformers.json'), 'utf8')) as EmbeddingOracle;
const texts = oracle.prompts.map((p) => p.text);
const GREEDY = { temperature: 0, topK: 0, topP: 1 };


describe.each(VARIANTS)('Qwen3-Embedding-shaped folder (%s device)', (variant) => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(embeddingFolder(), { gpu: await testGpu(variant), contextLength: 128, maxBatch: 16, kvCache: 'f32' });
  });
  afterAll(() => engine?.dispose());

  it('reads the bare decoder\'s tensor names and the post-processor\'s end token', () => {
    expect(engine.config.arch).toBe('qwen3');
    expect(engine.tokenizer.endIds).toEqual([oracle.prompts[0].ids.at(-1)]);
    for (const p of oracle.prompts) expect([...engine.tokenize(p.text), ...engine.tokenizer.endIds]).toEqual(p.ids);
  });

  it('gives transformers\' last-token embeddings, L2-normalised, in input order', async () => {
    const r = await engine.embed(texts);
    expect(r.embeddings).toHaveLength(texts.length);
    expect(r.promptTokens).toBe(oracle.prompts.reduce((n, p) => n + p.ids.length, 0));
    for (const [i, p] of oracle.prompts.entries()) expect(maxDiff(r.embeddings[i], p.embedding), p.text).toBeLessThan(2e-6);
  });

  it('gives the hidden state as it is with normalize false, and a Matryoshka prefix with dimensions', async () => {
    const p = oracle.prompts[3];
    const [raw] = (await engine.embed(p.text, { normalize: false })).embeddings;
    expect(maxDiff(raw, p.hidden) / Math.max(...p.hidden.map(Math.abs))).toBeLessThan(2e-6);
    const [short] = (await engine.embed(p.text, { dimensions: 16 })).embeddings;
    const head = p.hidden.slice(0, 16), norm = Math.hypot(...head);
    expect(maxDiff(short, head.map((v) => v / norm))).toBeLessThan(2e-6);
  });

  it('takes token ids as they are, and gives the same bits again when the KV cache already holds the input', async () => {
    const p = oracle.prompts[1];
    const [fromIds] = (await engine.embed(p.ids)).embeddings;
    const [again] = (await engine.embed(p.ids)).embeddings; // only its last token runs
    const [fromText] = (await engine.embed([p.text])).embeddings;
    expect(maxDiff(fromIds, p.embedding)).toBeLessThan(2e-6);
    expect(Array.from(again)).toEqual(Array.from(fromIds));
    expect(Array.from(fromText)).toEqual(Array.from(fromIds));
  });
});

it('a folder with Qwen3-Embedding\'s sentence-transformers files: last-token pooling, Normalize, its query prompt by name', async () => {
  // Qwen3-Embedding's sentence-transformers files: last-token pooling, Normalize, and the query prompt its model card encodes queries with (prompt_name='query')
  const dir = mkdtempSync(join(tmpdir(), 'emberlm-qwen3-st-'));
  const src = embeddingFolder();
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) symlinkSync(join(src, f), join(dir, f));
  const query = 'Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:';
  const json = (file: string, v: unknown) => writeFileSync(join(dir, file), JSON.stringify(v));
  json('modules.json', [
    { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
    { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
    { idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' },
  ]);
  mkdirSync(join(dir, '1_Pooling'));
  json('1_Pooling/config.json', { word_embedding_dimension: 64, pooling_mode_cls_token: false, pooling_mode_mean_tokens: false, pooling_mode_lasttoken: true, include_prompt: true });
  json('config_sentence_transformers.json', { prompts: { query, document: '' }, default_prompt_name: null, similarity_fn_name: 'cosine' });
  const engine = await Engine.load(dir, { gpu: await testGpu(), contextLength: 128, kvCache: 'f32' });
  try {
    expect(engine.config.pooling).toBe('last');
    expect(engine.embedPrompts).toEqual({ query, document: '' });
    const p = oracle.prompts[1];
    expect(p.text.startsWith(query)).toBe(true);
    const [q] = (await engine.embed(p.text.slice(query.length), { promptName: 'query' })).embeddings;
    expect(maxDiff(q, p.embedding)).toBeLessThan(2e-6);
    const [d] = (await engine.embed(oracle.prompts[2].text, { promptName: 'document' })).embeddings;
    expect(maxDiff(d, oracle.prompts[2].embedding)).toBeLessThan(2e-6);
  } finally {
    await engine.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('embedding beside generation', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(embeddingFolder(), { gpu: await testGpu(), contextLength: 128, maxBatch: 8 });
  });
  afterAll(() => engine?.dispose());

  it('takes its turn between a generation\'s steps, and neither changes the other', async () => {
    const solo = await engine.complete('Once upon a time', { ...GREEDY, maxTokens: 12, stopAtEos: false });
    const [alone] = (await engine.embed(texts[2])).embeddings;
    const stream = engine.generate('Once upon a time', { ...GREEDY, maxTokens: 12, stopAtEos: false, reuseKv: false });
    const first = await stream.next(); // the generation holds the engine; the embedding waits in line
    const embedded = engine.embed(texts[2]);
    const ids = [(first.value as { id: number }).id];
    for await (const t of stream) ids.push(t.id);
    expect(ids).toEqual(solo.ids);
    expect(Array.from((await embedded).embeddings[0])).toEqual(Array.from(alone));
    // and a chat turn after it runs its prompt again, to the same ids
    expect((await engine.complete('Once upon a time', { ...GREEDY, maxTokens: 12, stopAtEos: false })).ids).toEqual(solo.ids);
  });

  it('refuses bad input with typed errors and stays usable', async () => {
    await expectEmberError(() => engine.embed([]), 'BAD_ARGUMENT', /input must be a string, an array of token ids, or a non-empty array/);
    await expectEmberError(() => engine.embed([[]]), 'BAD_ARGUMENT', /input\[0\] must be a text or ids of at least one token/);
    expect((await engine.embed('')).promptTokens).toBe(1); // the end token alone, as transformers runs it
    await expectEmberError(() => engine.embed(['a', 7 as unknown as string]), 'BAD_ARGUMENT', /the prompt must be a string or an array of token ids/);
    await expectEmberError(() => engine.embed([[1, 1e6]]), 'BAD_ARGUMENT', /prompt\[1\] must be inside the vocabulary/);
    await expectEmberError(() => engine.embed('a', { dimensions: 65 }), 'BAD_ARGUMENT', /dimensions must be an integer in 1\.\.64/);
    await expectEmberError(() => engine.embed('a', { normalize: 'yes' as unknown as boolean }), 'BAD_ARGUMENT', /normalize must be true or false/);
    await expectEmberError(() => engine.embed(['a', 'Once '.repeat(200)]), 'CONTEXT_OVERFLOW', /input\[1\] is \d+ tokens, past the context of 128/);
    const [ok] = (await engine.embed(texts[0])).embeddings;
    expect(maxDiff(ok, oracle.prompts[0].embedding)).toBeLessThan(3e-3); // f16 K/V here
  });

  it('stops at an abort with ABORTED, saying how many inputs were done', async () => {
    const ac = new AbortController();
    ac.abort();
    const e = await expectEmberError(() => engine.embed(texts, { signal: ac.signal }), 'ABORTED', /aborted after 0 of 5 inputs/);
    expect(e.details.done).toBe(0);
    // aborted while in line behind a generation
    const stream = engine.generate('Once upon a time', { ...GREEDY, maxTokens: 6, stopAtEos: false });
    await stream.next();
    const later = new AbortController();
    const waiting = engine.embed(texts, { signal: later.signal });
    later.abort();
    await expectEmberError(() => waiting, 'ABORTED', /aborted after 0 of 5 inputs/);
    for await (const _ of stream);
    expect((await engine.embed(texts[0])).embeddings).toHaveLength(1);
  });
});

it('ends with ABORTED when the engine is disposed under it, and refuses once disposed', async () => {
  const engine = await Engine.load(embeddingFolder(), { gpu: await testGpu(), contextLength: 128, maxBatch: 8 });
  const running = engine.embed(Array(8).fill(texts[3]));
  const disposed = engine.dispose();
  await expectEmberError(() => running, 'ABORTED', /disposed during the embedding/);
  await disposed;
  await expectEmberError(() => engine.embed('a'), 'BAD_ARGUMENT', /disposed/);
});

it('the folder written to GGUF (models/hf_to_gguf.ts) embeds each input\'s ids to transformers\' vectors', async () => {
  const engine = await Engine.load(await hfToGGUF(embeddingFolder()), { gpu: await testGpu(), contextLength: 128, kvCache: 'f32' });
  try {
    const r = await engine.embed(oracle.prompts.map((p) => p.ids));
    for (const [i, p] of oracle.prompts.entries()) expect(maxDiff(r.embeddings[i], p.embedding), p.text).toBeLessThan(2e-6);
  } finally {
    await engine.dispose();
  }
});

it('a bare decoder whose config is untied but which has no LM head (Qwen3-Embedding-8B\'s) loads, its embedding standing in', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'emberlm-untied-'));
  try {
    const from = embeddingFolder();
    for (const f of ['model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) symlinkSync(join(from, f), join(dir, f));
    const config = JSON.parse(readFileSync(join(from, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, tie_word_embeddings: false }));
    const engine = await Engine.load(dir, { gpu: await testGpu(), contextLength: 64, kvCache: 'f32' });
    try {
      expect(engine.config.tiedEmbeddings).toBe(true);
      expect(maxDiff((await engine.embed(texts[2])).embeddings[0], oracle.prompts[2].embedding)).toBeLessThan(2e-6);
    } finally {
      await engine.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('a GGUF\'s pooling_type: last, mean and CLS pool the final norm\'s rows; rank is refused with UNSUPPORTED', async () => {
  const file = await hfToGGUFFile(embeddingFolder());
  const withPooling = (type: number) => writeGGUF({ ...file, metadata: [...file.metadata, ['qwen3.pooling_type', meta.u32(type)]] });
  const load = async (type: number) => Engine.load(withPooling(type), { gpu: await testGpu(), contextLength: 64, kvCache: 'f32' });
  const { ids } = oracle.prompts[3];
  const normalized = (v: ArrayLike<number>) => Array.from(v, (x) => x / Math.hypot(...Array.from(v)));
  // Causal attention: row t of an input's final norm is the last-token state of its first t + 1 tokens.
  let rows: Float32Array[];
  const last = await load(3);
  try {
    expect(last.config.pooling).toBe('last');
    expect(maxDiff((await last.embed(oracle.prompts[0].ids)).embeddings[0], oracle.prompts[0].embedding)).toBeLessThan(2e-6);
    rows = (await last.embed(ids.map((_, t) => ids.slice(0, t + 1)), { normalize: false })).embeddings;
  } finally {
    await last.dispose();
  }
  const mean = await load(1);
  try {
    expect(mean.config.pooling).toBe('mean');
    const sum = rows[0].map((_, i) => rows.reduce((s, r) => s + r[i], 0) / rows.length);
    expect(maxDiff((await mean.embed([ids])).embeddings[0], normalized(sum))).toBeLessThan(2e-5);
  } finally {
    await mean.dispose();
  }
  const cls = await load(2);
  try {
    expect(maxDiff((await cls.embed([ids])).embeddings[0], normalized(rows[0]))).toBeLessThan(2e-5);
  } finally {
    await cls.dispose();
  }
  const rank = await load(4);
  try {
    await expectEmberError(() => rank.embed('a'), 'UNSUPPORTED', /pooled by rank \(pooling_type: a reranker's score; emberlm embeds by/);
    await expectEmberError(() => rank.rerank('q', ['a']), 'UNSUPPORTED', /llama.cpp's reranker conversion \(pooling_type rank: a classifier head/);
    expect((await rank.complete('a', { ...GREEDY, maxTokens: 2 })).ids).toHaveLength(2); // generation is unaffected
  } finally {
    await rank.dispose();
  }
});

it('a GGUF tokenizer ends an embedding\'s text with EOS only where tokenizer.ggml.add_eos_token says so', async () => {
  const engine = await Engine.load(sharedModelPath('stories260K/stories260K.gguf'), { gpu: await testGpu(), contextLength: 64 });
  try {
    expect(engine.tokenizer.endIds).toEqual([]);
    const [e] = (await engine.embed('Once upon a time')).embeddings;
    expect(e).toHaveLength(engine.config.nEmbd);
    expect(Math.hypot(...e)).toBeCloseTo(1, 5);
  } finally {
    await engine.dispose();
  }
});
