/**
 * Mixtures of experts as people download them: Qwen3-MoE and Granite 3.x MoE from GGUF files as llama.cpp's own
 * converter writes them (test/fixtures/<name>/<name>.llama-cpp.gguf: architectures qwen3moe and granitemoe, the
 * experts stacked in 3-D ffn_*_exps tensors; qwen3_moe's layer 2 a dense FFN) to transformers' ids (the folders
 * themselves: test/hf_oracle.test.ts); Qwen3-MoE at load-time quantization against the CPU reference forward
 * (src/model/ref_forward.ts: every expert of every token computed, the same converted weights); configs that describe
 * no runnable mixture refused.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { forward, readLogits } from '../src/model/model.ts';
import { loadRefModel, refLogits } from '../src/model/ref_forward.ts';
import { ggufWeights, type QuantScheme } from '../src/model/weight_source.ts';
import { configFromGGUF } from '../src/model/config.ts';
import { configFromHF } from '../src/hf/config.ts';
import { readGGUF } from '../src/gguf/reader.ts';
import { sourceFromBuffer } from '../src/gguf/source.ts';
import { argmaxRef } from '../src/kernels/ref/sample.ts';
import { hfOracleFolder, hfOraclePath } from './helpers/models.ts';
import { teacherForced } from './helpers/teacher_forced.ts';
import { testGpu } from './helpers/gpu.ts';
import { expectEmberError } from './helpers/errors.ts';

interface OraclePrompt { prompt_ids: number[]; generated_ids: number[]; steps: { top_ids: number[]; top_logits: number[] }[] }

const GGUF = resolve(import.meta.dirname, 'fixtures/qwen3_moe/qwen3_moe.llama-cpp.gguf');
const oracle = JSON.parse(readFileSync(hfOraclePath('qwen3_moe'), 'utf8')) as { prompts: OraclePrompt[] };
const GREEDY = { temperature: 0, topK: 0, topP: 1 };
const ggufFile = async () => readGGUF(sourceFromBuffer(new Uint8Array(readFileSync(GGUF)), 'qwen3_moe.llama-cpp.gguf'));

// granitemoe (test/fixtures/granitemoe/granitemoe.llama-cpp.gguf): Granite's multipliers, every FFN a mixture, q/k rows
// permuted to adjacent pairs as llama.cpp's granite rotates them
describe.each([
  { name: 'qwen3_moe', config: { arch: 'qwen3', layerMoe: [true, true, false, true], moe: { experts: 8, used: 2, nFf: 32, normTopk: true } } },
  { name: 'granitemoe', config: { arch: 'granite', layerMoe: [true, true, true, true], moe: { experts: 8, used: 2, nFf: 32, normTopk: true }, residualScale: 0.75, embedScale: 1.25 } },
  // Granite 4.0-H-Tiny's family: Mamba-2 layers, the experts beside the shared MLP (llama.cpp's ffn_*_shexp, its width nFf)
  // (its context length the converter's for a model without RoPE: 2^20)
  { name: 'granite4h-moe', contextTrain: 1048576, config: { arch: 'granite', nFf: 64, layerMoe: [true, true, true, true], layerSsm: [true, false, true, true], moe: { experts: 8, used: 2, nFf: 32, sharedExpert: true } } },
  // LFM2-MoE: llama.cpp's converter writes no routed_scaling_factor (1.5 in the folder) and its graph applies none, so the
  // file is the folder's model with the scale 1: transformers' run of that (lfm2_moe.scale1.transformers.json) is its oracle
  // OLMoE: q and k normalised across all heads, the softmax's top 2 left unrenormalised (norm_topk_prob false)
  { name: 'olmoe', config: { arch: 'llama', qkNorm: true, qkNormAllHeads: true, layerMoe: [true, true, true, true], moe: { experts: 8, used: 2, nFf: 32, normTopk: false } } },
  { name: 'lfm2_moe', oracle: 'scale1', config: { arch: 'lfm2', layerMoe: [false, true, true, true], moe: { experts: 8, used: 2, nFf: 32, gating: 'sigmoid', selectionBias: true, weightScale: 1 } } },
])('$name as llama.cpp converts it', ({ name, oracle, contextTrain, config }: { name: string; oracle?: string; contextTrain?: number; config: object }) => {
  const oracleOf = JSON.parse(readFileSync(hfOraclePath(name).replace(/transformers\.json$/, `${oracle ? `${oracle}.` : ''}transformers.json`), 'utf8')) as { prompts: OraclePrompt[] };
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(resolve(import.meta.dirname, `fixtures/${name}/${name}.llama-cpp.gguf`), { gpu: await testGpu('f16'), contextLength: 128, maxBatch: 16, kvCache: 'f32' });
  });
  afterAll(() => engine?.dispose());

  it('reads the folder\'s forward-pass config: the experts\' shape, the dense layers', async () => {
    const hf = configFromHF(JSON.parse(readFileSync(resolve(hfOracleFolder(name), 'config.json'), 'utf8'))).config;
    // (GGUF llama-style files rotate adjacent pairs: their q/k rows were permuted to them)
    const { name: _a, eps: e1, ropeNeox: _n1, ...ours } = engine.model.config;
    const { name: _b, eps: e2, ropeNeox: _n2, ...theirs } = hf;
    expect(ours).toEqual({ ...theirs, ...(contextTrain ? { contextTrain } : {}), ...(oracle === 'scale1' ? { moe: { ...theirs.moe, weightScale: 1 } } : {}) });
    expect(e1).toBe(Math.fround(e2));
    expect(ours).toMatchObject(config);
  });

  it('greedy ids and top logits equal transformers\'', async () => {
    let worst = 0;
    for (const p of oracleOf.prompts) {
      const run = await teacherForced(engine, p.prompt_ids, p);
      expect(run.ids).toEqual(p.generated_ids);
      worst = Math.max(worst, run.top);
    }
    console.log(`[${name} gguf] max |dlogit| ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(2e-4); // as the folder (test/hf_oracle.test.ts)
  });
});

/**
 * The worst |logit - reference| over a prompt's positions (decode, one token a pass) and the prefill's last, relative to
 * the reference's largest |logit| (as test/model_ref.test.ts); then 8 greedy ids.
 */
async function againstReference(quant: QuantScheme, variant: 'f16' | 'f32', name = 'qwen3_moe'): Promise<number> {
  const path = resolve(import.meta.dirname, `fixtures/${name}/${name}.llama-cpp.gguf`);
  const file = await readGGUF(sourceFromBuffer(new Uint8Array(readFileSync(path)), `${name}.llama-cpp.gguf`));
  const ref = await loadRefModel(ggufWeights(file), configFromGGUF(file), quant);
  const engine = await Engine.load(path, { gpu: await testGpu(variant), quant, contextLength: 64, maxBatch: 16, kvCache: 'f32' });
  try {
    const prompt = oracle.prompts[3].prompt_ids.slice(0, 12); // (the fixtures share hf-oracle/llama-gqa's tokenizer)
    const V = ref.config.vocab;
    const want = refLogits(ref, prompt);
    let worst = 0;
    const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const diff = (got: Float32Array, at: number) => got.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - want[at * V + i]) / scale)));
    for (let i = 0; i < prompt.length; i++) {
      await forward(engine.model, [prompt[i]], i, GREEDY, 0);
      diff(await readLogits(engine.model), i);
    }
    await forward(engine.model, prompt, 0, GREEDY, 0); // a prefill pass: every slot's expert GEMV in one dispatch
    diff(await readLogits(engine.model), prompt.length - 1);
    const res = await engine.complete(prompt, { ...GREEDY, maxTokens: 8, stopAtEos: false });
    const seq = [...prompt];
    for (let s = 0; s < 8; s++) seq.push(argmaxRef(refLogits(ref, seq).subarray((seq.length - 1) * V)));
    expect(res.ids).toEqual(seq.slice(prompt.length));
    return worst;
  } finally {
    engine.dispose();
  }
}

describe('qwen3_moe quantized at load, against the CPU reference forward', () => {
  // int8-g32: the experts' Q8_0 codes (offset on lavapipe); q4_k: rows of 64 and 32 fall back to Q5_0 as llama-quantize's do
  for (const [quant, variant] of [['int8-g32', 'f16'], ['int8-g32', 'f32'], ['q4_k', 'f16'], ['fp8-e4m3', 'f16'], ['f16', 'f32']] as const) {
    it(`${quant} (${variant})`, async () => {
      const worst = await againstReference(quant, variant);
      console.log(`[qwen3_moe ${quant} ${variant}] max |dlogit| / max |logit| against the reference ${worst.toExponential(2)}`);
      expect(worst).toBeLessThanOrEqual(1e-3);
    });
  }
});

// A sigmoid router with its selection bias (LFM2-MoE), a shared expert beside a Mamba-2 hybrid (Granite 4.0-H-Tiny's),
// q/k norms over all heads and unrenormalised weights (OLMoE)
// (int8-g32 comes out equal to the reference's bits: each matmul's x is rounded to int8 codes, and those agree)
describe.each(['lfm2_moe', 'granite4h-moe', 'olmoe'])('%s quantized at load, against the CPU reference forward', (name) => {
  for (const [quant, variant] of [['int8-g32', 'f16'], ['f16', 'f32']] as const) {
    it(`${quant} (${variant})`, async () => {
      const worst = await againstReference(quant, variant, name);
      console.log(`[${name} ${quant} ${variant}] max |dlogit| / max |logit| against the reference ${worst.toExponential(2)}`);
      expect(worst).toBeLessThanOrEqual(1e-3);
    });
  }
});

describe('mixtures that emberlm cannot run are refused, naming the field', () => {
  const config = () => JSON.parse(readFileSync(resolve(hfOracleFolder('qwen3_moe'), 'config.json'), 'utf8')) as Record<string, unknown>;
  it('config.json', async () => {
    const { num_local_experts: _, ...hub } = config();
    expect(configFromHF({ ...hub, num_experts: 8 }).config.moe).toEqual({ experts: 8, used: 2, nFf: 32, normTopk: true, gating: 'softmax', selectionBias: false, weightScale: 1, sharedExpert: false }); // the Hub's field name
    expect(configFromHF({ ...config(), mlp_only_layers: [], decoder_sparse_step: 2 }).config.layerMoe).toEqual([false, true, false, true]);
    expect(configFromHF({ ...config(), num_local_experts: 0 }).config.moe).toBeNull();
    await expectEmberError(() => configFromHF({ ...config(), num_experts_per_tok: 9 }), 'BAD_MODEL', /field num_experts_per_tok is 9; expected an integer from 1 to the 8 experts/);
    await expectEmberError(() => configFromHF({ ...config(), num_local_experts: 64, num_experts_per_tok: 17 }), 'UNSUPPORTED', /num_experts_per_tok is 17; emberlm's router takes at most 16/);
    await expectEmberError(() => configFromHF({ ...config(), norm_topk_prob: 'yes' }), 'BAD_MODEL', /field norm_topk_prob is "yes"/);
    await expectEmberError(() => configFromHF({ ...config(), mlp_only_layers: 2 }), 'BAD_MODEL', /field mlp_only_layers is 2; expected a list/);
    await expectEmberError(() => configFromHF({ ...config(), moe_intermediate_size: 0 }), 'BAD_MODEL', /field moe_intermediate_size is 0/);
  });
  it('config.json of LFM2-MoE: sigmoid scores, the selection bias, the weights\' scale, the dense layers first; OLMoE\'s clip_qkv', async () => {
    const lfm2 = JSON.parse(readFileSync(resolve(hfOracleFolder('lfm2_moe'), 'config.json'), 'utf8')) as Record<string, unknown>;
    const { config: c } = configFromHF(lfm2);
    expect(c).toMatchObject({ arch: 'lfm2', layerMoe: [false, true, true, true], layerConv: [true, false, true, true], nFf: 128 });
    expect(c.moe).toEqual({ experts: 8, used: 2, nFf: 32, normTopk: true, gating: 'sigmoid', selectionBias: true, weightScale: 1.5, sharedExpert: false });
    expect(configFromHF({ ...lfm2, num_dense_layers: 0, use_expert_bias: false }).config).toMatchObject({ layerMoe: [true, true, true, true], moe: { selectionBias: false } });
    await expectEmberError(() => configFromHF({ ...lfm2, routed_scaling_factor: 0 }), 'BAD_MODEL', /field routed_scaling_factor is 0; expected a number above 0/);
    await expectEmberError(() => configFromHF({ ...lfm2, use_expert_bias: 'yes' }), 'BAD_MODEL', /field use_expert_bias is "yes"; expected true or false/);
    await expectEmberError(() => configFromHF({ ...lfm2, num_dense_layers: -1 }), 'BAD_MODEL', /field num_dense_layers is -1/);
    await expectEmberError(() => configFromHF({ ...lfm2, num_experts_per_tok: 20, num_experts: 32 }), 'UNSUPPORTED', /num_experts_per_tok is 20/);
    const olmoe = JSON.parse(readFileSync(resolve(hfOracleFolder('olmoe'), 'config.json'), 'utf8')) as Record<string, unknown>;
    await expectEmberError(() => configFromHF({ ...olmoe, clip_qkv: 8 }), 'UNSUPPORTED', /clip_qkv 8 \(q, k and v clamped\) is not supported/);
    await expectEmberError(() => configFromHF({ ...olmoe, norm_topk_prob: 1 }), 'BAD_MODEL', /field norm_topk_prob is 1; expected true or false/);
  });
  it('GGUF metadata', async () => {
    const f = await ggufFile();
    const patched = async (key: string, value: number | boolean | string) => configFromGGUF({ ...f, metadata: new Map([...f.metadata, [key, value]]) });
    expect((await patched('qwen3moe.expert_weights_norm', false)).moe?.normTopk).toBe(false);
    await expectEmberError(() => patched('qwen3moe.expert_used_count', 0), 'BAD_MODEL', /metadata key qwen3moe\.expert_used_count is 0/);
    await expectEmberError(() => patched('qwen3moe.expert_gating_func', 2), 'UNSUPPORTED', /expert_gating_func is 2; emberlm routes by softmax/);
    await expectEmberError(() => patched('qwen3moe.expert_weights_scale', 2.5), 'UNSUPPORTED', /expert_weights_scale is 2\.5/);
    await expectEmberError(() => patched('qwen3moe.expert_shared_feed_forward_length', 64), 'UNSUPPORTED', /expert_shared_feed_forward_length is 64; emberlm runs shared experts for granitemoe, granitehybrid/);
    await expectEmberError(() => configFromGGUF({ ...f, metadata: new Map([...f.metadata, ['general.architecture', 'qwen2moe'], ['qwen2moe.expert_count', 8]]) }), 'UNSUPPORTED', /qwen2moe/);
  });
});
