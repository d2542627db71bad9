/**
 * LoRA adapters merged at load (src/model/lora.ts) against llama.cpp applying them at run time
 * (test/fixtures/lora, made by test/fixtures/make_lora_oracle.mts): stories260K in F32, F16 and Q8_0 with `wide`
 * (rank 4, alpha 8, on attention, the FFN, the LM head and the embeddings) at scale 1, and with `wide` at 0.5 and `keys`
 * (rank 2, alpha 0) at 1.5 stacked; the logits after a 16-token prompt (BOS first) and 24 greedy ids. And what is refused.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { forward, readLogits } from '../src/model/model.ts';
import { meta, writeGGUF } from '../src/gguf/writer.ts';
import { hfOracleFolder, sharedModelPath } from './helpers/models.ts';
import { testGpu } from './helpers/gpu.ts';
import { expectEmberError } from './helpers/errors.ts';
import { withPatchedFolder } from './helpers/folders.ts';
import { LORA_ADAPTERS, tinyLora } from './helpers/lora.ts';

const FOLDER = resolve(import.meta.dirname, 'fixtures/lora');
interface Run { base: 'F32' | 'F16' | 'Q8_0'; setting: string; adapters: { adapter: string; scale: number }[]; prompt: number[]; logits: number[]; ids: number[] }
const oracle = JSON.parse(readFileSync(join(FOLDER, 'lora.llama_cpp.json'), 'utf8')) as { runs: Run[] };
const FILES = { F32: 'stories260K/stories260K.gguf', F16: 'stories260K-derived/stories260K-F16.gguf', Q8_0: 'stories260K-derived/stories260K-Q8_0.gguf' };
const GREEDY = { temperature: 0, topK: 0, topP: 1 };
/**
 * Per base: |Δlogit| allowed, and greedy ids that must equal llama.cpp's. F32: the same sums (measured 1.2e-5, all 24
 * ids). F16: llama.cpp's F16 path rounds activations to f16 and keeps the delta in f32 where the merge rounds W + delta
 * to f16 (measured 1.4e-2, as without an adapter; all 24 ids). Q8_0: the merge requantizes W + delta to Q8_0 (llama.cpp's
 * export-lora does the same; its run-time LoRA keeps the file's Q8_0 W beside an f32 delta), one more rounding of every
 * weight these large random deltas touch (measured 0.36; 23 and 24 ids).
 */
const TOLERANCE = { F32: { logits: 1e-4, ids: 24 }, F16: { logits: 2e-2, ids: 24 }, Q8_0: { logits: 0.5, ids: 16 } };

describe('LoRA adapters merged at load, against llama.cpp applying them', () => {
  it.each(oracle.runs.map((r) => [r.base, r.setting, r] as const))('stories260K %s, %s: logits after the prompt and greedy ids', async (base, _setting, run) => {
    const lora = run.adapters.map((a) => ({ adapter: join(FOLDER, a.adapter), scale: a.scale }));
    const engine = await Engine.load(sharedModelPath(FILES[base]), { gpu: await testGpu(), kvCache: 'f32', lora });
    try {
      await forward(engine.model, run.prompt, 0, GREEDY, 0);
      const logits = await readLogits(engine.model);
      expect(Math.max(...run.logits.map((v, i) => Math.abs(v - logits[i])))).toBeLessThan(TOLERANCE[base].logits);
      const r = engine.generate(run.prompt, { maxTokens: 24, temperature: 0 });
      for await (const _ of r); // (drained)
      const { ids } = await r.result;
      const n = TOLERANCE[base].ids;
      expect(ids.slice(0, n)).toEqual(run.ids.slice(0, n));
    } finally {
      await engine.dispose();
    }
  });

  it('the adapters move the logits (without them llama.cpp\'s are over 1 away)', async () => {
    const run = oracle.runs.find((r) => r.base === 'F32')!;
    const engine = await Engine.load(sharedModelPath(FILES.F32), { gpu: await testGpu(), kvCache: 'f32' });
    try {
      await forward(engine.model, run.prompt, 0, GREEDY, 0);
      const logits = await readLogits(engine.model);
      expect(Math.max(...run.logits.map((v, i) => Math.abs(v - logits[i])))).toBeGreaterThan(1);
    } finally {
      await engine.dispose();
    }
  });

  it('refuses what is not an adapter for this model, naming it; the option\'s shape is checked', async () => {
    const gpu = await testGpu();
    const base = sharedModelPath(FILES.F32);
    const adapter = tinyLora({ ...LORA_ADAPTERS.keys, parts: ['attn_k'] });
    const load = (lora: unknown) => Engine.load(base, { gpu, lora: lora as never });
    await expectEmberError(() => load([{ adapter: base }]), 'BAD_ARGUMENT', /is not a LoRA adapter \(general\.type ""/);
    const qwen = writeGGUF({ ...adapter, metadata: adapter.metadata.map(([k, v]) => (k === 'general.architecture' ? [k, meta.str('qwen2')] : [k, v])) });
    await expectEmberError(() => load([{ adapter: qwen }]), 'BAD_ARGUMENT', /an adapter for qwen2, the model is llama/);
    const norm = writeGGUF({ ...adapter, tensors: adapter.tensors.map((t) => ({ ...t, name: t.name.replace('blk.0.attn_k', 'blk.0.attn_norm') })) });
    await expectEmberError(() => load([{ adapter: norm }]), 'UNSUPPORTED', /a LoRA pair for blk\.0\.attn_norm\.weight \(a bias or a norm\) is not supported/);
    const stray = writeGGUF({ ...adapter, tensors: adapter.tensors.map((t) => ({ ...t, name: t.name.replace('blk.0.', 'blk.9.') })) });
    await expectEmberError(() => load([{ adapter: stray }]), 'BAD_MODEL', /tensor blk\.9\.attn_k\.weight is not in/);
    const wide = writeGGUF({ ...adapter, tensors: adapter.tensors.map((t) => (t.name === 'blk.1.attn_k.weight.lora_b' ? { ...t, ne: [2, 16], data: t.data.subarray(0, 32) } : t)) });
    await expectEmberError(() => load([{ adapter: wide }]), 'BAD_MODEL', /the pair of blk\.1\.attn_k\.weight is 16 x 64, the model's 32 x 64/);
    await expectEmberError(() => load({ adapter: base }), 'BAD_ARGUMENT', /lora must be an array/);
    // a truncated adapter is a typed error naming the file, and the engine loads the model after it
    const whole = writeGGUF(adapter);
    for (const cut of [10, 200, Math.floor(whole.length / 2), whole.length - 1]) {
      await expectEmberError(() => load([{ adapter: whole.slice(0, cut) }]), 'BAD_FILE', /./);
    }
    await expectEmberError(() => load([{ adapter: writeGGUF(adapter), scale: Number.NaN }]), 'BAD_ARGUMENT', /lora\[0\]\.scale must be a finite number/);
    const engine = await load(undefined);
    await engine.dispose();
  });
});

/**
 * PEFT LoRA folders (test/fixtures/peft, made by test/fixtures/make_peft_oracle.py) on hf-oracle's llama-gqa (every
 * linear layer and lm_head, with PEFT's own copy of lm_head) and phi3 (its fused qkv_proj and gate_up_proj, rsLoRA),
 * against transformers + peft: the logits after the prompt, 16 greedy ids.
 */
describe('PEFT LoRA folders on Hugging Face folders, against transformers + peft', () => {
  const PEFT = resolve(import.meta.dirname, 'fixtures/peft');
  const peft = JSON.parse(readFileSync(join(PEFT, 'peft.transformers.json'), 'utf8')) as { runs: { adapter: string; base: string; prompt: number[]; logits: number[]; ids: number[] }[] };

  it.each(peft.runs.map((r) => [r.adapter, r] as const))('%s: logits within 1e-4, greedy ids equal', async (_name, run) => {
    const engine = await Engine.load(hfOracleFolder(run.base), { gpu: await testGpu(), kvCache: 'f32', lora: [{ adapter: join(PEFT, run.adapter) }] });
    try {
      await forward(engine.model, run.prompt, 0, GREEDY, 0);
      const logits = await readLogits(engine.model);
      expect(Math.max(...run.logits.map((v, i) => Math.abs(v - logits[i])))).toBeLessThan(1e-4); // (measured 4.8e-6)
      const r = engine.generate(run.prompt, { maxTokens: 16, temperature: 0 });
      for await (const _ of r); // (drained)
      expect((await r.result).ids).toEqual(run.ids);
    } finally {
      await engine.dispose();
    }
  });

  it('refuses what it does not merge, naming it: DoRA, a module the model has not (a tied lm_head), a PEFT folder for a GGUF', async () => {
    const gpu = await testGpu();
    const adapter = join(PEFT, 'llama-gqa-lora');
    await withPatchedFolder(adapter, { use_dora: true }, async (dir) => {
      await expectEmberError(() => Engine.load(hfOracleFolder('llama-gqa'), { gpu, lora: [{ adapter: dir }] }), 'UNSUPPORTED', /use_dora true is not supported/);
    }, 'adapter_config.json');
    // qwen2's names are llama's, but it ties lm_head to its embeddings: no output.weight to merge into
    await expectEmberError(() => Engine.load(hfOracleFolder('qwen2'), { gpu, lora: [{ adapter }] }), 'BAD_MODEL', /tensor output\.weight is not in .*qwen2/);
    await expectEmberError(() => Engine.load(sharedModelPath(FILES.F32), { gpu, lora: [{ adapter }] }), 'UNSUPPORTED', /is a PEFT folder/);
  });
});
