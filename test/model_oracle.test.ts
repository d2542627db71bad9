/**
 * Whole-model tests against llama.cpp (../shared/models/oracle): greedy ids for every prompt, and
 * logits at every position (fed one token at a time through the decode path, and as one prefill).
 * The oracles ran with an f32 K/V cache, so these engines load with kvCache 'f32'; the default f16 cache
 * is checked against llama.cpp's own default (f16) run, stories260K.llama-cpp.kvf16.json.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { forward, readLogits } from '../src/model/model.ts';
import { TextStreamer } from '../src/tokenizer/index.ts';
import { readOracle, readOracleLogits } from './helpers/oracle.ts';
import { sharedModelPath } from './helpers/models.ts';
import { testGpu, VARIANTS } from './helpers/gpu.ts';

const GREEDY = { temperature: 0, topK: 0, topP: 1 };
/**
 * |Δlogit| allowed against llama.cpp: `tol` at (at least) 80% of positions, `maxTol` at all of them.
 * F16: llama.cpp's own F16 path is ~1e-2 from exact maths (its numpy reference shows the same).
 * Q8_0/Q4_0: we quantize activations as llama.cpp does, so most positions agree to ~1e-6; but a
 * one-ULP difference anywhere (llama.cpp's x86 kernels use FMA and their own summation order) can
 * move an activation across an int8 rounding boundary in a later layer, and from then on that
 * sequence differs by up to ~0.3 (the oracle README's figure for exact-vs-llama.cpp maths). This
 * happens on "The cat" with Q4_0 from position 20 (92 of 107 positions within 1e-3); the CPU reference shows the same.
 */
const MODELS = [
  { file: 'stories260K/stories260K.gguf', oracle: 'stories260K', tol: 2e-4, maxTol: 2e-4 },
  { file: 'stories260K-derived/stories260K-F16.gguf', oracle: 'stories260K-F16', tol: 2e-2, maxTol: 2e-2 },
  { file: 'stories260K-derived/stories260K-Q8_0.gguf', oracle: 'stories260K-Q8_0', tol: 1e-3, maxTol: 0.3 },
  { file: 'stories260K-derived/stories260K-Q4_0.gguf', oracle: 'stories260K-Q4_0', tol: 1e-3, maxTol: 0.3 },
];

/** Checks per-position max |Δlogit|: all within maxTol, at least 80% within tol. */
function expectPositions(diffs: number[], tol: number, maxTol: number): void {
  expect(Math.max(...diffs)).toBeLessThanOrEqual(maxTol);
  const within = diffs.filter((d) => d <= tol).length;
  expect(within / diffs.length, `positions within ${tol}: ${within}/${diffs.length}`).toBeGreaterThanOrEqual(0.8);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe.each(VARIANTS)('llama.cpp oracle (%s)', (variant) => {
  describe.each(MODELS)('$oracle', ({ file, oracle, tol, maxTol }) => {
    let engine: Engine;
    beforeAll(async () => {
      engine = await Engine.load(sharedModelPath(file), { gpu: await testGpu(variant), contextLength: 256, kvCache: 'f32' });
    });
    afterAll(() => engine?.dispose());

    it('greedy ids equal llama.cpp for every prompt, 32 steps', async () => {
      for (const r of readOracle(`${oracle}.llama-cpp.json`).results) {
        const res = await engine.complete(r.prompt, { ...GREEDY, maxTokens: 32 });
        expect(res.promptIds, r.prompt).toEqual(r.prompt_token_ids);
        expect(res.ids, r.prompt).toEqual(r.generated_token_ids);
      }
    });

    it(`logits match llama.cpp within ${tol} at every position (decode path)`, async () => {
      const diffs: number[] = [];
      for (const run of readOracleLogits(`${oracle}.llama-cpp.logits.json`).runs) {
        for (let i = 0; i < run.input_tokens.length; i++) {
          await forward(engine.model, [run.input_tokens[i]], i, GREEDY, 0);
          diffs.push(maxAbsDiff(await readLogits(engine.model), run.logits[i]));
        }
      }
      expectPositions(diffs, tol, maxTol);
    });

    it('prefill of every prefix gives llama.cpp\'s last logits (GEMM path)', async () => {
      const diffs: number[] = [];
      for (const run of readOracleLogits(`${oracle}.llama-cpp.logits.json`).runs) {
        for (const n of [2, 5, 17, run.input_tokens.length]) {
          await forward(engine.model, run.input_tokens.slice(0, n), 0, GREEDY, 0);
          diffs.push(maxAbsDiff(await readLogits(engine.model), run.logits[n - 1]));
        }
      }
      expectPositions(diffs, tol, maxTol);
    });
  });

  it('f16 K/V cache (the default): greedy ids and top-5 logits equal llama.cpp\'s default-cache run', async () => {
    const engine = await Engine.load(sharedModelPath('stories260K/stories260K.gguf'), { gpu: await testGpu(variant), contextLength: 256 });
    try {
      expect(engine.model.kvCache).toBe('f16');
      const oracle = readOracle('stories260K.llama-cpp.kvf16.json');
      expect(oracle.kv_cache_type).toBe('default (F16)');
      let worst = 0;
      for (const r of oracle.results) {
        const res = await engine.complete(r.prompt, { ...GREEDY, maxTokens: 32 });
        expect(res.promptIds, r.prompt).toEqual(r.prompt_token_ids);
        expect(res.ids, r.prompt).toEqual(r.generated_token_ids);
        const inputs = [...r.prompt_token_ids, ...r.generated_token_ids];
        const expected = [...r.prompt_positions.map((p) => p.top5), ...r.steps.slice(1).map((s) => s.top5)];
        for (let i = 0; i < expected.length; i++) {
          await forward(engine.model, [inputs[i]], i, GREEDY, 0);
          const logits = await readLogits(engine.model);
          for (const t of expected[i]) worst = Math.max(worst, Math.abs(logits[t.token] - t.logit));
        }
      }
      console.log(`[oracle ${variant}] f16 K/V cache: max |dlogit| over top-5 vs llama.cpp's f16 cache ${worst.toExponential(2)}`);
      expect(worst).toBeLessThanOrEqual(2e-2); // the README's gap between llama.cpp's f16 and f32 caches
    } finally {
      engine.dispose();
    }
  });

  // CPU adapters decode with separate norm / quantize / SwiGLU dispatches (faster there); GPUs with the fused GEMVs.
  it.each(MODELS)('fused decode GEMVs (fuseDecode: true): greedy ids equal llama.cpp\'s too ($oracle)', async ({ file, oracle }) => {
    const engine = await Engine.load(sharedModelPath(file), { gpu: await testGpu(variant), contextLength: 256, kvCache: 'f32', fuseDecode: true });
    try {
      for (const r of readOracle(`${oracle}.llama-cpp.json`).results) {
        const res = await engine.complete(r.prompt, { ...GREEDY, maxTokens: 32 });
        expect(res.ids, r.prompt).toEqual(r.generated_token_ids);
      }
    } finally {
      engine.dispose();
    }
  });

  // GPUs' defaults for a Q8_0 file: f16 scale pairs and fused decode GEMVs (CPU adapters measured both slower). With the
  // GPU's features only (f16, subgroups), and Q8_0 only (Q4_0 shares the scale decoder: test/matmul.test.ts), since
  // lavapipe compiles these pipelines for 1-3 minutes with a cold shader cache.
  it.runIf(variant === 'f16')('Q8_0 with f16 scale pairs and fused decode (GPUs\' defaults): greedy ids equal llama.cpp\'s and f32 scales\'', async () => {
    const type = 'Q8_0';
    const file = sharedModelPath(`stories260K-derived/stories260K-${type}.gguf`);
    const gpu = await testGpu(variant);
    const paired = await Engine.load(file, { gpu, contextLength: 256, kvCache: 'f32', fuseDecode: true, halfScales: true });
    const plain = await Engine.load(file, { gpu, contextLength: 256, kvCache: 'f32', fuseDecode: true, halfScales: false });
    try {
      expect(paired.model.weightBytes).toBeLessThan(plain.model.weightBytes); // the pairs took effect
      for (const r of readOracle(`stories260K-${type}.llama-cpp.json`).results) {
        const a = await paired.complete(r.prompt, { ...GREEDY, maxTokens: 16 });
        expect(a.ids, r.prompt).toEqual(r.generated_token_ids.slice(0, 16));
        const b = await plain.complete(r.prompt, { ...GREEDY, maxTokens: 16 });
        expect(b.ids, r.prompt).toEqual(a.ids);
      }
    } finally {
      paired.dispose();
      plain.dispose();
    }
  }, 300_000); // lavapipe compiles the pairs' fused GEMVs on first use: tens of seconds with a cold shader cache

  // decode_wide (written for GPUs; its splits and the merge: test/layers.test.ts) on the whole model, with the GPUs'
  // other defaults. One file: lavapipe compiles its pipelines for a while with a cold shader cache.
  it.runIf(variant === 'f16')('decode attention a key a lane (wideAttention: true): greedy ids equal llama.cpp\'s', async () => {
    const type = 'Q8_0';
    const engine = await Engine.load(sharedModelPath(`stories260K-derived/stories260K-${type}.gguf`), {
      gpu: await testGpu(variant), contextLength: 256, kvCache: 'f32', fuseDecode: true, wideAttention: true,
    });
    try {
      for (const r of readOracle(`stories260K-${type}.llama-cpp.json`).results) {
        const res = await engine.complete(r.prompt, { ...GREEDY, maxTokens: 32 });
        expect(res.ids, r.prompt).toEqual(r.generated_token_ids);
      }
    } finally {
      engine.dispose();
    }
  }, 300_000);

  it('BOS-only 256-token greedy run reproduces llama.cpp text exactly', async () => {
    const engine = await Engine.load(sharedModelPath('stories260K/stories260K.gguf'), { gpu: await testGpu(variant), contextLength: 512, kvCache: 'f32' });
    try {
      const r = readOracle('stories260K.llama-cpp.bos-only-256.json').results[0];
      const res = await engine.complete('', { ...GREEDY, maxTokens: 256, stopAtEos: false });
      expect(res.ids).toEqual(r.generated_token_ids);
      const s = new TextStreamer(engine.tokenizer); // from BOS: drops the first space, as llama.cpp does
      const text = [...res.promptIds, ...res.ids].map((id) => s.push(id)).join('') + s.flush();
      expect(text).toBe(r.full_text);
    } finally {
      engine.dispose();
    }
  });

  it('llama-2-tiny-random (32000 vocab, F16) greedy ids and top-5 logits equal llama.cpp', async () => {
    const engine = await Engine.load(sharedModelPath('llama-2-tiny-random/llama-2-tiny-random.gguf'), { gpu: await testGpu(variant), contextLength: 256, kvCache: 'f32' });
    try {
      for (const r of readOracle('llama-2-tiny-random.llama-cpp.json').results) {
        const res = await engine.complete(r.prompt, { ...GREEDY, maxTokens: r.generated_token_ids.length });
        expect(res.promptIds).toEqual(r.prompt_token_ids);
        expect(res.ids).toEqual(r.generated_token_ids);
        const inputs = [...r.prompt_token_ids, ...r.generated_token_ids];
        const expected = [...r.prompt_positions.map((p) => p.top5), ...r.steps.slice(1).map((s) => s.top5)];
        let worst = 0;
        for (let i = 0; i < expected.length; i++) {
          await forward(engine.model, [inputs[i]], i, GREEDY, 0);
          const logits = await readLogits(engine.model);
          for (const t of expected[i]) worst = Math.max(worst, Math.abs(logits[t.token] - t.logit));
        }
        expect(worst).toBeLessThanOrEqual(1e-3);
      }
    } finally {
      engine.dispose();
    }
  });
});
