/**
 * Streams that cannot wedge the engine, on stories260K: streams read round-robin, dropped iterators
 * (return(), the signal, garbage collection), Stop during a prefill, dispose() during a stream, and
 * typed errors for every option. After each, a new generation gives the oracle's greedy ids.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, type GenerationStream } from '../src/engine.ts';
import type { EmberError } from '../src/errors.ts';
import { expectEmberError } from './helpers/errors.ts';
import { testGpu } from './helpers/gpu.ts';
import { sharedModelPath } from './helpers/models.ts';
import { readOracle } from './helpers/oracle.ts';

const STORIES = 'stories260K/stories260K.gguf';
const GREEDY = { temperature: 0, topK: 0, topP: 1 } as const;
const oracle = readOracle('stories260K.llama-cpp.json').results;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Ids of a stream read to its end. */
async function drain(s: GenerationStream): Promise<number[]> {
  const ids: number[] = [];
  for (let r = await s.next(); !r.done; r = await s.next()) if (r.value.id >= 0) ids.push(r.value.id);
  return ids;
}

describe('streams that cannot wedge the engine', () => {
  let engine: Engine;
  const expectOracle = async (i: number) => {
    const r = await engine.complete(oracle[i].prompt, { ...GREEDY, maxTokens: 32 });
    expect(r.ids).toEqual(oracle[i].generated_token_ids);
  };
  beforeAll(async () => {
    engine = await Engine.load(sharedModelPath(STORIES), { gpu: await testGpu(), contextLength: 256 });
  });
  afterAll(() => engine?.dispose());

  for (const runAheadMs of [1000, 0]) {
    it(`two streams read round-robin both complete with their own greedy ids (runAheadMs ${runAheadMs})`, async () => {
      engine.tuning.runAheadMs = runAheadMs; // 0: a stream steps aside at once and resumes by re-running its tokens
      try {
        const a = engine.generate(oracle[0].prompt, { ...GREEDY, maxTokens: 32 });
        const b = engine.generate(oracle[1].prompt, { ...GREEDY, maxTokens: 32 });
        const ids: [number[], number[]] = [[], []];
        let doneA = false, doneB = false;
        while (!doneA || !doneB) {
          if (!doneA) {
            const r = await a.next();
            if (r.done) doneA = true;
            else if (r.value.id >= 0) ids[0].push(r.value.id);
          }
          if (!doneB) {
            const r = await b.next();
            if (r.done) doneB = true;
            else if (r.value.id >= 0) ids[1].push(r.value.id);
          }
        }
        expect(ids[0]).toEqual(oracle[0].generated_token_ids);
        expect(ids[1]).toEqual(oracle[1].generated_token_ids);
        expect((await a.result).finishReason).toBe('length');
        expect((await b.result).ids).toEqual(oracle[1].generated_token_ids);
      } finally {
        engine.tuning.runAheadMs = 1000;
      }
    });
  }

  it('sampled streams with penalties, read round-robin and resumed after each token, replay their solo runs', async () => {
    const opts = { temperature: 0.9, topK: 40, topP: 0.95, repetitionPenalty: 1.3, frequencyPenalty: 0.5, maxTokens: 24 };
    const solo = [
      (await engine.complete(oracle[0].prompt, { ...opts, seed: 3 })).ids,
      (await engine.complete(oracle[1].prompt, { ...opts, seed: 4, logitBias: { 13: 5 } })).ids,
    ];
    engine.tuning.runAheadMs = 0; // each stream steps aside after every token: the sampler state is restored each time
    try {
      const a = engine.generate(oracle[0].prompt, { ...opts, seed: 3 });
      const b = engine.generate(oracle[1].prompt, { ...opts, seed: 4, logitBias: { 13: 5 } });
      const [ra, rb] = await Promise.all([drain(a), drain(b)]);
      expect(ra).toEqual(solo[0]);
      expect(rb).toEqual(solo[1]);
    } finally {
      engine.tuning.runAheadMs = 1000;
    }
  });

  it('next() on two streams at once, and a third started while both run', async () => {
    const a = engine.generate(oracle[0].prompt, { ...GREEDY, maxTokens: 32 });
    const b = engine.generate(oracle[1].prompt, { ...GREEDY, maxTokens: 32 });
    const [fa, fb] = await Promise.all([a.next(), b.next()]);
    expect([fa.value, fb.value].map((v) => (v as { id: number }).id)).toEqual([oracle[0].generated_token_ids[0], oracle[1].generated_token_ids[0]]);
    const c = await engine.complete(oracle[2].prompt, { ...GREEDY, maxTokens: 32 });
    expect(c.ids).toEqual(oracle[2].generated_token_ids);
    expect([(fb.value as { id: number }).id, ...(await drain(b))]).toEqual(oracle[1].generated_token_ids);
    expect((await a.return(undefined as never)).done).toBe(true);
    expect((await a.result).finishReason).toBe('abort');
  });

  it('a stream dropped after one next() (no return) does not hold the engine', async () => {
    engine.tuning.runAheadMs = 50;
    try {
      const dropped = engine.generate(oracle[0].prompt, { ...GREEDY, maxTokens: 200 });
      await dropped.next();
      await expectOracle(1); // steps aside after 50 ms of running ahead
      await expectOracle(2);
    } finally {
      engine.tuning.runAheadMs = 1000;
    }
  });

  it('a dropped stream that is garbage-collected is closed (FinalizationRegistry)', async () => {
    // In a function of its own, so that no suspended frame of this test keeps the stream alive.
    const startAndDrop = async () => {
      const s = engine.generate(oracle[0].prompt, { ...GREEDY, maxTokens: 200 });
      await s.next();
      return { result: s.result };
    };
    const { result } = await startAndDrop();
    for (let i = 0; i < 20; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    const never = new Promise((_, reject) => setTimeout(() => reject(new Error('the dropped stream was not collected and closed')), 30_000));
    const r = (await Promise.race([result, never])) as { finishReason: string; ids: number[] };
    expect(r.finishReason).toBe('abort');
    expect(r.ids).toEqual(oracle[0].generated_token_ids.slice(0, 1)); // what the reader was given
    await expectOracle(2);
  });

  it('return() and the signal release a stream at once; queued requests run after it', async () => {
    const a = engine.generate(oracle[0].prompt, { ...GREEDY, maxTokens: 200 });
    await a.next();
    const waiting = engine.complete(oracle[1].prompt, { ...GREEDY, maxTokens: 32 }); // in line behind a
    await a.return(undefined as never);
    expect((await waiting).ids).toEqual(oracle[1].generated_token_ids);

    const ac = new AbortController();
    const b = engine.generate(oracle[0].prompt, { ...GREEDY, maxTokens: 200, signal: ac.signal });
    await b.next();
    const queued = engine.generate(oracle[2].prompt, { ...GREEDY, maxTokens: 32, signal: ac.signal });
    const queuedFirst = queued.next(); // joins the line behind b
    ac.abort();
    expect((await queuedFirst).done).toBe(true);
    expect((await queued.result).finishReason).toBe('abort');
    const rb = await b.next();
    expect(rb.done).toBe(true);
    expect(rb.value).toMatchObject({ finishReason: 'abort', ids: oracle[0].generated_token_ids.slice(0, 1) });
    await expectOracle(2);
  });

  it('result settles for a stream ended before its first next(): return(), a signal (before or after), a bad request', async () => {
    const settles = <T>(p: Promise<T>) => Promise.race([p, new Promise<never>((_, no) => setTimeout(() => no(new Error('result did not settle')), 5000))]);
    const closed = engine.generate(oracle[0].prompt, { ...GREEDY, maxTokens: 5 });
    const r = await closed.return(undefined as never);
    expect(r.done).toBe(true);
    expect(await settles(closed.result)).toMatchObject({ finishReason: 'abort', ids: [] });
    expect((await closed.next()).done).toBe(true);

    const early = new AbortController();
    early.abort();
    const pre = engine.generate(oracle[0].prompt, { ...GREEDY, maxTokens: 5, signal: early.signal });
    expect(await settles(pre.result)).toMatchObject({ finishReason: 'abort', ids: [] });

    const late = new AbortController();
    const post = engine.generate(oracle[0].prompt, { ...GREEDY, maxTokens: 5, signal: late.signal });
    late.abort();
    expect(await settles(post.result)).toMatchObject({ finishReason: 'abort', ids: [] });
    expect((await post.next()).done).toBe(true);

    const bad = engine.generate(oracle[0].prompt, { temperature: -1 });
    await expectEmberError(() => settles(bad.result), 'BAD_ARGUMENT', /temperature/);
    await expectEmberError(() => bad.next(), 'BAD_ARGUMENT', /temperature/);
    const badClosed = engine.generate(oracle[0].prompt, { temperature: -1 });
    await badClosed.return(undefined as never);
    await expectEmberError(() => settles(badClosed.result), 'BAD_ARGUMENT', /temperature/);
    await expectOracle(1);
  });

  it('Stop during a long prefill: no token, finishReason abort, the prefill stopped between passes', async () => {
    const e = await Engine.load(sharedModelPath(STORIES), { gpu: await testGpu(), contextLength: 512, maxBatch: 4 });
    try {
      const prompt = e.tokenize('Once upon a time, there was a little girl named Lily. '.repeat(30)).slice(0, 400);
      const ac = new AbortController();
      const s = e.generate(prompt, { ...GREEDY, maxTokens: 8, signal: ac.signal });
      const first = s.next();
      setTimeout(() => ac.abort(), 0); // fires while the first pass runs on the GPU
      const r = await first;
      expect(r.done).toBe(true);
      expect(r.value).toMatchObject({ finishReason: 'abort', ids: [], text: '' });
      expect(e.model.kv.ids.length).toBeLessThan(prompt.length); // not the whole prompt
      expect(e.model.kv.ids).toEqual(prompt.slice(0, e.model.kv.ids.length));
      // The next request works, and gives the oracle's ids.
      const next = await e.complete(oracle[0].prompt, { ...GREEDY, maxTokens: 32 });
      expect(next.ids).toEqual(oracle[0].generated_token_ids);
    } finally {
      e.dispose();
    }
  });

  it('dispose() during a stream ends it with ABORTED carrying the tokens so far; queued ones end too', async () => {
    const e = await Engine.load(sharedModelPath(STORIES), { gpu: await testGpu(), contextLength: 128 });
    const s = e.generate(oracle[0].prompt, { ...GREEDY, maxTokens: 100 });
    const got: number[] = [];
    for (let i = 0; i < 5; i++) got.push(((await s.next()).value as { id: number }).id);
    const queued = e.complete(oracle[1].prompt, GREEDY);
    e.dispose();
    const err = await expectEmberError(() => drain(s), 'ABORTED', /disposed during the generation, after \d+ generated tokens/);
    const ids = err.details.ids as number[];
    expect(ids.slice(0, 5)).toEqual(got);
    expect(ids).toEqual(oracle[0].generated_token_ids.slice(0, ids.length));
    expect(err.details).toMatchObject({ finishReason: 'abort', promptIds: oracle[0].prompt_token_ids });
    expect(err.details.text).toBe(e.tokenizer.decode(ids).replace(/^ /, oracle[0].full_text[oracle[0].prompt.length] === ' ' ? ' ' : ''));
    await expectEmberError(() => queued, 'ABORTED', /disposed/);
    await expectEmberError(() => e.complete('x'), 'BAD_ARGUMENT', /disposed/);
  });

  it('typed errors for every option and for bad token arrays; the engine stays usable', async () => {
    const bad = async (opts: object, pattern: RegExp) => expectEmberError(() => engine.complete('x', opts), 'BAD_ARGUMENT', pattern);
    await bad({ maxTokens: -1 }, /maxTokens must be an integer in 0 or more, got -1/);
    await bad({ maxTokens: 1.5 }, /maxTokens/);
    await bad({ temperature: NaN }, /sampling option temperature must be a finite number >= 0, got NaN/);
    await bad({ temperature: Infinity }, /temperature/);
    await bad({ temperature: -1 }, /temperature/);
    await bad({ topK: 2.5 }, /topK/);
    await bad({ topP: 0 }, /sampling option topP must be in \(0, 1\] \(1 = off\), got 0/);
    await bad({ topP: '0.5' }, /topP .* got "0.5"/);
    await bad({ seed: 'abc' }, /seed/);
    await bad({ addBos: 1 }, /addBos must be true or false, got 1/);
    await bad({ stopAtEos: 'no' }, /stopAtEos/);
    await bad({ contextOverflow: 'wrap' }, /contextOverflow must be one of error, truncate-middle, sliding-window, got "wrap"/);
    await bad({ keepTokens: -3 }, /keepTokens/);
    await bad({ reuseKv: 'yes' }, /reuseKv/);
    await bad({ signal: 'stop' }, /signal must be an AbortSignal/);
    const tune = (name: string, v: unknown, pattern: RegExp) => expectEmberError(() => Object.assign(engine.tuning, { [name]: v }), 'BAD_ARGUMENT', pattern);
    await tune('passMs', NaN, /tuning\.passMs must be a number above 0 .*got NaN/);
    await tune('passMs', 0, /passMs/);
    await tune('minPassTokens', NaN, /tuning\.minPassTokens must be an integer in 1 or more, got NaN/);
    await tune('runAheadMs', -1, /runAheadMs/);
    await tune('decodeAhead', 5, /tuning\.decodeAhead must be an integer in 1\.\.4, got 5/);
    await tune('decodeAhead', '2', /decodeAhead/);
    expect({ ...Object.fromEntries(['passMs', 'minPassTokens', 'runAheadMs'].map((k) => [k, engine.tuning[k as 'passMs']])) }).toEqual({ passMs: 100, minPassTokens: 8, runAheadMs: 1000 });
    const ids = async (p: unknown[], pattern: RegExp) => expectEmberError(() => engine.complete(p as number[], GREEDY), 'BAD_ARGUMENT', pattern);
    await ids([1, 3.7], /prompt\[1\] must be an integer token id in 0\.\.511, got 3\.7/);
    await ids([1, '5'], /prompt\[1\] .* got "5"/);
    await ids([1, null], /prompt\[1\] .* got null/);
    await ids([1, NaN], /prompt\[1\] .* got NaN/);
    await ids([1, -2], /prompt\[1\] must be inside the vocabulary/);
    await expectEmberError(() => engine.complete({} as never), 'BAD_ARGUMENT', /the prompt must be a string or an array of token ids, got \{\}/);
    const load = (opts: object) => Engine.load(sharedModelPath(STORIES), { gpu: engine.model.gpu, ...opts });
    for (const maxBatch of [NaN, 0, -4, 1.5, '8', Infinity]) {
      await expectEmberError(() => load({ maxBatch }), 'BAD_ARGUMENT', /maxBatch must be an integer in 1 or more, got/);
    }
    for (const contextLength of [NaN, 0, -1, 2.5, '64', null]) {
      await expectEmberError(() => load({ contextLength }), 'BAD_ARGUMENT', /contextLength must be an integer in 1 or more, got/);
    }
    for (const precompile of ['yes', 1, null]) {
      await expectEmberError(() => load({ precompile }), 'BAD_ARGUMENT', /precompile must be/);
    }
    for (const kvCache of ['q8', 'F16', 8, null]) {
      const e = await expectEmberError(() => load({ kvCache }), 'BAD_ARGUMENT', /kvCache must be one of f16, int8, fp8-e4m3, f32, got/);
      expect((e as EmberError).details.option).toBe('kvCache');
    }
    await expectOracle(0);
  });

  it('errors carry what was generated: a bad id mid-stream is not possible, a lost device is (see kv_reuse.test.ts)', async () => {
    // A request that fails before any token (here: options) carries no tokens; the next one runs.
    const e = await expectEmberError(() => engine.complete('x', { topK: -1 }), 'BAD_ARGUMENT', /topK/);
    expect((e as EmberError).details.option).toBe('topK');
    await expectOracle(1);
  });
});
