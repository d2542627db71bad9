/**
 * Whole-model GPU runs against the CPU reference forward (same converted weights, the kernels'
 * numerics) on generated random models: every architecture flag, weight type and quant scheme.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../src/engine.ts';
import { forward, readLogits } from '../src/model/model.ts';
import { loadRefModel, refLogits, type RefModel } from '../src/model/ref_forward.ts';
import { ggufWeights, type QuantScheme } from '../src/model/weight_source.ts';
import { readGGUF } from '../src/gguf/reader.ts';
import { sourceFromBuffer } from '../src/gguf/source.ts';
import { configFromGGUF, type ModelConfig } from '../src/model/config.ts';
import { loadHFModel } from '../src/hf/model.ts';
import { generateModel, type GenerateOptions } from '../models/generate.ts';
import { writeHFModel, type HFGenerateOptions } from '../models/generate_hf.ts';
import { argmaxRef } from '../src/kernels/ref/sample.ts';
import { testGpu, VARIANTS } from './helpers/gpu.ts';

const GREEDY = { temperature: 0, topK: 0, topP: 1 };
const PROMPT = [1, 17, 200, 45, 99, 3, 250];
const STEPS = 12;

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0, m = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m / scale;
}

/** Checks decode-path logits at every position, the prefill's last logits, and greedy ids. */
async function compare(engine: Engine, ref: RefModel, tol: number): Promise<void> {
  const refAll = refLogits(ref, PROMPT);
  const V = ref.config.vocab;
  let worst = 0;
  for (let i = 0; i < PROMPT.length; i++) {
    await forward(engine.model, [PROMPT[i]], i, GREEDY, 0);
    worst = Math.max(worst, maxRelDiff(await readLogits(engine.model), refAll.subarray(i * V, (i + 1) * V)));
  }
  await forward(engine.model, PROMPT, 0, GREEDY, 0);
  worst = Math.max(worst, maxRelDiff(await readLogits(engine.model), refAll.subarray((PROMPT.length - 1) * V)));
  expect(worst).toBeLessThanOrEqual(tol);
  // Greedy continuation: the reference recomputes the whole sequence each step.
  const res = await engine.complete(PROMPT, { ...GREEDY, maxTokens: STEPS, stopAtEos: false });
  const seq = [...PROMPT];
  for (let s = 0; s < STEPS; s++) {
    const l = refLogits(ref, seq);
    seq.push(argmaxRef(l.subarray((seq.length - 1) * V)));
  }
  expect(res.ids).toEqual(seq.slice(PROMPT.length));
}

const GGUF_CASES: { name: string; gen: GenerateOptions; quant: QuantScheme; tol: number }[] = [
  { name: 'llama F32, GQA, untied', gen: { type: 'F32', nHead: 4, nHeadKv: 2 }, quant: 'auto', tol: 1e-4 },
  { name: 'llama F16, tied', gen: { type: 'F16', tied: true, seed: 2 }, quant: 'auto', tol: 1e-3 },
  { name: 'llama Q8_0', gen: { type: 'Q8_0', seed: 3 }, quant: 'auto', tol: 1e-3 },
  { name: 'llama Q4_0, MHA', gen: { type: 'Q4_0', nHead: 4, nHeadKv: 4, seed: 4 }, quant: 'auto', tol: 1e-3 },
  { name: 'llama F32 as int8-g32', gen: { type: 'F32', seed: 5 }, quant: 'int8-g32', tol: 1e-3 },
  { name: 'llama F32 as f16', gen: { type: 'F32', seed: 6 }, quant: 'f16', tol: 1e-3 },
  // nFf 100: ffn_down's rows (100) are no multiple of 32 and stay f32 under int8 and the -g32 schemes.
  { name: 'llama F32 as int8 (per row)', gen: { type: 'F32', nFf: 100, seed: 8 }, quant: 'int8', tol: 1e-3 },
  { name: 'llama F32 as fp8-e4m3 (per row), tied', gen: { type: 'F32', nFf: 100, tied: true, seed: 9 }, quant: 'fp8-e4m3', tol: 1e-4 },
  { name: 'llama F32 as fp8-e5m2 (per row)', gen: { type: 'F32', seed: 10 }, quant: 'fp8-e5m2', tol: 1e-4 },
  { name: 'llama F32 as fp8-e4m3-g32, GQA', gen: { type: 'F32', nFf: 100, nHead: 4, nHeadKv: 2, seed: 11 }, quant: 'fp8-e4m3-g32', tol: 1e-4 },
];

describe.each(VARIANTS)('GPU forward vs CPU reference (%s)', (variant) => {
  it.each(GGUF_CASES)('GGUF $name ($quant)', async ({ gen, quant, tol }) => {
    const bytes = generateModel({ nEmbd: 64, nLayer: 2, nFf: 96, vocab: 300, ...gen });
    const file = await readGGUF(sourceFromBuffer(bytes));
    const ref = await loadRefModel(ggufWeights(file), configFromGGUF(file), quant);
    const engine = await Engine.load(bytes, { gpu: await testGpu(variant), quant, contextLength: 64, kvCache: 'f32' });
    try {
      await compare(engine, ref, tol);
    } finally {
      engine.dispose();
    }
  });

  describe('Hugging Face folders', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'emberlm-hf-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    const HF_CASES: { name: string; gen: HFGenerateOptions; quant?: QuantScheme; tol: number; fuseDecode?: boolean }[] = [
      { name: 'llama F32', gen: { modelType: 'llama', dtype: 'F32' }, tol: 1e-4 },
      { name: 'mistral BF16 tied', gen: { modelType: 'mistral', dtype: 'BF16', tied: true }, tol: 1e-4 },
      { name: 'qwen2 F16 (q/k/v bias)', gen: { modelType: 'qwen2', dtype: 'F16' }, tol: 1e-3 },
      { name: 'qwen3 F32 (q/k norm)', gen: { modelType: 'qwen3', dtype: 'F32' }, tol: 1e-4 },
      { name: 'smollm3 BF16 (layer 1 without RoPE)', gen: { modelType: 'smollm3', dtype: 'BF16', tied: true }, tol: 1e-4 },
      { name: 'granite F32 (multipliers)', gen: { modelType: 'granite', dtype: 'F32', tied: true }, tol: 1e-4 },
      { name: 'olmo2 F32 (post-norms only, q/k norms over all heads)', gen: { modelType: 'olmo2', dtype: 'F32' }, tol: 1e-4 },
      { name: 'olmo2 BF16 as int8-g32 (q8 matmuls on x itself)', gen: { modelType: 'olmo2', dtype: 'BF16' }, quant: 'int8-g32', tol: 1e-4 },
      { name: 'lfm2 F32 (short convolutions at layers 0 and 2)', gen: { modelType: 'lfm2', dtype: 'F32', nLayer: 3 }, tol: 1e-4 },
      { name: 'lfm2 BF16 as int8-g32, fused decode', gen: { modelType: 'lfm2', dtype: 'BF16', nLayer: 3 }, quant: 'int8-g32', tol: 1e-4, fuseDecode: true },
      { name: 'granitemoehybrid F32 (Mamba-2 at layers 0 and 2)', gen: { modelType: 'granitemoehybrid', dtype: 'F32', nLayer: 3 }, tol: 1e-4 },
      // the gated RMSNorm hands ssm_out its x in Q8_0, prefill and decode alike
      { name: 'granitemoehybrid BF16 as int8-g32', gen: { modelType: 'granitemoehybrid', dtype: 'BF16', nLayer: 3 }, quant: 'int8-g32', tol: 1e-4 },
      { name: 'granitemoehybrid BF16 as int8-g32, fused decode', gen: { modelType: 'granitemoehybrid', dtype: 'BF16', nLayer: 3 }, quant: 'int8-g32', tol: 1e-4, fuseDecode: true },
      { name: 'olmo2 BF16 as int8-g32, fused decode (GPUs\' GEMVs quantize raw x)', gen: { modelType: 'olmo2', dtype: 'BF16' }, quant: 'int8-g32', tol: 1e-4, fuseDecode: true },
      // Native FP8: 128x128 block scales, partial at every edge (D = 160, F = 288, q = 4 x 80), kept as
      // FP8 codes on the GPU; the reference reads the blocks, the GPU per-row copies of them.
      { name: 'qwen3 F8_E4M3 native', gen: { modelType: 'qwen3', dtype: 'F8_E4M3', nEmbd: 160, nFf: 288 }, tol: 1e-4 },
      { name: 'llama BF16 as fp8-e4m3', gen: { modelType: 'llama', dtype: 'BF16' }, quant: 'fp8-e4m3', tol: 1e-4 },
    ];
    it.each(HF_CASES)('$name', async ({ name, gen, quant = 'auto', tol, fuseDecode }) => {
      const folder = join(dir, `${variant}-${name.replace(/\W+/g, '_')}`);
      await writeHFModel(folder, { nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 96, vocab: 300, seed: 7, ...gen });
      const hf = await loadHFModel(folder, quant);
      let ref: RefModel;
      try {
        ref = await loadRefModel(hf.weights, hf.config as ModelConfig, quant);
        if (gen.dtype === 'F8_E4M3') expect(ref.layers[0].down!.format).toBe('fp8e4m3'); // not widened
        if (quant === 'fp8-e4m3') expect(ref.lmHead.format).toBe('fp8e4m3');
      } finally {
        await hf.close();
      }
      const engine = await Engine.load(folder, { gpu: await testGpu(variant), quant, contextLength: 64, kvCache: 'f32', fuseDecode });
      try {
        await compare(engine, ref, tol);
      } finally {
        engine.dispose();
      }
    });
  });
});

describe('prefill longer than one pass', () => {
  it('a 140-token prompt in three passes of 64 gives the reference greedy ids (stories260K)', async () => {
    const { sharedModelPath } = await import('./helpers/models.ts');
    const { sourceFromPath } = await import('../src/gguf/source_node.ts');
    const path = sharedModelPath('stories260K/stories260K.gguf');
    const file = await readGGUF(await sourceFromPath(path));
    const ref = await loadRefModel(ggufWeights(file), configFromGGUF(file), 'auto');
    const engine = await Engine.load(path, { gpu: await testGpu('f32'), contextLength: 256, maxBatch: 64, kvCache: 'f32' });
    try {
      const text = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. '.repeat(4);
      const prompt = engine.tokenize(text);
      expect(prompt.length).toBeGreaterThan(128); // three passes of 64
      const res = await engine.complete(prompt, { ...GREEDY, maxTokens: 8, stopAtEos: false });
      const seq = [...prompt];
      for (let s = 0; s < 8; s++) {
        const l = refLogits(ref, seq);
        seq.push(argmaxRef(l.subarray((seq.length - 1) * ref.config.vocab)));
      }
      expect(res.ids).toEqual(seq.slice(prompt.length));
    } finally {
      engine.dispose();
    }
  });
});
