/**
 * The pipelined decode loop (engine.tuning.decodeAhead), on stories260K: decode steps submitted ahead,
 * each taking its token from the previous step's sample on the GPU, give exactly what the
 * one-step-at-a-time loop (decodeAhead 1) gives: the same ids and text, the same finish, the same
 * m.kv.ids, across maxTokens, EOS, stop strings, an abort mid-decode, interleaved streams that step
 * aside after every token, and the context's end under each overflow policy. The steps run ahead are
 * counted (readbacks): none past maxTokens or the context, and decodeAhead - 1 dropped after an EOS.
 * Dispose and a lost device with steps in flight end with their typed errors and what was produced.
 * On test/fixtures/granite4h, falcon_h1 and qwen3_5, whose recurrent (Mamba-2, Gated DeltaNet) states are kept only after each pass's last position, interleaved streams
 * and the overflow policies (each a restart behind the cache) equal their one-step and solo runs too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, type GenerateOptions, type GenerationResult } from '../src/engine.ts';
import { createChat } from '../src/chat/index.ts';
import { expectEmberError } from './helpers/errors.ts';
import { testGpu } from './helpers/gpu.ts';
import { hfOracleFolder, sharedModelPath } from './helpers/models.ts';
import { readOracle } from './helpers/oracle.ts';

const STORIES = 'stories260K/stories260K.gguf';
const GREEDY = { temperature: 0, topK: 0, topP: 1 } as const;
const SAMPLED = { temperature: 0.9, topK: 40, topP: 0.95, repetitionPenalty: 1.2, presencePenalty: 0.3, frequencyPenalty: 0.4 };
const EOS_BIAS = { 2: 20 }; // raises </s> until it wins after a few tokens (16-20 on this model), greedy or sampled
const oracle = readOracle('stories260K.llama-cpp.json').results;

/** What a run leaves behind, to compare between depths. */
interface Outcome {
  result: Omit<GenerationResult, 'stats'> & { steps: number };
  kv: number[];
  reads: number; // forward passes read back (every submitted pass is, dropped ones too)
}

/** Runs `fn` with decodeAhead = depth on `e`, counting the passes read back. */
async function at<T>(e: Engine, depth: number, fn: () => Promise<T>): Promise<{ value: T; reads: number; kv: number[] }> {
  const reads0 = e.model.readback.reads;
  e.tuning.decodeAhead = depth;
  try {
    const value = await fn();
    return { value, reads: e.model.readback.reads - reads0, kv: [...e.model.kv.ids] };
  } finally {
    e.tuning.decodeAhead = 2;
  }
}

async function complete(e: Engine, depth: number, prompt: string | number[], opts: GenerateOptions): Promise<Outcome> {
  const r = await at(e, depth, () => e.complete(prompt, { reuseKv: false, ...opts }));
  const { stats, ...rest } = r.value;
  expect(stats.tokenMs.length).toBe(Math.max(0, rest.ids.length - 1)); // one time per decode step, EOS's too
  return { result: { ...rest, steps: stats.tokenMs.length }, kv: r.kv, reads: r.reads };
}

describe('decode ahead: the pipelined loop equals the one-step loop', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(sharedModelPath(STORIES), { gpu: await testGpu(), contextLength: 256 });
    engine.tuning.passMs = Infinity; // prefill passes of maxBatch, not timed ones: the count of passes is fixed
  });
  afterAll(() => engine?.dispose());

  it('greedy to maxTokens: the oracle ids at every depth, the same cache, no step past maxTokens', async () => {
    for (const o of oracle) {
      const one = await complete(engine, 1, o.prompt, { ...GREEDY, maxTokens: 32 });
      expect(one.result.ids).toEqual(o.generated_token_ids);
      expect(one.kv).toEqual([...o.prompt_token_ids, ...o.generated_token_ids.slice(0, -1)]);
      for (const depth of [2, 3, 4]) expect(await complete(engine, depth, o.prompt, { ...GREEDY, maxTokens: 32 })).toEqual(one);
    }
  });

  it('EOS, greedy and seeded sampling with penalties: the steps after it are dropped', async () => {
    for (const opts of [{ ...GREEDY, logitBias: EOS_BIAS }, { ...SAMPLED, seed: 5, logitBias: EOS_BIAS }]) {
      const one = await complete(engine, 1, oracle[0].prompt, { ...opts, maxTokens: 60 });
      expect(one.result.finishReason).toBe('stop');
      expect(one.result.ids.length).toBeGreaterThan(3);
      for (const depth of [2, 3]) {
        const deep = await complete(engine, depth, oracle[0].prompt, { ...opts, maxTokens: 60 });
        expect(deep.result).toEqual(one.result);
        expect(deep.kv).toEqual(one.kv); // the dropped steps' positions are not in the cache
        expect(deep.reads).toBe(one.reads + depth - 1); // they did run: submitted before the EOS was read
      }
      // A request after them starts from the kept cache and samples as from scratch.
      const again = await complete(engine, 2, oracle[0].prompt, { ...opts, maxTokens: 60, reuseKv: true });
      expect(again.result).toEqual(one.result);
    }
  });

  it('seeded sampling with penalties and logit bias to maxTokens: equal at every depth', async () => {
    const opts = { ...SAMPLED, seed: 9, logitBias: { 13: 3 }, maxTokens: 40 };
    const one = await complete(engine, 1, oracle[1].prompt, opts);
    for (const depth of [2, 4]) expect(await complete(engine, depth, oracle[1].prompt, opts)).toEqual(one);
  });

  it('stop strings (chat): the same content, finish and cache', async () => {
    const chat = createChat(engine);
    const messages = [{ role: 'user' as const, content: oracle[0].prompt }];
    const whole = oracle[0].full_text.slice(oracle[0].prompt.length);
    for (const stop of ['Lily', ' named L']) {
      expect(whole).toContain(stop);
      const ask = (depth: number) => at(engine, depth, () => chat.completions.create({ messages, max_tokens: 32, ...GREEDY, stop }));
      const one = await ask(1);
      expect(one.value.choices[0]).toMatchObject({ finish_reason: 'stop', message: { content: whole.slice(0, whole.indexOf(stop)) } });
      for (const depth of [2, 3]) {
        const deep = await ask(depth);
        expect(deep.value.choices).toEqual(one.value.choices);
        expect(deep.value.usage.completion_tokens).toBe(one.value.usage.completion_tokens);
        expect(deep.kv).toEqual(one.kv);
      }
    }
  });

  it('abort mid-decode: the same tokens and cache, then the engine goes on from them', async () => {
    const aborted = async (depth: number) =>
      at(engine, depth, async () => {
        const ac = new AbortController();
        const s = engine.generate(oracle[2].prompt, { ...GREEDY, maxTokens: 32, reuseKv: false, signal: ac.signal });
        for (let i = 0; i < 5; i++) await s.next();
        ac.abort();
        const r = await s.next();
        expect(r.done).toBe(true);
        return r.value as GenerationResult;
      });
    const one = await aborted(1);
    expect(one.value.finishReason).toBe('abort');
    expect(one.value.ids).toEqual(oracle[2].generated_token_ids.slice(0, 5));
    for (const depth of [2, 3]) {
      const deep = await aborted(depth);
      expect(deep.value.ids).toEqual(one.value.ids);
      expect(deep.kv).toEqual(one.kv);
      expect(deep.kv).toEqual([...oracle[2].prompt_token_ids, ...one.value.ids.slice(0, 4)]);
      const more = await engine.complete(oracle[2].prompt, { ...GREEDY, maxTokens: 32 }); // reuses what the cache kept
      expect(more.ids).toEqual(oracle[2].generated_token_ids);
      expect(more.stats.cachedTokens).toBe(oracle[2].prompt_token_ids.length - 1);
    }
  });

  it('two interleaved sampled streams that step aside after every token replay their one-step solo runs', async () => {
    const optsA = { ...SAMPLED, seed: 3, maxTokens: 20 };
    const optsB = { ...SAMPLED, seed: 4, logitBias: { 13: 5 }, maxTokens: 20 };
    const solo = [
      (await complete(engine, 1, oracle[0].prompt, optsA)).result.ids,
      (await complete(engine, 1, oracle[1].prompt, optsB)).result.ids,
    ];
    for (const runAheadMs of [0, 1000]) {
      engine.tuning.runAheadMs = runAheadMs; // 0: each stream lets go after each token, its steps ahead dropped
      try {
        const r = await at(engine, 3, async () => {
          const a = engine.generate(oracle[0].prompt, optsA);
          const b = engine.generate(oracle[1].prompt, optsB);
          const ids: number[][] = [[], []];
          const done = [false, false];
          while (!done[0] || !done[1]) {
            for (const [k, s] of [a, b].entries()) {
              if (done[k]) continue;
              const n = await s.next();
              if (n.done) done[k] = true;
              else ids[k].push(n.value.id);
            }
          }
          return ids;
        });
        expect(r.value).toEqual(solo);
      } finally {
        engine.tuning.runAheadMs = 1000;
      }
    }
  });

  it('dispose and a lost device with 4 steps in flight: typed errors carrying the tokens produced, the cache without the dropped steps', async () => {
    for (const end of ['dispose', 'lost'] as const) {
      const e = await Engine.load(sharedModelPath(STORIES), { contextLength: 128 }); // a device of its own
      e.tuning.decodeAhead = 4;
      try {
        const s = e.generate(oracle[0].prompt, { ...GREEDY, maxTokens: 32 });
        const got: number[] = [];
        for (let i = 0; i < 6; i++) got.push(((await s.next()).value as { id: number }).id);
        if (end === 'dispose') e.dispose();
        else e.model.gpu.device.destroy();
        const err = await expectEmberError(async () => {
          for (let r = await s.next(); !r.done; r = await s.next()) got.push(r.value.id);
        }, end === 'dispose' ? 'ABORTED' : 'DEVICE', end === 'dispose' ? /disposed during the generation/ : /device was lost/);
        const ids = err.details.ids as number[];
        expect(ids.length).toBeGreaterThanOrEqual(6);
        expect(ids).toEqual(got.slice(0, ids.length));
        expect(ids).toEqual(oracle[0].generated_token_ids.slice(0, ids.length));
        if (end === 'lost') {
          const kv = e.model.kv.ids; // what recover() runs again: the tokens fed, none of the dropped steps'
          expect(kv).toEqual([...oracle[0].prompt_token_ids, ...ids].slice(0, kv.length));
          expect(kv.length).toBeGreaterThanOrEqual(oracle[0].prompt_token_ids.length + ids.length - 1);
        }
      } finally {
        e.dispose();
      }
    }
  });

  it('the context end, under each overflow policy: equal at every depth, no step past the context', async () => {
    const small = await Engine.load(sharedModelPath(STORIES), { gpu: await testGpu(), contextLength: 40, maxBatch: 16 });
    small.tuning.passMs = Infinity;
    try {
      for (const contextOverflow of ['error', 'truncate-middle', 'sliding-window'] as const) {
        const opts = { ...SAMPLED, seed: 7, repetitionPenalty: 1.1, maxTokens: 70, contextOverflow };
        const one = await complete(small, 1, oracle[0].prompt, opts);
        expect(one.result.finishReason).toBe('length');
        if (contextOverflow === 'error') expect(one.result.ids.length).toBe(40 - oracle[0].prompt_token_ids.length + 1);
        else expect(one.result.ids.length).toBe(70);
        for (const depth of [2, 3]) {
          const deep = await complete(small, depth, oracle[0].prompt, opts);
          expect(deep).toEqual(one);
        }
      }
    } finally {
      small.dispose();
    }
  });
});

// granite4h: Mamba-2 layers in place of attention; falcon_h1: beside it, K/V and states restarting together; qwen3_5: Gated
// DeltaNet layers in place of attention
describe.each(['granite4h', 'falcon_h1', 'qwen3_5'])('decode ahead on a recurrent model (test/fixtures/%s: recurrent states kept in slots by position)', (name) => {
  it('interleaved streams and the context end under each overflow policy: equal at every depth, as their solo runs', async () => {
    const g = await Engine.load(hfOracleFolder(name), { gpu: await testGpu(), contextLength: 40, maxBatch: 16 });
    g.tuning.passMs = Infinity;
    try {
      const prompts = ['Once upon a time', 'The cat sat on the'];
      const opts = [{ ...SAMPLED, seed: 3, maxTokens: 12 }, { ...SAMPLED, seed: 4, maxTokens: 12 }];
      const solo = [(await complete(g, 1, prompts[0], opts[0])).result.ids, (await complete(g, 1, prompts[1], opts[1])).result.ids];
      g.tuning.runAheadMs = 0; // each stream lets go after each token: every switch restarts the other's sequence
      const r = await at(g, 3, async () => {
        const streams = prompts.map((p, k) => g.generate(p, opts[k]));
        const ids: number[][] = [[], []];
        for (let open = 2; open > 0; ) {
          open = 0;
          for (const [k, s] of streams.entries()) {
            const n = await s.next();
            if (!n.done) [ids[k], open] = [n.value.id < 0 ? ids[k] : [...ids[k], n.value.id], open + 1]; // (-1: the text held back mid-character, flushed at the end)
          }
        }
        return ids;
      });
      expect(r.value).toEqual(solo);
      g.tuning.runAheadMs = 1000;
      for (const contextOverflow of ['error', 'truncate-middle', 'sliding-window'] as const) {
        const o = { ...SAMPLED, seed: 7, maxTokens: 50, contextOverflow };
        const one = await complete(g, 1, prompts[0], o);
        expect(one.result.finishReason).toBe('length');
        for (const depth of [2, 4]) expect(await complete(g, depth, prompts[0], o)).toEqual(one);
      }
    } finally {
      g.dispose();
    }
  });
});
