/**
 * Qwen3.5 from a GGUF file as llama.cpp's own converter writes it: test/fixtures/qwen3_5/qwen3_5.llama-cpp.gguf,
 * convert_hf_to_gguf.py run once on the qwen3_5 fixture's folder (its README says how): architecture qwen35, the value
 * heads reordered to ggml's tiled order (2 key heads serving 4 value heads), A = -exp(A_log), the (1 + w) norms folded,
 * the FFN's pre-norm named post_attention_norm, q and its gate still interleaved per head. Its tokenizer is the fixture's
 * vocabulary written as gpt2 (the converter knows no other for qwen35), so the prompts go in as transformers' ids.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { forward, readLogits } from '../src/model/model.ts';
import { hfOracleFolder, hfOraclePath } from './helpers/models.ts';
import { testGpu } from './helpers/gpu.ts';

interface OraclePrompt { prompt_ids: number[]; generated_ids: number[]; steps: { top_ids: number[]; top_logits: number[] }[] }

const GREEDY = { temperature: 0, topK: 0, topP: 1 };
const GGUF = resolve(import.meta.dirname, 'fixtures/qwen3_5/qwen3_5.llama-cpp.gguf');
const oracle = JSON.parse(readFileSync(hfOraclePath('qwen3_5'), 'utf8')) as { prompts: OraclePrompt[] };

describe('qwen3_5 as llama.cpp converts it', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(new Uint8Array(readFileSync(GGUF)), { gpu: await testGpu('f16'), contextLength: 128, maxBatch: 16, kvCache: 'f32' });
  });
  afterAll(() => engine?.dispose());

  it('reads the folder\'s forward-pass config, its value heads tiled', async () => {
    const hf = await Engine.load(hfOracleFolder('qwen3_5'), { gpu: await testGpu('f16'), contextLength: 16 });
    try {
      const { name: _a, eps: e1, ropeBase: _b, delta: d1, ...ours } = engine.model.config;
      const { name: _c, eps: e2, ropeBase: _d, delta: d2, ...theirs } = hf.model.config;
      expect(ours).toEqual(theirs);
      expect(e1).toBe(Math.fround(e2));
      expect(d1).toEqual({ ...d2, vTiled: true });
    } finally {
      hf.dispose();
    }
  });

  it('greedy ids and top logits equal transformers\'', async () => {
    let worst = 0;
    for (const p of oracle.prompts) {
      const ids = p.prompt_ids;
      let next = 0;
      for (let i = 0; i < ids.length; i += 16) next = await forward(engine.model, ids.slice(i, i + 16), i, GREEDY, 0);
      const got: number[] = [];
      for (let k = 0; k < p.generated_ids.length; k++) {
        const logits = await readLogits(engine.model);
        p.steps[k].top_ids.forEach((id, i) => (worst = Math.max(worst, Math.abs(logits[id] - p.steps[k].top_logits[i]))));
        got.push(next);
        if (k + 1 < p.generated_ids.length) next = await forward(engine.model, [p.generated_ids[k]], ids.length + k, GREEDY, 0);
      }
      expect(got).toEqual(p.generated_ids);
    }
    console.log(`[qwen35 gguf] max |dlogit| ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(1e-3); // as the folder (test/hf_oracle.test.ts: the oracle's own float32 error is 6.6e-4)
  });
});
