/**
 * Prefill passes on stories260K: a pass before the last skips the LM head and the sampler and still fills
 * the KV cache, so the last pass's logits equal one pass over the whole prompt; tuned passes are never
 * shorter than `tuning.minPassTokens`, however short `passMs` is.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { forward, readLogits } from '../src/model/model.ts';
import { writeBuffer } from '../src/gpu/buffers.ts';
import { testGpu } from './helpers/gpu.ts';
import { sharedModelPath } from './helpers/models.ts';

const STORIES = 'stories260K/stories260K.gguf';
const GREEDY = { temperature: 0, topK: 0, topP: 1 } as const;

describe('prefill passes', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(sharedModelPath(STORIES), { gpu: await testGpu(), contextLength: 128, maxBatch: 64 });
  });
  afterAll(() => engine?.dispose());

  it('a pass without the head leaves the logits alone; the last pass gives what one whole pass gives', async () => {
    const m = engine.model;
    const prompt = engine.tokenize('Once upon a time, there was a little girl named Lily. She loved to play outside.');
    expect(prompt.length).toBeGreaterThan(12);
    await forward(m, prompt, 0, GREEDY, 0);
    const whole = await readLogits(m);

    const sentinel = new Float32Array(m.config.vocab).fill(12345);
    writeBuffer(m.gpu, m.buffers.logits, sentinel);
    const cut = 9;
    await forward(m, prompt.slice(0, cut), 0, { ...GREEDY, head: false }, 0);
    expect(await readLogits(m)).toEqual(sentinel); // no LM head ran
    expect(m.kv.ids).toEqual(prompt.slice(0, cut)); // the cache holds the pass's tokens
    await forward(m, prompt.slice(cut), cut, GREEDY, 0);
    const split = await readLogits(m);
    let worst = 0;
    for (let i = 0; i < whole.length; i++) worst = Math.max(worst, Math.abs(split[i] - whole[i]));
    expect(worst).toBeLessThan(1e-3);
  });

  it('tuned passes take at least minPassTokens, even when passMs asks for fewer', async () => {
    const prompt = engine.tokenize('Lily and Ben were friends. They went to the park and saw a big dog. '.repeat(2)).slice(0, 40);
    expect(prompt.length).toBe(40);
    const passes = async (minPassTokens: number) => {
      Object.assign(engine.tuning, { passMs: 1e-6, minPassTokens });
      const reads = engine.model.readback.reads;
      const r = await engine.complete(prompt, { ...GREEDY, maxTokens: 1, reuseKv: false });
      return { n: engine.model.readback.reads - reads, ids: r.ids };
    };
    try {
      const tile = engine.model.tokenTile;
      // The pass size carries over between requests: it starts at 4 (no pass has run through the engine yet). The
      // second pass is submitted before the first has run, so it takes the first's size too.
      const many = await passes(1); // 4, 4, then one token tile each
      expect(many.n).toBe(2 + Math.ceil(32 / tile));
      const few = await passes(16); // one tile twice (where the last request left it), then 16s and the rest
      expect(few.n).toBe(2 + Math.ceil((40 - 2 * tile) / 16));
      expect(few.ids).toEqual(many.ids);
    } finally {
      Object.assign(engine.tuning, { passMs: 100, minPassTokens: 16 });
    }
  });
});
