import { describe, expect, it } from 'vitest';
import { Allocator, readBuffer, writeBuffer } from '../src/gpu/buffers.ts';
import { buildSample, decodeLogprobs, LOGPROBS_WORDS, NONFINITE_LOGITS, resetSampler, writeAllowed } from '../src/kernels/sample.ts';
import { adjustLogitsRef, logprobsRef, samplerRef, type SampleSettings } from '../src/kernels/ref/sample.ts';
import { LOGIT_BIAS_CAP, OPENAI_SAMPLING_NAMES, validateSampling, type SamplingOptions } from '../src/sampling.ts';
import { isEmberError } from '../src/errors.ts';
import { randn, rng, run, setStep, stepBuffer, testGpu } from './helpers/gpu.ts';

/** A sampler case: the settings of the draw and what is added to the logits first. */
interface Case extends Omit<SampleSettings, 'uniformRand'> {
  repetitionPenalty?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  bias?: boolean; // a logit_bias on a few tokens (one of them banned, one pushed up)
}

/** The GPU sampler over `vocab` logit rows of which the first nValid may be chosen. */
async function gpuSampler(vocab: number, nValid: number) {
  const gpu = await testGpu();
  const alloc = new Allocator(gpu);
  const logits = alloc.storage('logits', vocab * 4); // (vocab)
  const result = alloc.storage('result', 4);
  const step = stepBuffer(alloc);
  const s = await buildSample(gpu, alloc, { vocab, nValid, logits, result, step });
  let nBias = 0;
  return {
    /** A request starts: counts cleared, the prompt marked, the bias written. */
    start(promptIds: readonly number[], bias: ReadonlyMap<number, number>) {
      const resolved = validateSampling({ logitBias: Object.fromEntries(bias) });
      nBias = resolved.logitBias.ids.length;
      resetSampler(gpu, s, promptIds, resolved);
    },
    async pick(l: Float32Array, c: Case, u: number, record = true, allowed?: Uint32Array, logprobs = 0): Promise<number> {
      writeBuffer(gpu, logits, l); // the sampler adjusts them in place, as the LM head rewrites them every step
      if (allowed) writeAllowed(gpu, s, allowed);
      setStep(alloc, step, {
        temperature: c.temperature, top_k: c.topK, top_p: c.topP, min_p: c.minP ?? 0,
        repetition_penalty: c.repetitionPenalty ?? 1,
        presence_penalty: c.presencePenalty ?? 0,
        frequency_penalty: c.frequencyPenalty ?? 0,
        n_bias: nBias, record: record ? 1 : 0, uniform_rand: u, masked: allowed ? 1 : 0, logprobs,
      });
      run(gpu, logprobs > 0 ? [...s.pick, s.logprobs] : s.pick, 1);
      return new Uint32Array(await readBuffer(gpu, result, 4))[0];
    },
    /** What the `logprobs` pass wrote after the latest pick. */
    async logprobs() {
      return decodeLogprobs(new Uint32Array(await readBuffer(gpu, s.lp, LOGPROBS_WORDS * 4)));
    },
    dispose: () => alloc.destroyAll(),
  };
}

const CASES: Record<string, Case> = {
  greedy: { temperature: 0, topK: 0, topP: 1 },
  temperature: { temperature: 1, topK: 0, topP: 1 },
  'top-k': { temperature: 0.7, topK: 40, topP: 1 },
  'top-p': { temperature: 1.3, topK: 0, topP: 0.9 },
  'min-p': { temperature: 1, topK: 0, topP: 1, minP: 0.1 },
  'min-p on the top-k candidates': { temperature: 1.2, topK: 40, topP: 1, minP: 0.05 },
  'top-k and top-p': { temperature: 1, topK: 5, topP: 0.5 },
  'logit_bias (greedy)': { temperature: 0, topK: 0, topP: 1, bias: true },
  'logit_bias (sampled)': { temperature: 1, topK: 0, topP: 1, bias: true },
  'repetition penalty (greedy)': { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1.8 },
  'repetition penalty (sampled)': { temperature: 0.8, topK: 40, topP: 1, repetitionPenalty: 1.3 },
  'presence penalty': { temperature: 0, topK: 0, topP: 1, presencePenalty: 1.5 },
  'frequency penalty': { temperature: 0, topK: 0, topP: 1, frequencyPenalty: 0.75 },
  'negative presence and frequency': { temperature: 0.5, topK: 0, topP: 1, presencePenalty: -0.5, frequencyPenalty: -0.25 },
  combined: {
    temperature: 0.9, topK: 50, topP: 0.95, minP: 0.02, repetitionPenalty: 1.3, presencePenalty: 0.5, frequencyPenalty: 0.25, bias: true,
  },
  'combined, full passes': {
    temperature: 1.1, topK: 0, topP: 0.8, minP: 0.01, repetitionPenalty: 1.2, presencePenalty: 0.25, frequencyPenalty: 0.5, bias: true,
  },
};

// Awkward sizes: fewer rows than the workgroup, odd sizes, and padded rows past the tokenizer's vocabulary.
const SIZES = [
  { vocab: 33, nValid: 33 },
  { vocab: 257, nValid: 257 },
  { vocab: 1000, nValid: 937 },
  { vocab: 5003, nValid: 4999 },
];

describe('GPU sampler vs the CPU reference', () => {
  it.each(SIZES)('every option alone and combined, 6 steps a request (vocab $vocab, valid $nValid)', async ({ vocab, nValid }) => {
    const s = await gpuSampler(vocab, nValid);
    const r = rng(vocab);
    // Steps share a base so that tokens come back and the penalties bite; padded rows would win if sampled.
    const base = randn(r, vocab, 3);
    for (let i = nValid; i < vocab; i++) base[i] = 30;
    const top = [...base.subarray(0, nValid).keys()].sort((a, b) => base[b] - base[a]);
    const promptIds = [top[0], top[2], 5, 7, top[0], 1];
    let changedByAdjustments = 0;
    for (const [name, c] of Object.entries(CASES)) {
      const bias = new Map<number, number>(c.bias ? [[top[1], -100], [top[9], 6.5], [3, 2], [nValid - 1, 4]] : []);
      s.start(promptIds, bias);
      const generatedIds: number[] = [];
      for (let t = 0; t < 6; t++) {
        const l = Float32Array.from(base, (v, i) => (i < nValid ? v + 0.3 * randn(r, 1)[0] : v));
        const u = r();
        const got = await s.pick(l, c, u);
        const settings = { ...c, uniformRand: u, nValid };
        const want = samplerRef(l, { ...settings, logitBias: bias, promptIds, generatedIds });
        expect(got, JSON.stringify({ name, step: t, u })).toBe(want);
        if (want !== samplerRef(l, settings)) changedByAdjustments++;
        generatedIds.push(got);
      }
    }
    expect(changedByAdjustments).toBeGreaterThan(5); // the bias and the penalties did change choices
    s.dispose();
  });

  it('a pick with record off (a prefill pass whose sample is dropped) is not counted', async () => {
    const s = await gpuSampler(100, 100);
    const l = randn(rng(4), 100, 2);
    const c: Case = { temperature: 0, topK: 0, topP: 1, frequencyPenalty: 2, presencePenalty: 2 };
    s.start([], new Map());
    const first = await s.pick(l, c, 0, false);
    expect(await s.pick(l, c, 0, false)).toBe(first);
    expect(await s.pick(l, c, 0, true)).toBe(first); // counted from now on
    const second = await s.pick(l, c, 0, true);
    expect(second).not.toBe(first);
    expect(second).toBe(samplerRef(l, { ...c, uniformRand: 0, generatedIds: [first] }));
    s.start([], new Map()); // a new request forgets the counts
    expect(await s.pick(l, c, 0)).toBe(first);
    s.dispose();
  });

  // `part` splits the vocabulary into chunks (sampleParts): each chunk's max and min, then one workgroup over those.
  it('greedy ties across the chunks of `part` take the lowest index, as llama.cpp does; the bias reaches every chunk', async () => {
    const vocab = 5003;
    const s = await gpuSampler(vocab, vocab);
    const greedy: Case = { temperature: 0, topK: 0, topP: 1 };
    s.start([], new Map());
    const l = new Float32Array(vocab).fill(-1);
    expect(await s.pick(l, greedy, 0, false)).toBe(0); // all equal
    l[4990] = 3;
    expect(await s.pick(l, greedy, 0, false)).toBe(4990); // the last chunk
    l[70] = 3;
    l[2500] = 3;
    expect(await s.pick(l, greedy, 0, false)).toBe(70);
    for (const id of [0, 2501, 5002]) { // a bias in the first, a middle and the last chunk
      s.start([], new Map([[id, 50]]));
      expect(await s.pick(l, greedy, 0, false)).toBe(id);
    }
    s.dispose();
  });

  it('more ties at the top-k threshold than the candidate slots falls back to the full passes', async () => {
    const vocab = 700;
    const s = await gpuSampler(vocab, vocab);
    const logits = new Float32Array(vocab).fill(1.5); // 700 tokens tie for every top-k threshold
    logits[3] = 2;
    s.start([], new Map());
    for (const u of [0.01, 0.4, 0.77, 0.999]) {
      const cases = [{ temperature: 1, topK: 3, topP: 1 }, { temperature: 0.5, topK: 2, topP: 0.3 }, { temperature: 1, topK: 2, topP: 1, minP: 0.5 }];
      for (const c of cases) {
        const want = samplerRef(logits, { ...c, uniformRand: u });
        expect(await s.pick(logits, c, u, false), JSON.stringify({ ...c, u })).toBe(want);
      }
    }
    s.dispose();
  });

  it('a NaN or infinite logit in any chunk: NONFINITE_LOGITS and nothing counted, greedy or sampled; masked rows are not read', async () => {
    const vocab = 5003, nValid = 4999;
    const s = await gpuSampler(vocab, nValid);
    const clean = randn(rng(12), vocab, 2);
    clean[5000] = NaN; // a masked row
    const cases: Case[] = [{ temperature: 0, topK: 0, topP: 1 }, { temperature: 0.8, topK: 40, topP: 0.9 }, { temperature: 1, topK: 0, topP: 1, frequencyPenalty: 1 }];
    s.start([], new Map());
    for (const c of cases) {
      const want = samplerRef(clean, { ...c, uniformRand: 0.3, nValid });
      for (const [at, v] of [[0, NaN], [2500, Infinity], [4998, -Infinity]] as const) {
        const l = clean.slice();
        l[at] = v;
        expect(await s.pick(l, c, 0.3), `${JSON.stringify(c)} ${v} at ${at}`).toBe(NONFINITE_LOGITS);
      }
      expect(await s.pick(clean, c, 0.3, false)).toBe(want); // no count was taken above (frequencyPenalty would show it)
    }
    s.dispose();
  });

  it.each(SIZES)("a grammar's mask: only allowed tokens, every option, as the reference (vocab $vocab, valid $nValid)", async ({ vocab, nValid }) => {
    const s = await gpuSampler(vocab, nValid);
    const r = rng(vocab + 1);
    let differs = 0;
    for (const [name, c] of Object.entries(CASES)) {
      const bias = new Map<number, number>(c.bias ? [[1, 40], [nValid - 2, 3]] : []);
      s.start([2, 3, 2], bias);
      const generatedIds: number[] = [];
      for (let t = 0; t < 4; t++) {
        const l = randn(r, vocab, 3);
        // Few tokens allowed, as a grammar allows (one, a handful, or about half), the best ones often among the banned.
        const density = [0.002, 0.05, 0.5, 0][t];
        const allowed = new Uint32Array(Math.ceil(vocab / 32));
        for (let id = 0; id < nValid; id++) if (r() < density || id === (t * 7) % nValid) allowed[id >>> 5] |= 1 << (id & 31);
        const u = r();
        const got = await s.pick(l, c, u, true, allowed);
        const want = samplerRef(l, { ...c, uniformRand: u, nValid, logitBias: bias, promptIds: [2, 3, 2], generatedIds, allowed });
        expect(got, JSON.stringify({ name, step: t, u })).toBe(want);
        expect((allowed[got >>> 5] >>> (got & 31)) & 1, `${name}: ${got} is not allowed`).toBe(1);
        if (want !== samplerRef(l, { ...c, uniformRand: u, nValid, logitBias: bias, promptIds: [2, 3, 2], generatedIds })) differs++;
        generatedIds.push(got);
      }
    }
    expect(differs).toBeGreaterThan(10); // the mask did change choices
    s.dispose();
  });

  it.each(SIZES)("logprobs: the chosen token's and the k likeliest, after bias, penalties and mask, as the reference (vocab $vocab)", async ({ vocab, nValid }) => {
    const s = await gpuSampler(vocab, nValid);
    const r = rng(vocab + 2);
    const cases: Array<[Case, number, boolean]> = [
      [CASES.greedy, 0, false], [CASES.greedy, 5, false], [CASES['top-k'], 20, false], [CASES.combined, 3, false], [CASES['top-p'], 20, true],
    ];
    for (const [c, k, masked] of cases) {
      const bias = new Map<number, number>(c.bias ? [[1, 40], [nValid - 2, 3]] : []);
      s.start([2, 3], bias);
      const l = randn(r, vocab, 3);
      let allowed: Uint32Array | undefined;
      if (masked) { // fewer allowed than k: only those are reported
        allowed = new Uint32Array(Math.ceil(vocab / 32));
        for (const id of [0, 7, nValid - 1]) allowed[id >>> 5] |= 1 << (id & 31);
      }
      const u = r();
      const got = await s.pick(l, c, u, false, allowed, 1 + k);
      const adjusted = adjustLogitsRef(l, { ...c, logitBias: bias, promptIds: [2, 3], allowed });
      const want = logprobsRef(adjusted, got, k, nValid);
      const lp = await s.logprobs();
      expect(lp.top.map((t) => t.id), JSON.stringify({ c, k })).toEqual(want.top.map((t) => t.id));
      expect(lp.logprob).toBeCloseTo(want.logprob, 4);
      lp.top.forEach((t, j) => expect(t.logprob).toBeCloseTo(want.top[j].logprob, 4));
      if (masked) expect(lp.top.length).toBe(3);
    }
    s.dispose();
  });

  it('greedy ties take the lower index; masked rows never win', async () => {
    const s = await gpuSampler(1000, 990);
    const logits = randn(rng(9), 1000, 3);
    logits[700] = logits[701] = 12;
    logits[995] = 50;
    s.start([], new Map());
    expect(await s.pick(logits, { temperature: 0, topK: 0, topP: 1 }, 0)).toBe(700);
    for (const u of [0, 0.5, 0.999]) expect(await s.pick(logits, { temperature: 5, topK: 0, topP: 1 }, u)).toBeLessThan(990);
    s.dispose();
  });
});

describe('validateSampling', () => {
  const expectBad = (o: SamplingOptions, name: string, expected: RegExp, found: string, names?: typeof OPENAI_SAMPLING_NAMES) => {
    try {
      validateSampling(o, { vocabSize: 300, names });
    } catch (e) {
      expect(isEmberError(e, 'BAD_ARGUMENT'), String(e)).toBe(true);
      const err = e as { message: string; details: Record<string, unknown> };
      expect(err.details.option).toBe(name);
      expect(err.details.expected).toMatch(expected);
      expect(err.details.found).toBe(found);
      expect(err.message).toContain(name);
      return;
    }
    throw new Error(`${JSON.stringify(o)} was accepted`);
  };

  it('names the option, the expected and the found value', () => {
    expectBad({ temperature: -1 }, 'temperature', />= 0/, '-1');
    expectBad({ temperature: NaN }, 'temperature', /finite/, 'NaN');
    expectBad({ topK: 2.5 }, 'topK', /integer/, '2.5');
    expectBad({ topP: 0 }, 'topP', /\(0, 1\]/, '0');
    expectBad({ minP: 1.5 }, 'minP', /\[0, 1\]/, '1.5');
    expectBad({ repetitionPenalty: 0 }, 'repetitionPenalty', /> 0/, '0');
    expectBad({ presencePenalty: 3 }, 'presencePenalty', /\[-2, 2\]/, '3');
    expectBad({ frequencyPenalty: '1' as unknown as number }, 'frequencyPenalty', /\[-2, 2\]/, '"1"');
    expectBad({ seed: 1.5 }, 'seed', /integer/, '1.5');
    expectBad({ seed: 1e300 }, 'seed', /an integer of magnitude below 2\^53/, '1e+300'); // an integer, past exact ones
    expectBad({ logitBias: { 300: 1 } }, 'logitBias', /below 300/, 'key "300"');
    expectBad({ logitBias: { '-1': 1 } }, 'logitBias', /token ids/, 'key "-1"');
    expectBad({ logitBias: { 5: 101 } }, 'logitBias', /\[-100, 100\]/, '101 for token 5');
    expectBad({ logitBias: [1, 2] as unknown as Record<number, number> }, 'logitBias', /object/, '[1,2]');
    const many = Object.fromEntries(Array.from({ length: LOGIT_BIAS_CAP + 1 }, (_, i) => [i, 1]));
    expect(() => validateSampling({ logitBias: many })).toThrow(/at most 1024/);
    expectBad({ minP: -0.1 }, 'min_p', /\[0, 1\]/, '-0.1', OPENAI_SAMPLING_NAMES);
    expectBad({ logitBias: { x: 1 } as unknown as Record<number, number> }, 'logit_bias', /token ids/, 'key "x"', OPENAI_SAMPLING_NAMES);
  });

  it('fills in the defaults and folds any integer seed to 32 bits', () => {
    const r = validateSampling({ seed: -1, logitBias: { 7: -100, 2: 3 } }, { vocabSize: 10 });
    expect(r).toMatchObject({ temperature: 0.8, topK: 40, topP: 0.95, minP: 0, seed: 2 ** 32 - 1 });
    expect(r).toMatchObject({ repetitionPenalty: 1, presencePenalty: 0, frequencyPenalty: 0 });
    expect([...r.logitBias.ids]).toEqual([2, 7]);
    expect([...r.logitBias.values]).toEqual([3, -100]);
    expect(validateSampling({ seed: 2 ** 40 + 5 }).seed).toBe(5);
  });
});
