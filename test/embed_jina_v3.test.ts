/**
 * Engine.embed on jina-embeddings-v3's layout (test/fixtures/jina_v3, made by test/fixtures/make_jina_v3_oracle.py):
 * JinaEmbeddingsV3Model as transformers saves it (jinaai/jina-embeddings-v3-hf: emb_ln, a fused mixer.Wqkv, norm1 and
 * norm2 after attention and the ungated fc1 / fc2), XLM-R's post-norm encoder with RoPE at 20,000 in place of position
 * rows; mean pooling. Against transformers' last hidden state, texts of 3 to 179 tokens; and with a PEFT task adapter
 * as jina's are (rank 4, alpha 1 on q, k, v, o, fc1, fc2 and the word embeddings: PEFT names q_proj, k_proj, v_proj as
 * the model holds them in memory, merged into their rows of the saved mixer.Wqkv), against transformers + peft.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { testGpu, VARIANTS } from './helpers/gpu.ts';

const FOLDER = resolve(import.meta.dirname, 'fixtures/jina_v3');
interface Case { text: string; ids: number[]; mean: number[] }
const oracle = JSON.parse(readFileSync(join(FOLDER, 'jina_v3.transformers.json'), 'utf8')) as { base: Case[]; task_lora: Case[] };

/** The largest difference of emberlm's (L2-normalised) embeddings from the oracle's means, normalised. */
function worst(got: readonly ArrayLike<number>[], cases: readonly Case[]): number {
  let w = 0;
  cases.forEach((c, i) => {
    const n = Math.hypot(...c.mean);
    c.mean.forEach((v, d) => (w = Math.max(w, Math.abs(v / n - got[i][d]))));
  });
  return w;
}

describe.each(VARIANTS)('jina-embeddings-v3 (%s kernels)', (variant) => {
  it('reads the layout (post-norm, RoPE at 20,000, fused q|k|v, an ungated GELU FFN) and embeds as transformers does', async () => {
    const engine = await Engine.load(FOLDER, { gpu: await testGpu(variant), kvCache: 'f32' });
    try {
      const c = engine.config;
      expect([c.arch, c.postLayerNorms, c.learnedPositions, c.ropeBase, c.ropeNeox, c.ffnGated, c.ffnAct, c.tokenTypes, c.contextTrain]).toEqual(['bert', true, false, 20000, true, false, 'gelu', 1, 258]);
      expect(c.layerRope.every(Boolean)).toBe(true);
      for (const x of oracle.base) expect([...engine.tokenize(x.text), ...engine.tokenizer.endIds]).toEqual(x.ids);
      const { embeddings } = await engine.embed(oracle.base.map((x) => x.text));
      expect(worst(embeddings, oracle.base)).toBeLessThan(1e-5); // (measured 1.6e-7)
    } finally {
      await engine.dispose();
    }
  });
});

describe('jina-embeddings-v3 with a PEFT task adapter', () => {
  it('merges q_proj / k_proj / v_proj into their rows of the fused Wqkv, and the embeddings\' pair: transformers + peft\'s embeddings', async () => {
    const engine = await Engine.load(FOLDER, { gpu: await testGpu(), kvCache: 'f32', lora: [{ adapter: join(FOLDER, 'task-lora') }] });
    try {
      const { embeddings } = await engine.embed(oracle.task_lora.map((x) => x.text));
      expect(worst(embeddings, oracle.task_lora)).toBeLessThan(1e-5); // (measured 1.1e-7)
      expect(worst(embeddings, oracle.base)).toBeGreaterThan(1e-2); // (the adapter moves them)
    } finally {
      await engine.dispose();
    }
  });
});
