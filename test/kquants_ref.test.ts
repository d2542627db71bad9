/**
 * ggml's block types end to end on the CPU: the reference forward (src/model/ref_forward.ts, f32) on
 * weights dequantized by src/quant/ggml reproduces the float64 reference's greedy ids (numpy-ref.json)
 * on every ../shared/models/kquants-real file and prompt, 32 steps. The README's exact rule accepts
 * llama.cpp's ids too; an f32 engine on exactly dequantized weights gets the float64 ids (its simulation:
 * 36/36), so that is what this asserts.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configFromGGUF } from '../src/model/config.ts';
import { loadRefModel, refLogits } from '../src/model/ref_forward.ts';
import { ggufWeights } from '../src/model/weight_source.ts';
import { openShared, sharedModelPath } from './helpers/models.ts';

const DIR = 'kquants-real';
const STEPS = 32;
const files = readdirSync(sharedModelPath(DIR)).filter((f) => f.endsWith('.gguf')).sort();

/**
 * The greedy ids of the reference forward, checked teacher-forced in one pass: run prompt + `want` once
 * and take the argmax after every prefix. Greedy decoding gives `want` exactly when each of these
 * argmaxes is the next id of `want`, so this is the greedy run without re-running every prefix.
 */
function greedyAlong(model: Awaited<ReturnType<typeof loadRefModel>>, prompt: readonly number[], want: readonly number[]): number[] {
  const ids = [...prompt, ...want.slice(0, -1)], V = model.config.vocab;
  const logits = refLogits(model, ids);
  const picks: number[] = [];
  for (let t = prompt.length - 1; t < ids.length; t++) {
    const row = logits.subarray(t * V, (t + 1) * V);
    let best = 0;
    for (let v = 1; v < V; v++) if (row[v] > row[best]) best = v;
    picks.push(best);
  }
  return picks;
}

describe(`CPU reference forward on ${DIR}: greedy ids equal the float64 reference's`, () => {
  it('has the 12 files', () => expect(files.length).toBe(12));
  it.each(files)('%s', async (file) => {
    const f = await openShared(`${DIR}/${file}`);
    const c = configFromGGUF(f);
    const model = await loadRefModel(ggufWeights(f), c, 'f32');
    const ref = JSON.parse(readFileSync(sharedModelPath(`${DIR}/${file.replace('.gguf', '.numpy-ref.json')}`), 'utf8'));
    for (const run of ref.runs) {
      expect(run.generated_ids.length).toBe(STEPS);
      expect([run.prompt, greedyAlong(model, run.prompt_ids, run.generated_ids)]).toEqual([run.prompt, run.generated_ids]);
    }
  });
});
