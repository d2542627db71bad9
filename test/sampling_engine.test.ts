/**
 * Sampling through the Engine and chat on a generated model with a padded embedding (more rows than the
 * tokenizer has tokens, as Qwen checkpoints have), whose padded rows would win if they were not masked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, type GenerateOptions } from '../src/engine.ts';
import { forward, readLogits } from '../src/model/model.ts';
import { createChat } from '../src/chat/index.ts';
import { meta, writeGGUF, type MetaValue } from '../src/gguf/writer.ts';
import { argmaxRef, samplerRef, type Adjustments } from '../src/kernels/ref/sample.ts';
import { GREEDY } from '../src/sampling.ts';
import { randomModel, spmVocab } from '../models/generate.ts';
import { spmTokenizerJson, writeHFModel } from '../models/generate_hf.ts';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectEmberError } from './helpers/errors.ts';
import { testGpu } from './helpers/gpu.ts';

const ROWS = 320; // embedding and output rows
const TOKENS = 270; // the tokenizer's vocabulary

/** A random llama GGUF with ROWS embedding rows, TOKENS tokenizer tokens, and output rows past TOKENS made large. */
function paddedModel(): Uint8Array {
  const m = randomModel({ vocab: ROWS, seed: 11, contextLength: 128 });
  const v = spmVocab(TOKENS);
  const metadata: Array<readonly [string, MetaValue]> = m.metadata.map(([k, val]) =>
    k === 'tokenizer.ggml.tokens' ? [k, meta.strs(v.tokens)]
      : k === 'tokenizer.ggml.scores' ? [k, meta.f32s(v.scores)]
        : k === 'tokenizer.ggml.token_type' ? [k, meta.i32s(v.types)] : [k, val]);
  const tensors = m.tensors.map((t) => {
    if (t.name !== 'output.weight') return { ...t };
    const data = Float32Array.from(t.data, (x, i) => (Math.floor(i / t.ne[0]) >= TOKENS ? 6 * x : x)); // (rows, n_embd)
    return { ...t, data };
  });
  return writeGGUF({ metadata, tensors });
}

const PROMPT = [1, 100, 200, 150, 260, 100, 7];
const GREEDY_OPTS: GenerateOptions = { temperature: 0, topK: 0, topP: 1, stopAtEos: false };

describe('sampling through the engine (padded embedding)', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(paddedModel(), { gpu: await testGpu(), contextLength: 64 });
  });
  afterAll(() => engine?.dispose());

  /** Greedy ids step by step from the model's raw logits, with the CPU reference's bias, penalties and mask. */
  async function greedyRef(steps: number, adj: Omit<Adjustments, 'promptIds' | 'generatedIds'>): Promise<number[]> {
    const generatedIds: number[] = [];
    let feed = PROMPT, pos = 0;
    for (let t = 0; t < steps; t++) {
      await forward(engine.model, feed, pos, GREEDY, 0); // no bias, no penalties: the logits stay raw
      pos += feed.length;
      const logits = await readLogits(engine.model);
      const greedy = { temperature: 0, topK: 0, topP: 1, uniformRand: 0, nValid: TOKENS };
      const id = samplerRef(logits, { ...greedy, ...adj, promptIds: PROMPT, generatedIds });
      generatedIds.push(id);
      feed = [id];
    }
    return generatedIds;
  }

  it('the padded rows would win, and are never chosen (greedy or sampled)', async () => {
    expect(engine.config.vocab).toBe(ROWS);
    expect(engine.tokenizer.vocabSize).toBe(TOKENS);
    await forward(engine.model, PROMPT, 0, GREEDY, 0);
    expect(argmaxRef(await readLogits(engine.model))).toBeGreaterThanOrEqual(TOKENS); // the mask matters here
    const greedy = await engine.complete(PROMPT, { ...GREEDY_OPTS, maxTokens: 12 });
    expect(greedy.ids).toEqual(await greedyRef(12, {}));
    for (const seed of [1, 2, 3]) {
      const r = await engine.complete(PROMPT, { temperature: 2, topK: 0, topP: 1, seed, maxTokens: 24, stopAtEos: false });
      expect(r.ids.every((id) => id < TOKENS), JSON.stringify(r.ids)).toBe(true);
    }
  });

  it('penalties change greedy output exactly as the reference says', async () => {
    const plain = (await engine.complete(PROMPT, { ...GREEDY_OPTS, maxTokens: 16 })).ids;
    const cases: Array<Omit<Adjustments, 'promptIds' | 'generatedIds'>> = [
      { repetitionPenalty: 1.5 },
      { presencePenalty: 1, frequencyPenalty: 0.5 },
      { repetitionPenalty: 1.2, presencePenalty: 0.5, frequencyPenalty: 0.25, logitBias: new Map([[plain[0], -100], [50, 3]]) },
    ];
    for (const c of cases) {
      const { logitBias, ...pen } = c;
      const opts = { ...GREEDY_OPTS, ...pen, logitBias: logitBias ? Object.fromEntries(logitBias) : undefined, maxTokens: 16 };
      const ids = (await engine.complete(PROMPT, opts)).ids;
      expect(ids, JSON.stringify(pen)).toEqual(await greedyRef(16, c));
      expect(ids, JSON.stringify(pen)).not.toEqual(plain);
    }
  });

  it('logit_bias +100 forces a token, greedy or sampled', async () => {
    for (const opts of [GREEDY_OPTS, { temperature: 1, topK: 0, topP: 1, seed: 5, stopAtEos: false }]) {
      const r = await engine.complete(PROMPT, { ...opts, logitBias: { 42: 100 }, maxTokens: 6 });
      expect(r.ids).toEqual([42, 42, 42, 42, 42, 42]);
    }
  });

  it('the same seed gives the same ids, another seed other ids', async () => {
    const opts = { temperature: 1.5, topK: 0, topP: 1, minP: 0.001, maxTokens: 24, stopAtEos: false };
    const a = await engine.complete(PROMPT, { ...opts, seed: 123 });
    const b = await engine.complete(PROMPT, { ...opts, seed: 123 });
    const c = await engine.complete(PROMPT, { ...opts, seed: 124 });
    expect(b.ids).toEqual(a.ids);
    expect(c.ids).not.toEqual(a.ids);
  });

  it('a seed gives the same ids however the prompt is split into prefill passes', async () => {
    const opts = { temperature: 1.5, topK: 0, topP: 1, seed: 77, maxTokens: 16, stopAtEos: false };
    const whole = await engine.complete(PROMPT, opts);
    const split = await Engine.load(paddedModel(), { gpu: await testGpu(), contextLength: 64, maxBatch: 3 });
    try {
      expect((await split.complete(PROMPT, opts)).ids).toEqual(whole.ids); // passes of 3, 3 and 1 tokens
    } finally {
      split.dispose();
    }
  });

  it('a bad option is a typed error naming it, and the engine goes on', async () => {
    await expectEmberError(() => engine.complete(PROMPT, { logitBias: { [TOKENS]: 1 } }), 'BAD_ARGUMENT', /logitBias .*below 270.*"270"/);
    await expectEmberError(() => engine.complete(PROMPT, { minP: 2 }), 'BAD_ARGUMENT', /minP must be in \[0, 1\].*got 2/);
    expect((await engine.complete(PROMPT, { ...GREEDY_OPTS, maxTokens: 2 })).ids).toHaveLength(2);
  });

  it("chat takes OpenAI's names: logit_bias, penalties, seed; errors use them", async () => {
    const chat = createChat(engine, { template: null });
    const messages = [{ role: 'user', content: 'hello' }] as const;
    const forced = await chat.completions.create({ messages, temperature: 0, logit_bias: { '42': 100 }, max_tokens: 4 });
    expect(forced.choices[0].message.content).toBe(engine.tokenizer.decode([42, 42, 42, 42]));
    const req = {
      messages, temperature: 1.2, top_p: 0.9, min_p: 0.01, seed: 9, max_tokens: 12,
      presence_penalty: 0.5, frequency_penalty: 0.5, repetition_penalty: 1.1,
    };
    const x = await chat.completions.create(req);
    expect((await chat.completions.create(req)).choices[0].message.content).toBe(x.choices[0].message.content);
    await expectEmberError(() => chat.completions.create({ messages, min_p: -1 }), 'BAD_ARGUMENT', /min_p must be in \[0, 1\]/);
    await expectEmberError(() => chat.completions.create({ messages, logit_bias: { '9999': 1 } }), 'BAD_ARGUMENT', /logit_bias/);
  });
});

describe('a Hugging Face folder whose config.json vocab_size is past its tokenizer (as Qwen checkpoints)', () => {
  it('the sampler takes the tokenizer\'s size: sampled ids stay below it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'emberlm-padded-'));
    try {
      await writeHFModel(dir, { modelType: 'qwen2', vocab: ROWS, seed: 4, contextLength: 64 });
      await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(spmTokenizerJson(TOKENS)));
      const engine = await Engine.load(dir, { gpu: await testGpu(), contextLength: 64 });
      try {
        expect([engine.config.vocab, engine.tokenizer.vocabSize]).toEqual([ROWS, TOKENS]);
        // Unmasked, a random model's 50 padded rows would be drawn about once in 6 tokens at this temperature.
        for (const seed of [1, 2, 3]) {
          const r = await engine.complete(PROMPT, { temperature: 3, topK: 0, topP: 1, seed, maxTokens: 24, stopAtEos: false });
          expect(r.ids.every((id) => id < TOKENS), JSON.stringify(r.ids)).toBe(true);
        }
      } finally {
        engine.dispose();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
