/**
 * GGUF files in ggml's block types end to end on the GPU (x in f32 for the block formats, see
 * src/kernels/weight_formats.ts), judged as ../shared/models/kquants{,-real}/README.md says:
 *  - kquants-real (a trained model): for every file and prompt, 32 greedy ids equal llama.cpp's or the
 *    float64 reference's exactly, on the device variant with shader-f16 and subgroups (every file) and without
 *    (every second file).
 *  - kquants (random weights, near-tied logits): every run passes kq_judge.py's rule (helpers/kq_judge.ts,
 *    with our CPU f32 reference forward on ggml-dequantized weights as the reference), and teacher-forced on
 *    llama.cpp's tokens our logits are within the README's tolerance of llama.cpp's (what float64 measures
 *    against llama.cpp, per file up to max 0.073 / mean 0.012 for the 32-blocks and max 0.173 / mean 0.025
 *    for K-quants and mixtures; bounds 0.085 / 0.013 and 0.2 / 0.026 leave room for the logits file's 3
 *    decimals) and within 5e-3 of our CPU reference with the GPU's own numerics (0.05 where Q8_0 tensors
 *    take Q8_0-quantized x, as in llama.cpp; the other block formats take f32 x).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { readGGUF } from '../src/gguf/reader.ts';
import { sourceFromBuffer } from '../src/gguf/source.ts';
import { configFromGGUF } from '../src/model/config.ts';
import { forward, readLogits } from '../src/model/model.ts';
import { loadRefModel, refLogits, type RefModel } from '../src/model/ref_forward.ts';
import { ggufWeights } from '../src/model/weight_source.ts';
import { judge } from './helpers/kq_judge.ts';
import { readSharedBytes, sharedModelPath } from './helpers/models.ts';
import { testGpu, VARIANTS } from './helpers/gpu.ts';
import { f32Takes } from './helpers/cover.ts';

const GREEDY = { temperature: 0, topK: 0, topP: 1 };
const json = (rel: string) => JSON.parse(readFileSync(sharedModelPath(rel), 'utf8'));
const ggufs = (dir: string) => readdirSync(sharedModelPath(dir)).filter((f) => f.endsWith('.gguf')).map((f) => f.replace('.gguf', '')).sort();

interface Run { prompt: string; promptIds: number[]; llamaCpp: number[]; float64: number[] }
function runs(dir: string, name: string): Run[] {
  const l = json(`${dir}/${name}.llama-cpp.json`).results, r = json(`${dir}/${name}.numpy-ref.json`).runs;
  return l.map((x: { prompt: string; prompt_token_ids: number[]; generated_token_ids: number[] }, i: number) => {
    expect(r[i].prompt_ids).toEqual(x.prompt_token_ids);
    return { prompt: x.prompt, promptIds: x.prompt_token_ids, llamaCpp: x.generated_token_ids, float64: r[i].generated_ids };
  });
}

async function load(dir: string, name: string, variant: 'f16' | 'f32') {
  // llama.cpp's runs and the CPU reference keep K/V in f32 (the folders' READMEs): so does the engine here
  return Engine.load(readSharedBytes(`${dir}/${name}.gguf`), { gpu: await testGpu(variant), contextLength: 64, kvCache: 'f32' });
}

describe('kquants-real: 32 greedy ids equal llama.cpp\'s or float64\'s (the --exact rule)', () => {
  const routes: string[] = [];
  afterAll(() => console.log(`kquants-real routes:\n${routes.join('\n')}`));
  it('has the 12 files', () => expect(ggufs('kquants-real')).toHaveLength(12));
  // Every file on the f16 variant, every second on the f32 one (all where EMBERLM_TEST_MATRIX=full: test/helpers/cover.ts);
  // test/matmul_gguf.test.ts runs each format's kernels on each against the CPU's.
  it.each(VARIANTS.flatMap((v) => f32Takes(v, ggufs('kquants-real')).map((f) => [f, v] as const)))('%s (%s)', async (name, variant) => {
    const e = await load('kquants-real', name, variant);
    try {
      for (const run of runs('kquants-real', name)) {
        const ids = (await e.complete(run.promptIds, { ...GREEDY, maxTokens: 32, stopAtEos: false })).ids;
        const r = judge(ids, run, () => [], { exact: true });
        const both = r.route === 'llama.cpp' && run.float64.every((x, i) => x === ids[i]);
        routes.push(`${name} ${variant} "${run.prompt}": ${both ? 'llama.cpp = float64' : r.route}`);
        expect([run.prompt, r.route]).not.toEqual([run.prompt, 'fail']);
      }
    } finally {
      e.dispose();
    }
  });
});

describe('kquants (random weights): kq_judge.py\'s rule, and logits within the README\'s tolerance', () => {
  const report: string[] = [];
  afterAll(() => console.log(`kquants judge:\n${report.join('\n')}`));
  it('has the 13 files', () => expect(ggufs('kquants')).toHaveLength(13));
  it.each(ggufs('kquants'))('%s', async (name) => {
    const bytes = readSharedBytes(`kquants/${name}.gguf`);
    const f = await readGGUF(sourceFromBuffer(bytes, name));
    const ref: RefModel = await loadRefModel(ggufWeights(f), configFromGGUF(f), 'f32'); // ~float64
    const same: RefModel = await loadRefModel(ggufWeights(f), configFromGGUF(f), 'auto'); // the GPU's numerics
    const V = ref.config.vocab;
    const e = await Engine.load(bytes, { gpu: await testGpu('f16'), contextLength: 64, kvCache: 'f32' });
    const kQuant = /_K/.test(name);
    const hasQ8_0 = [...f.tensors.values()].some((t) => t.type === 'Q8_0');
    const tol = kQuant ? { max: 0.2, mean: 0.026 } : { max: 0.085, mean: 0.013 };
    try {
      const logits = json(`kquants/${name}.llama-cpp.logits.json`).runs;
      for (const [i, run] of runs('kquants', name).entries()) {
        const ids = (await e.complete(run.promptIds, { ...GREEDY, maxTokens: 32, stopAtEos: false })).ids;
        const along = (picks: readonly number[]) => {
          const all = refLogits(ref, [...run.promptIds, ...picks.slice(0, -1)]);
          return picks.map((_, s) => all.subarray((run.promptIds.length - 1 + s) * V, (run.promptIds.length + s) * V));
        };
        const r = judge(ids, run, along);
        // Teacher-forced on llama.cpp's tokens: our GPU logits against llama.cpp's and our CPU reference's.
        const input: number[] = logits[i].input_tokens;
        const cpu = refLogits(same, input);
        let maxLc = 0, sumLc = 0, maxRef = 0;
        for (let p = 0; p < input.length; p++) {
          await forward(e.model, [input[p]], p, GREEDY, 0);
          const gpu = await readLogits(e.model);
          for (let v = 0; v < V; v++) {
            const d = Math.abs(gpu[v] - logits[i].logits[p][v]);
            [maxLc, sumLc] = [Math.max(maxLc, d), sumLc + d];
            maxRef = Math.max(maxRef, Math.abs(gpu[v] - cpu[p * V + v]));
          }
        }
        const meanLc = sumLc / (input.length * V);
        report.push(`${name} "${run.prompt}": ${r.route} (off ${r.off}, regret ${r.regret.toFixed(3)}); ` +
          `vs llama.cpp max ${maxLc.toFixed(3)} mean ${meanLc.toFixed(4)}; vs CPU ref max ${maxRef.toExponential(1)}`);
        expect([run.prompt, r.route]).not.toEqual([run.prompt, 'fail']);
        expect(maxLc).toBeLessThanOrEqual(tol.max);
        expect(meanLc).toBeLessThanOrEqual(tol.mean);
        // Q8_0 tensors quantize x: one activation rounding the other way moves a logit by up to ~0.03.
        expect(maxRef).toBeLessThan(hasQ8_0 ? 0.05 : 5e-3);
      }
    } finally {
      e.dispose();
    }
  });
});
