/**
 * Hugging Face model folders: generated random models (models/generate_hf.ts) written to a temp dir,
 * loaded through safetensors + config.json + tokenizer.json, from a path and from a local HTTP server
 * with Range support. Values are compared with the f32 weights the generator started from; broken
 * inputs must give a typed EmberError naming the file and the field or tensor.
 */
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FP8_BLOCK, randomHFModel, writeHFModel, type GeneratedHFModel, type HFGenerateOptions } from '../models/generate_hf.ts';
import { generateModel } from '../models/generate.ts';
import { f16ToF32, bf16ToF32, f32ToBF16Bits, f32ToF16Bits } from '../src/gguf/convert.ts';
import { readGGUF } from '../src/gguf/reader.ts';
import { sourceFromBuffer, type ByteSource } from '../src/gguf/source.ts';
import { configFromHF } from '../src/hf/config.ts';
import { parseJson } from '../src/hf/folder.ts';
import { ropeInvFreq } from '../src/kernels/rope.ts';
import { loadHFModel, type Fp8WeightData, type HFModel } from '../src/hf/model.ts';
import { expectedTensors, ggufTensorName, hfTensorName } from '../src/hf/names.ts';
import { readSafetensors, readTensorBytes, tensorToF32 } from '../src/hf/safetensors.ts';
import { encodeSafetensors, type SafeTensorToWrite } from '../src/hf/safetensors_writer.ts';
import type { WeightData } from '../src/kernels/matmul.ts';
import { dequantizeFp8Blocks, fp8e4m3ToF32, quantizeFp8Blocks } from '../src/quant/fp8.ts';
import { tokenizerFromGGUF } from '../src/tokenizer/index.ts';
import { expectEmberError } from './helpers/errors.ts';

let root: string;
let n = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'emberlm-hf-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Writes a generated model into a fresh folder. */
async function write(opts: HFGenerateOptions): Promise<{ dir: string; gen: GeneratedHFModel }> {
  const dir = join(root, `m${n++}`);
  return { dir, gen: await writeHFModel(dir, opts) };
}

/** Loads, runs `fn`, closes. */
async function withModel<T>(base: string, fn: (m: HFModel) => Promise<T>, quant: 'auto' | 'f32' = 'auto'): Promise<T> {
  const m = await loadHFModel(base, quant);
  try {
    return await fn(m);
  } finally {
    await m.close();
  }
}

const byName = (gen: GeneratedHFModel, name: string) => gen.tensors.find((t) => t.name === name)!;
const round = (x: Float32Array, dtype: string) => {
  if (dtype === 'F16') return x.map((v) => f16ToF32(f32ToF16Bits(v)));
  if (dtype === 'BF16') return x.map((v) => bf16ToF32(f32ToBF16Bits(v)));
  return x;
};

/** Bit-for-bit equality of two f32 arrays (much faster than a deep toEqual on large arrays). */
const sameBits = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Two readAll results hold the same tensors, bit for bit. */
function expectSameTensors(a: Map<string, Float32Array>, b: Map<string, Float32Array>): void {
  expect([...b.keys()]).toEqual([...a.keys()]);
  for (const [k, v] of a) expect(sameBits(v, b.get(k)!), k).toBe(true);
}

/** The shape a GGUF tensor name has in the generated HF model. */
const shapeOf = (gen: GeneratedHFModel, gguf: string) => byName(gen, hfTensorName(gguf)!).shape;

/** Every tensor the model has, read through the WeightSource as f32. */
async function readAll(m: HFModel, gen: GeneratedHFModel): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const e of expectedTensors(m.config, m.extra)) {
    const [a, b] = shapeOf(gen, e.name);
    if (b === undefined) out.set(e.name, await m.weights.vector(e.name, a));
    else out.set(e.name, (await m.weights.matrix(e.name, a, b, 'f32')).data as Float32Array);
  }
  return out;
}

describe('config.json -> ModelConfig', () => {
  it.each([
    ['llama', { arch: 'llama', qkvBias: false, qkNorm: false, headDim: 16 }, { qkNorm: false }],
    ['mistral', { arch: 'mistral', qkvBias: false, qkNorm: false, headDim: 16 }, { qkNorm: false }],
    ['qwen2', { arch: 'qwen2', qkvBias: true, qkNorm: false, headDim: 16 }, { qkNorm: false }],
    ['qwen3', { arch: 'qwen3', qkvBias: false, qkNorm: true, headDim: 32 }, { qkNorm: true }],
  ] as const)('%s', async (modelType, want, extra) => {
    const { dir } = await write({ modelType, tied: modelType === 'qwen3' });
    await withModel(dir, async (m) => {
      expect(m.config).toMatchObject({
        ...want, nLayer: 2, nEmbd: 64, nFf: 96, nHead: 4, nKv: 2, nRot: want.headDim, vocab: 300, contextTrain: 256,
        eps: 1e-5, ropeBase: 10000, ropeNeox: true, ropeScaling: { type: 'none', factor: 1 }, tiedEmbeddings: modelType === 'qwen3',
        name: `emberlm-random-${modelType}`,
      });
      expect(m.extra).toMatchObject({ modelType, ...extra, slidingWindow: null, fp8BlockSize: null });
      expect(Object.isFrozen(m.config)).toBe(true);
      expect(m.weights.has('output.weight')).toBe(modelType !== 'qwen3');
      expect(m.weights.has('blk.0.attn_q.bias')).toBe(modelType === 'qwen2');
      expect(m.weights.has('blk.1.attn_k_norm.weight')).toBe(modelType === 'qwen3');
    });
  });

  const base = () => randomHFModel().config;

  it('maps rope_scaling llama3 and linear, and the transformers v5 rope_parameters', () => {
    const llama3 = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
    expect(configFromHF({ ...base(), rope_theta: 500000, rope_scaling: llama3 }).config).toMatchObject({
      ropeBase: 500000, ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192 },
    });
    expect(configFromHF({ ...base(), rope_scaling: { type: 'linear', factor: 2 } }).config.ropeScaling).toEqual({ type: 'linear', factor: 2 });
    const v5 = { ...base(), rope_theta: undefined, rope_scaling: undefined, rope_parameters: { rope_type: 'default', rope_theta: 1e6 } };
    expect(configFromHF(v5).config).toMatchObject({ ropeBase: 1e6, ropeScaling: { type: 'none' } });
  });

  // transformers 5.18's _compute_yarn_parameters on these configs (inv_freq as float32, attention_factor), run once.
  const YARN_QWEN3 = [1.0, 0.6493816375732422, 0.4216965138912201, 0.2738419771194458, 0.17782793939113617, 0.11547820270061493,
    0.07498941570520401, 0.04869675263762474, 0.03162277862429619, 0.02053525112569332, 0.01333521492779255, 0.00865964312106371,
    0.005154795479029417, 0.0030431177001446486, 0.0017785303061828017, 0.001026617712341249, 0.0005833333707414567,
    0.00032469083089381456, 0.0001757068675942719, 9.128064994001761e-05, 4.4456985051510856e-05, 2.8869548259535804e-05,
    1.8747356079984456e-05, 1.2174188668723218e-05, 7.905693564680405e-06, 5.133812464919174e-06, 3.3338035336782923e-06,
    2.1649109385180054e-06, 1.405853367941745e-06, 9.129353202297352e-07, 5.928434347879374e-07, 3.8498163235090033e-07];
  const YARN_UNTRUNCATED = [1.0, 0.5623413324356079, 0.3162277638912201, 0.17782793939113617, 0.10000000149011612, 0.05623412877321243,
    0.025771617889404297, 0.010185026563704014, 0.003305222140625119, 0.0007029266562312841, 0.00039528473280370235,
    0.00022228492889553308, 0.0001250000059371814, 7.029266271274537e-05, 3.9528473280370235e-05, 2.2228492525755428e-05];

  it('maps rope_scaling yarn as transformers computes it: frequencies, attention factor, defaults', () => {
    const qwen3 = { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 32768 };
    const c = configFromHF({ ...base(), head_dim: 64, rope_theta: 1e6, max_position_embeddings: 131072, rope_scaling: qwen3 }).config;
    expect(c.ropeScaling).toMatchObject({ type: 'yarn', factor: 4, originalContext: 32768, betaFast: 32, betaSlow: 1, truncate: true });
    expect(c.ropeScaling.attnFactor).toBeCloseTo(1.138629436111989, 12);
    const rs = c.ropeScaling;
    const yarn = { factor: rs.factor, originalContext: rs.originalContext!, betaFast: rs.betaFast!, betaSlow: rs.betaSlow!, truncate: rs.truncate! };
    ropeInvFreq(64, 1e6, { yarn }).forEach((f, i) => expect(f / YARN_QWEN3[i]).toBeCloseTo(1, 6));
    // no ramp, every pair interpolated, or none: what the table would be if YaRN's blend were lost
    expect(ropeInvFreq(64, 1e6)[20] / YARN_QWEN3[20]).toBeCloseTo(4, 5);
    expect(ropeInvFreq(64, 1e6)[4] / YARN_QWEN3[4]).toBeCloseTo(1, 6);

    const other = { rope_type: 'yarn', factor: 8, original_max_position_embeddings: 2048, beta_fast: 16, beta_slow: 2, truncate: false, mscale: 1, mscale_all_dim: 0.5 };
    const d = configFromHF({ ...base(), head_dim: 32, max_position_embeddings: 16384, rope_scaling: other }).config.ropeScaling;
    expect(d).toMatchObject({ type: 'yarn', factor: 8, originalContext: 2048, betaFast: 16, betaSlow: 2, truncate: false });
    expect(d.attnFactor).toBeCloseTo(1.094179988101349, 12);
    const yarn2 = { factor: d.factor, originalContext: d.originalContext!, betaFast: d.betaFast!, betaSlow: d.betaSlow!, truncate: d.truncate! };
    ropeInvFreq(32, 10000, { yarn: yarn2 }).forEach((f, i) => expect(f / YARN_UNTRUNCATED[i]).toBeCloseTo(1, 6));

    // factor from max_position_embeddings over the top-level original_max_position_embeddings (which wins, as transformers reads it)
    const implied = configFromHF({ ...base(), max_position_embeddings: 8192, original_max_position_embeddings: 2048,
      rope_parameters: { rope_type: 'yarn', rope_theta: 1e4, factor: null, original_max_position_embeddings: 4096, attention_factor: 0.9, beta_fast: 0 } }).config.ropeScaling;
    expect(implied).toMatchObject({ type: 'yarn', factor: 4, originalContext: 2048, attnFactor: 0.9, betaFast: 32 });
  });

  it('granite: the four multipliers, each 1 when absent (attention_multiplier too, as GraniteConfig)', async () => {
    const granite = { ...base(), model_type: 'granite', embedding_multiplier: 12, attention_multiplier: 0.0078125, residual_multiplier: 0.22, logits_scaling: 8 };
    expect(configFromHF(granite).config).toMatchObject({ arch: 'granite', embedScale: 12, attnScale: 0.0078125, residualScale: 0.22, logitScale: 8, ropeNeox: true, tiedEmbeddings: false });
    expect(configFromHF({ ...base(), model_type: 'granite' }).config).toMatchObject({ embedScale: 1, attnScale: 1, residualScale: 1, logitScale: 1 });
    expect(configFromHF(base()).config).toMatchObject({ embedScale: 1, attnScale: 0.25, residualScale: 1, logitScale: 1 }); // llama ignores them
    const bad = (patch: Record<string, unknown>) => () => configFromHF({ ...granite, ...patch }, '/m/config.json');
    await expectEmberError(bad({ residual_multiplier: -1 }), 'BAD_MODEL', /field residual_multiplier is -1; expected a finite number above 0/);
    await expectEmberError(bad({ logits_scaling: 0 }), 'BAD_MODEL', /field logits_scaling is 0; expected a finite number above 0/);
    await expectEmberError(bad({ embedding_multiplier: 'x' }), 'BAD_MODEL', /field embedding_multiplier is "x"; expected a number/);
  });

  it('reads head_dim, num_key_value_heads defaults, sliding windows and FP8 block sizes', () => {
    const c = { ...base(), head_dim: undefined, num_key_value_heads: undefined };
    expect(configFromHF(c).config).toMatchObject({ headDim: 16, nKv: 4 });
    expect(configFromHF({ ...base(), model_type: 'mistral', sliding_window: 4096 }).extra.slidingWindow).toBe(4096);
    expect(configFromHF({ ...base(), model_type: 'qwen2', use_sliding_window: false, sliding_window: 4096 }).extra.slidingWindow).toBe(null);
    expect(configFromHF({ ...base(), model_type: undefined, architectures: ['Qwen3ForCausalLM'] }).extra.modelType).toBe('qwen3');
    expect(configFromHF({ ...base(), quantization_config: { quant_method: 'fp8', weight_block_size: [64, 32] } }).extra.fp8BlockSize).toEqual([64, 32]);
  });

  it('names the file and field of a bad config', async () => {
    const bad = (patch: Record<string, unknown>) => () => configFromHF({ ...base(), ...patch }, '/m/config.json');
    await expectEmberError(bad({ model_type: 'bloom' }), 'UNSUPPORTED', /\/m\/config\.json: model_type "bloom" is not supported/);
    await expectEmberError(bad({ hidden_size: undefined }), 'BAD_MODEL', /\/m\/config\.json: field hidden_size is missing/);
    await expectEmberError(bad({ num_hidden_layers: 2.5 }), 'BAD_MODEL', /config\.json: field num_hidden_layers is 2.5; expected a positive integer/);
    await expectEmberError(bad({ vocab_size: '300' }), 'BAD_MODEL', /field vocab_size is "300"; expected a number/);
    await expectEmberError(bad({ num_key_value_heads: 3 }), 'BAD_MODEL', /field num_key_value_heads is 3; expected a divisor of the 4 attention heads/);
    await expectEmberError(bad({ head_dim: undefined, hidden_size: 66 }), 'BAD_MODEL', /field hidden_size 66 is not a multiple of num_attention_heads 4/);
    await expectEmberError(bad({ rope_scaling: { rope_type: 'dynamic', factor: 4 } }), 'UNSUPPORTED', /rope_scaling\.rope_type "dynamic" is not supported \(default, linear, llama3, longrope, yarn\)/);
    await expectEmberError(bad({ rope_scaling: { rope_type: 'yarn', factor: -4 } }), 'BAD_MODEL', /field rope_scaling\.factor is -4; expected a finite number above 0/);
    await expectEmberError(bad({ rope_scaling: { rope_type: 'yarn', factor: 4, truncate: 'no' } }), 'BAD_MODEL', /field rope_scaling\.truncate is "no"; expected true or false/);
    await expectEmberError(bad({ rope_scaling: { rope_type: 'yarn', factor: 4, beta_fast: -1 } }), 'BAD_MODEL', /field rope_scaling\.beta_fast is -1/);
    await expectEmberError(bad({ original_max_position_embeddings: 'x', rope_scaling: { rope_type: 'yarn', factor: 4 } }), 'BAD_MODEL', /field original_max_position_embeddings is "x"/);
    await expectEmberError(bad({ rope_scaling: { rope_type: 'llama3', factor: 8 } }), 'BAD_MODEL', /field rope_scaling\.low_freq_factor is missing/);
    await expectEmberError(bad({ hidden_act: 'gelu' }), 'UNSUPPORTED', /hidden_act "gelu"/);
    await expectEmberError(bad({ quantization_config: { quant_method: 'gptq' } }), 'UNSUPPORTED', /quant_method "gptq"/);
    await expectEmberError(bad({ model_type: undefined, architectures: undefined }), 'BAD_MODEL', /field model_type is missing/);
  });
});

describe('config.json of windowed, Gemma and Phi-3 models', () => {
  const base = () => ({ ...randomHFModel().config, num_hidden_layers: 4 });

  it('windows: Mistral every layer, Qwen2 from max_window_layers on when use_sliding_window, layer_types first', () => {
    expect(configFromHF({ ...base(), model_type: 'mistral', sliding_window: 12 }).config.layerWindow).toEqual([12, 12, 12, 12]);
    const qwen = { ...base(), model_type: 'qwen2', sliding_window: 64, max_window_layers: 2 };
    expect(configFromHF({ ...qwen, use_sliding_window: true }).config.layerWindow).toEqual([0, 0, 64, 64]);
    expect(configFromHF({ ...qwen, use_sliding_window: false }).config.layerWindow).toEqual([0, 0, 0, 0]);
    const types = ['full_attention', 'sliding_attention', 'full_attention', 'sliding_attention'];
    expect(configFromHF({ ...qwen, use_sliding_window: true, layer_types: types }).config.layerWindow).toEqual([0, 64, 0, 64]);
  });

  it('gemma2: every other layer windowed, soft-caps, query_pre_attn_scalar, (1 + w) norms and GeGLU', () => {
    const { config: c, extra } = configFromHF({ ...base(), model_type: 'gemma2', hidden_act: undefined, sliding_window: 8, query_pre_attn_scalar: 48, tie_word_embeddings: undefined });
    expect(c).toMatchObject({ arch: 'gemma2', layerWindow: [8, 0, 8, 0], attnSoftcap: 50, finalSoftcap: 30, postNorms: true, ffnAct: 'gelu_tanh', tiedEmbeddings: true, qkNorm: false });
    expect(c.attnScale).toBeCloseTo(1 / Math.sqrt(48), 12);
    expect(c.embedScale).toBe(Math.fround(Math.sqrt(64)));
    expect(extra.slidingWindow).toBe(8);
    expect(configFromHF({ ...base(), model_type: 'gemma2', attn_logit_softcapping: null, final_logit_softcapping: 20 }).config).toMatchObject({ attnSoftcap: 0, finalSoftcap: 20 });
  });

  it('gemma3: local layers get their own RoPE base, from the v4 fields and from v5 rope_parameters per layer type', () => {
    const v4 = configFromHF({ ...base(), model_type: 'gemma3_text', sliding_window_pattern: 2, sliding_window: 4, rope_theta: 1e6, rope_local_base_freq: 1e4, rope_scaling: { rope_type: 'linear', factor: 8 } }).config;
    expect(v4).toMatchObject({ arch: 'gemma3', layerWindow: [4, 0, 4, 0], ropeBase: 1e6, ropeBaseLocal: 1e4, ropeScaling: { type: 'linear', factor: 8 }, qkNorm: true, attnSoftcap: 0, finalSoftcap: 0 });
    expect(v4.attnScale).toBe(1 / 16); // query_pre_attn_scalar defaults to 256
    const rope_parameters = { full_attention: { rope_type: 'linear', factor: 8, rope_theta: 1e6 }, sliding_attention: { rope_type: 'default', rope_theta: 1e4 } };
    const v5 = configFromHF({ ...base(), model_type: 'gemma3_text', sliding_window_pattern: 2, sliding_window: 4, rope_theta: undefined, rope_scaling: undefined, rope_parameters }).config;
    expect(v5).toEqual(v4);
  });

  it('phi3: su is longrope, partial rotary, the attention factor transformers derives', () => {
    const rope_scaling = { type: 'su', short_factor: [1, 1, 1, 1, 1, 1], long_factor: [2, 2, 2, 2, 2, 2] };
    const c = configFromHF({ ...base(), model_type: 'phi3', partial_rotary_factor: 0.75, max_position_embeddings: 1024, original_max_position_embeddings: 256, rope_scaling }).config;
    expect(c).toMatchObject({ arch: 'phi3', nRot: 12, ropeScaling: { type: 'longrope', originalContext: 256, factor: 4, shortFactor: rope_scaling.short_factor, longFactor: rope_scaling.long_factor } });
    expect(c.ropeScaling.attnFactor).toBeCloseTo(Math.sqrt(1 + Math.log(4) / Math.log(256)), 12);
  });

  it('phi, stablelm, gpt_neox, starcoder2 and gpt2: LayerNorms with biases, partial rotary or learned positions, the FFN beside attention as each family runs it', () => {
    const ln = (t: string, patch: Record<string, unknown> = {}) => configFromHF({ ...base(), model_type: t, rms_norm_eps: undefined, hidden_act: undefined, ...patch }).config;
    const layerNormed = { preLayerNorms: true, preNorms: true, eps: 1e-5, ropeNeox: true };
    // Phi-2: gelu_new by default, its FFN always beside attention on the one norm, biases on q|k|v
    expect(ln('phi', { partial_rotary_factor: 0.5 })).toMatchObject({ arch: 'phi2', ...layerNormed, parallelFfn: 'shared', qkvBias: true, ffnGated: false, ffnAct: 'gelu_tanh', nRot: 8 });
    // StableLM 2: SwiGLU, q|k|v biases with use_qkv_bias, sequential unless use_parallel_residual
    expect(ln('stablelm', { partial_rotary_factor: 0.25, use_qkv_bias: true })).toMatchObject({ arch: 'stablelm', ...layerNormed, parallelFfn: null, qkvBias: true, ffnGated: true, ffnAct: 'silu', nRot: 4 });
    expect(ln('stablelm', { use_parallel_residual: true })).toMatchObject({ parallelFfn: 'shared', qkvBias: false });
    // GPT-NeoX in transformers 4's keys (rotary_pct, rotary_emb_base): its own FFN norm beside attention by default, GELU by erf
    expect(ln('gpt_neox', { rotary_pct: 0.25, rotary_emb_base: 20000, rope_theta: undefined, attention_bias: undefined })).toMatchObject({ arch: 'gptneox', ...layerNormed, parallelFfn: 'own', qkvBias: true, ffnGated: false, ffnAct: 'gelu', nRot: 4, ropeBase: 20000 });
    expect(ln('gpt_neox', { use_parallel_residual: false, attention_bias: false })).toMatchObject({ parallelFfn: null, qkvBias: false });
    // The Hub's configs as published (microsoft/phi-2, stabilityai/stablelm-2-1_6b, EleutherAI/pythia-160m, bigcode/starcoder2-3b, openai-community/gpt2: transformers 4's keys)
    const phi2 = { model_type: 'phi', architectures: ['PhiForCausalLM'], hidden_act: 'gelu_new', hidden_size: 2560, intermediate_size: 10240, layer_norm_eps: 1e-5, max_position_embeddings: 2048, num_attention_heads: 32, num_hidden_layers: 32, num_key_value_heads: 32, partial_rotary_factor: 0.4, qk_layernorm: false, rope_scaling: null, rope_theta: 10000.0, tie_word_embeddings: false, vocab_size: 51200 };
    expect(configFromHF(phi2).config).toMatchObject({ arch: 'phi2', nEmbd: 2560, nFf: 10240, nHead: 32, nKv: 32, headDim: 80, nRot: 32, contextTrain: 2048, parallelFfn: 'shared', tiedEmbeddings: false });
    const stablelm2 = { model_type: 'stablelm', architectures: ['StableLmForCausalLM'], hidden_act: 'silu', hidden_size: 2048, intermediate_size: 5632, layer_norm_eps: 1e-5, max_position_embeddings: 4096, num_attention_heads: 32, num_hidden_layers: 24, num_key_value_heads: 32, partial_rotary_factor: 0.25, qk_layernorm: false, rope_scaling: null, rope_theta: 10000, tie_word_embeddings: false, use_parallel_residual: false, use_qkv_bias: true, vocab_size: 100352 };
    expect(configFromHF(stablelm2).config).toMatchObject({ arch: 'stablelm', headDim: 64, nRot: 16, contextTrain: 4096, parallelFfn: null, qkvBias: true, ffnGated: true });
    const pythia = { model_type: 'gpt_neox', architectures: ['GPTNeoXForCausalLM'], hidden_act: 'gelu', hidden_size: 768, intermediate_size: 3072, layer_norm_eps: 1e-5, max_position_embeddings: 2048, num_attention_heads: 12, num_hidden_layers: 12, rotary_emb_base: 10000, rotary_pct: 0.25, tie_word_embeddings: false, use_parallel_residual: true, vocab_size: 50304 };
    expect(configFromHF(pythia).config).toMatchObject({ arch: 'gptneox', nKv: 12, headDim: 64, nRot: 16, ropeBase: 10000, parallelFfn: 'own', qkvBias: true, ffnAct: 'gelu' });
    const starcoder2 = { model_type: 'starcoder2', architectures: ['Starcoder2ForCausalLM'], hidden_act: 'gelu_pytorch_tanh', hidden_size: 3072, intermediate_size: 12288, max_position_embeddings: 16384, mlp_type: 'default', norm_epsilon: 1e-5, norm_type: 'layer_norm', num_attention_heads: 24, num_hidden_layers: 30, num_key_value_heads: 2, rope_theta: 999999.4420358813, sliding_window: 4096, use_bias: true, vocab_size: 49152 };
    const sc2 = configFromHF(starcoder2).config;
    expect(sc2).toMatchObject({ arch: 'starcoder2', headDim: 128, nRot: 128, nKv: 2, eps: 1e-5, ropeBase: 999999.4420358813, qkvBias: true, ffnGated: false, ffnAct: 'gelu_tanh', tiedEmbeddings: true, parallelFfn: null });
    expect(new Set(sc2.layerWindow)).toEqual(new Set([4096]));
    expect(() => configFromHF({ ...starcoder2, norm_type: 'rms_norm' })).toThrow(/norm_type "rms_norm" \(StarCoder2 runs layer_norm\) is not supported/);
    const gpt2 = { model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], activation_function: 'gelu_new', n_ctx: 1024, n_embd: 768, n_head: 12, n_layer: 12, n_positions: 1024, layer_norm_epsilon: 1e-5, vocab_size: 50257 };
    expect(configFromHF(gpt2).config).toMatchObject({ arch: 'gpt2', nEmbd: 768, nFf: 3072, nHead: 12, nKv: 12, nLayer: 12, contextTrain: 1024, learnedPositions: true, tiedEmbeddings: true, qkvBias: true, ffnAct: 'gelu_tanh' });
    expect(configFromHF(gpt2).config.layerRope.some(Boolean)).toBe(false);
    expect(() => configFromHF({ ...gpt2, scale_attn_by_inverse_layer_idx: true })).toThrow(/scale_attn_by_inverse_layer_idx true \(scores divided by the layer index too\) is not supported/);
    expect(() => ln('phi', { qk_layernorm: true })).toThrow(/qk_layernorm true \(LayerNorms of q and k per head\) is not supported/);
    expect(() => ln('stablelm', { hidden_act: 'gelu' })).toThrow(/hidden_act "gelu" is not supported \(emberlm runs silu here\)/);
  });

  it('olmo2 and olmo3: post-norms only, q/k norms over all heads, eps 1e-5; OLMo 3\'s windows on 3 of 4 layers, rotated unscaled', () => {
    const olmo = (t: string, patch: Record<string, unknown> = {}) => configFromHF({ ...base(), model_type: t, rms_norm_eps: undefined, rope_theta: undefined, rope_scaling: undefined, ...patch }).config;
    const plain = { preNorms: false, postNorms: true, qkNorm: true, qkNormAllHeads: true, eps: 1e-5, ropeNeox: true };
    expect(olmo('olmo2')).toMatchObject({ arch: 'olmo2', ...plain, ropeBase: 10000, ropeBaseLocal: null, layerWindow: [0, 0, 0, 0] });
    // Olmo3Config's defaults: window 4096 on all but every 4th layer, rope_theta 500000 for both layer types
    expect(olmo('olmo3')).toMatchObject({ arch: 'olmo2', ...plain, ropeBase: 500000, ropeBaseLocal: 500000, layerWindow: [4096, 4096, 4096, 0] });
    const yarn = { rope_type: 'yarn', factor: 8, original_max_position_embeddings: 8192 };
    const v5 = olmo('olmo3', { sliding_window: 16, rope_parameters: { full_attention: { ...yarn, rope_theta: 5e5 }, sliding_attention: { rope_type: 'default', rope_theta: 1e4 } } });
    expect(v5).toMatchObject({ ropeBase: 5e5, ropeBaseLocal: 1e4, ropeScaling: { type: 'yarn', factor: 8, originalContext: 8192 }, layerWindow: [16, 16, 16, 0] });
    // transformers v4's layout: rope_scaling for the full layers, rope_theta for both
    expect(olmo('olmo3', { rope_theta: 5e5, rope_scaling: yarn, layer_types: ['full_attention', 'sliding_attention', 'full_attention', 'sliding_attention'] }))
      .toMatchObject({ ropeBase: 5e5, ropeBaseLocal: 5e5, ropeScaling: { type: 'yarn', factor: 8 }, layerWindow: [0, 4096, 0, 4096] });
    expect(() => olmo('olmo3', { rope_parameters: { full_attention: yarn, sliding_attention: { rope_type: 'linear', factor: 2 } } })).toThrow(/sliding_attention\.rope_type "linear" is not supported/);
    expect(() => olmo('olmo3', { rope_parameters: { full_attention: yarn, sliding_attention: { rope_theta: -1 } } })).toThrow(/sliding_attention\.rope_theta is -1; expected a finite number above 0/);
  });

  it('granitemoehybrid: Granite 4.0\'s dense models as granite (shared_mlp\'s width, RoPE only when asked); experts beside the shared MLP', () => {
    const g4 = (patch: Record<string, unknown> = {}) => configFromHF({
      ...base(), model_type: 'granitemoehybrid', layer_types: ['attention', 'attention', 'full_attention', 'attention'], num_local_experts: 0,
      shared_intermediate_size: 2048, position_embedding_type: 'rope', residual_multiplier: 0.22, ...patch,
    }, '/m/config.json').config;
    expect(g4()).toMatchObject({ arch: 'granite', nFf: 2048, residualScale: 0.22, layerRope: [true, true, true, true] });
    expect(g4({ position_embedding_type: undefined }).layerRope).toEqual([false, false, false, false]); // GraniteMoeHybridConfig's default: no RoPE
    expect(g4()).toMatchObject({ layerSsm: [], ssm: null });
    expect(() => g4({ layer_types: undefined })).toThrow(/layer_types is undefined; expected 4 entries of "attention" or "mamba"/);
    expect(() => g4({ layer_types: ['attention', 'attention'] })).toThrow(/layer_types is .*; expected 4 entries of "attention" or "mamba", one per layer/);
    expect(g4()).toMatchObject({ layerMoe: [], moe: null });
    // Granite 4.0-H-Tiny's: 64 experts of intermediate_size, 6 a token, beside the shared MLP (nFf)
    expect(g4({ num_local_experts: 64, num_experts_per_tok: 6, intermediate_size: 512 })).toMatchObject({
      nFf: 2048, layerMoe: [true, true, true, true], moe: { experts: 64, used: 6, nFf: 512, normTopk: true, gating: 'softmax', sharedExpert: true },
    });
    expect(g4({ num_local_experts: undefined }).moe).toMatchObject({ experts: 8, used: 2 }); // GraniteMoeHybridConfig's defaults
    expect(() => g4({ num_local_experts: 4, num_experts_per_tok: 5 })).toThrow(/field num_experts_per_tok is 5; expected an integer from 1 to the 4 experts/);
  });

  it('granitemoehybrid with Mamba-2 layers (Granite 4.0-H): which layers, their shape from mamba_* (defaults, "auto" head size), time_step_limit; groups and biases refused', () => {
    const h = (patch: Record<string, unknown> = {}) => configFromHF({
      ...base(), model_type: 'granitemoehybrid', hidden_size: 64, layer_types: ['mamba', 'attention', 'mamba', 'mamba'], num_local_experts: 0,
      shared_intermediate_size: 256, mamba_n_heads: 8, mamba_d_head: 16, mamba_d_state: 32, ...patch,
    }, '/m/config.json').config;
    expect(h()).toMatchObject({
      arch: 'granite', layerSsm: [true, false, true, true], layerRope: [false, false, false, false], layerWindow: [0, 0, 0, 0],
      ssm: { nHead: 8, headDim: 16, dState: 32, nGroup: 1, convKernel: 4, dtMin: 0, dtMax: Infinity },
    });
    // transformers 5's names, infinity as it saves it, the head size derived
    const v5 = h({ layer_types: ['linear_attention', 'full_attention', 'linear_attention', 'linear_attention'], mamba_d_head: 'auto', mamba_n_heads: 4, mamba_d_conv: 3, time_step_limit: [0.001, { __float__: 'Infinity' }] });
    expect(v5).toMatchObject({ layerSsm: [true, false, true, true], ssm: { nHead: 4, headDim: 32, convKernel: 3, dtMin: 0.001, dtMax: Infinity } });
    expect(h({ time_step_limit: [0.01, 0.2] }).ssm).toMatchObject({ dtMin: 0.01, dtMax: 0.2 });
    expect(() => h({ mamba_d_head: 12 })).toThrow(/field mamba_expand times hidden_size is 128; expected 8 heads x 12 = 96/);
    expect(() => h({ mamba_d_state: 512 })).toThrow(/mamba_d_state is 512; expected an integer from 1 to 256/);
    expect(() => h({ mamba_d_conv: 0 })).toThrow(/mamba_d_conv is 0; expected a positive integer/);
    expect(h({ mamba_n_groups: 2 }).ssm).toMatchObject({ nGroup: 2, gatedNorm: true }); // (the gated norm over every head, as transformers)
    expect(() => h({ mamba_n_groups: 3 })).toThrow(/mamba_n_groups is 3; expected a divisor of the 8 heads/);
    expect(() => h({ mamba_proj_bias: true })).toThrow(/mamba_proj_bias true \(biases on in_proj and out_proj\) is not supported/);
    expect(() => h({ mamba_conv_bias: false })).toThrow(/mamba_conv_bias false .* is not supported/);
    expect(() => h({ time_step_limit: [0.5, 0.1] })).toThrow(/time_step_limit\[1\] is 0.1; expected a number above 0.5/);
    expect(() => h({ time_step_limit: 'wide' })).toThrow(/time_step_limit is "wide"; expected \[min, max\]/);
  });

  it('falcon_h1: a Mamba-2 mixer beside attention in every layer; its muP multipliers folded into attnScale, the embedding and logit scales, the sublayer scales and in_proj\'s segment scales', () => {
    const f = (patch: Record<string, unknown> = {}) => configFromHF({
      ...base(), model_type: 'falcon_h1', hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, rope_theta: undefined, rope_scaling: undefined,
      rope_parameters: { rope_type: 'default', rope_theta: 1e11 },
      mamba_d_ssm: 96, mamba_n_heads: 6, mamba_d_state: 16, attention_in_multiplier: 0.5, key_multiplier: 2, attention_out_multiplier: 3, embedding_multiplier: 4,
      lm_head_multiplier: 0.25, ssm_in_multiplier: 2, ssm_multipliers: [1, 2, 3, 4, 5], ssm_out_multiplier: 0.5, mlp_multipliers: [2, 0.5], ...patch,
    }, '/m/config.json').config;
    expect(f()).toMatchObject({
      arch: 'falcon-h1', layerSsm: [true, true, true, true], ssmBesideAttention: true, ropeBase: 1e11, layerRope: [true, true, true, true], tiedEmbeddings: false, eps: 1e-5,
      embedScale: 4, logitScale: 4, attnScale: (0.5 * 0.5 * 2) / 4, mup: { attnOut: 1.5, ssmOut: 0.5, ffnOut: 0.25, ffnGate: 2 },
      ssm: { nHead: 6, headDim: 16, dState: 16, nGroup: 1, convKernel: 4, inScales: [2, 4, 6, 8, 10], gatedNorm: false },
    });
    // transformers' defaults: every multiplier 1, the inner width twice hidden_size, no gated norm
    const plain = f({ mamba_d_ssm: undefined, mamba_n_heads: 8, attention_in_multiplier: undefined, key_multiplier: undefined, attention_out_multiplier: undefined, embedding_multiplier: undefined,
      lm_head_multiplier: undefined, ssm_in_multiplier: undefined, ssm_multipliers: undefined, ssm_out_multiplier: undefined, mlp_multipliers: undefined });
    expect(plain).toMatchObject({ embedScale: 1, logitScale: 1, attnScale: 0.25, mup: { attnOut: 1, ssmOut: 1, ffnOut: 1, ffnGate: 1 }, ssm: { headDim: 16, inScales: [1, 1, 1, 1, 1] } });
    expect(f({ mamba_rms_norm: true, mamba_norm_before_gate: false }).ssm).toMatchObject({ gatedNorm: true });
    expect(f({ mamba_n_groups: 2 }).ssm).toMatchObject({ nGroup: 2, gatedNorm: false });
    expect(() => f({ mamba_rms_norm: true, mamba_norm_before_gate: false, mamba_n_groups: 2 })).toThrow(/mamba_n_groups 2 \(groups of heads with a gated norm taken per group\) is not supported/);
    expect(() => f({ mamba_rms_norm: true })).toThrow(/mamba_norm_before_gate undefined \(the gated output normalised before its gate\) is not supported/);
    expect(() => f({ projectors_bias: true })).toThrow(/projectors_bias true .* is not supported/);
    expect(() => f({ mlp_multipliers: [0, 1] })).toThrow(/mlp_multipliers is \[0,1\]; expected \[gate, down\]/);
    expect(() => f({ ssm_multipliers: [1, 2] })).toThrow(/ssm_multipliers is \[1,2\]; expected 5 numbers/);
    expect(() => f({ mamba_d_ssm: 100, mamba_d_head: 16 })).toThrow(/mamba_d_ssm is 100; expected 6 heads x 16 = 96/);
  });

  it('config.json as Python writes it: bare Infinity, -Infinity and NaN read as those numbers, never inside strings; anything else still BAD_FILE', async () => {
    const text = '{"time_step_limit": [0.0, Infinity], "low": -Infinity, "x": NaN, "name": "Infinity and NaN \\" Infinity", "nested": {"a": [NaN]}}';
    expect(parseJson(text, 'c.json')).toEqual({ time_step_limit: [0, Infinity], low: -Infinity, x: NaN, name: 'Infinity and NaN " Infinity', nested: { a: [NaN] } });
    expect(parseJson('{"a": 1}', 'c.json')).toEqual({ a: 1 });
    await expectEmberError(() => parseJson('{"a": Infinityy}', 'c.json'), 'BAD_FILE', /c\.json: not valid JSON/);
    await expectEmberError(() => parseJson('{"a": inf}', 'c.json'), 'BAD_FILE', /c\.json: not valid JSON/);
    // and time_step_limit's infinity in each spelling the configs in the wild have
    const h = (limit: unknown) => configFromHF({
      ...base(), model_type: 'granitemoehybrid', hidden_size: 64, layer_types: ['mamba', 'attention', 'mamba', 'mamba'], num_local_experts: 0,
      mamba_n_heads: 8, mamba_d_head: 16, mamba_d_state: 32, time_step_limit: limit,
    }, '/m/config.json').config.ssm;
    for (const inf of [Infinity, 'Infinity', 'inf', { __float__: 'Infinity' }]) expect(h([0, inf])).toMatchObject({ dtMin: 0, dtMax: Infinity });
  });

  it('ministral3: YaRN with mscale = mscale_all_dim (attention factor 1) and Llama 4\'s temperature over the original context', () => {
    const rope_parameters = { rope_type: 'yarn', rope_theta: 1e6, factor: 16, original_max_position_embeddings: 16384, beta_fast: 32, beta_slow: 1, mscale: 1, mscale_all_dim: 1, llama_4_scaling_beta: 0.1 };
    const m3 = (patch: Record<string, unknown> = {}) => configFromHF({ ...base(), model_type: 'ministral3', rope_theta: undefined, rope_scaling: undefined, rope_parameters, max_position_embeddings: 262144, ...patch }, '/m/config.json').config;
    const c = m3();
    expect(c).toMatchObject({ arch: 'mistral3', ropeBase: 1e6, ropeNeox: true, attnTemperature: { beta: 0.1, floor: 16384 }, ropeScaling: { type: 'yarn', factor: 16, originalContext: 16384, betaFast: 32, betaSlow: 1 } });
    expect(c.ropeScaling.attnFactor).toBe(1);
    expect(m3({ rope_parameters: { ...rope_parameters, llama_4_scaling_beta: 0 } }).attnTemperature).toBeNull();
    expect(() => m3({ rope_parameters: { ...rope_parameters, llama_4_scaling_beta: 'x' } })).toThrow(/rope_parameters\.llama_4_scaling_beta is "x"; expected a finite number/);
    expect(() => m3({ rope_parameters: { ...rope_parameters, rope_type: 'linear', factor: 2, original_max_position_embeddings: undefined } })).toThrow(/original_max_position_embeddings is undefined; llama_4_scaling_beta needs a positive integer/);
  });

  it('lfm2: conv layers from layer_types or full_attn_idxs, the MLP width Lfm2MLP derives, its own eps, tie and theta names', () => {
    const lfm2 = (patch: Record<string, unknown> = {}) => configFromHF({
      ...base(), model_type: 'lfm2', rms_norm_eps: undefined, rope_theta: undefined, rope_scaling: undefined, tie_word_embeddings: undefined,
      full_attn_idxs: [1], intermediate_size: 6656, ...patch,
    }).config;
    // LFM2-350M's MLP: int(2 * 6656 / 3) = 4437, rounded up to 256: 4608 (llama.cpp's feed_forward_length for it)
    expect(lfm2()).toMatchObject({ arch: 'lfm2', layerConv: [true, false, true, true], convKernel: 3, nFf: 4608, eps: 1e-5, ropeBase: 1e6, tiedEmbeddings: true, qkNorm: true, qkNormAllHeads: false, layerWindow: [0, 0, 0, 0] });
    expect(lfm2({ block_ff_dim: 768, block_multiple_of: 64, block_ffn_dim_multiplier: 1.5 })).toMatchObject({ nFf: 768 }); // 512 x 1.5
    expect(lfm2({ block_auto_adjust_ff_dim: false })).toMatchObject({ nFf: 6656 });
    expect(lfm2({ layer_types: ['full_attention', 'conv', 'conv', 'full_attention'], conv_L_cache: 4, norm_eps: 1e-6, tie_embedding: false, tie_word_embeddings: true }))
      .toMatchObject({ layerConv: [false, true, true, false], convKernel: 4, eps: 1e-6, tiedEmbeddings: false });
    expect(() => lfm2({ conv_bias: true })).toThrow(/conv_bias true .* is not supported/);
    expect(() => lfm2({ layer_types: ['conv', 'sliding_attention', 'conv', 'conv'] })).toThrow(/layer_types is .*; expected 4 entries of "conv" or "full_attention"/);
    expect(() => lfm2({ full_attn_idxs: [7] })).toThrow(/full_attn_idxs is \[7\]; expected the indices of the attention layers/);
    expect(() => lfm2({ conv_L_cache: 9 })).toThrow(/conv_L_cache is 9; expected an integer from 1 to 8/);
  });

  it('smollm3: NoPE layers from no_rope_layers or every no_rope_layer_interval-th, tied by default, windows only on NoPE layers', () => {
    const smol = { ...base(), model_type: 'smollm3', tie_word_embeddings: undefined };
    const c = configFromHF(smol).config;
    expect(c).toMatchObject({ arch: 'smollm3', layerRope: [true, true, true, false], tiedEmbeddings: true, ropeNeox: true, layerWindow: [0, 0, 0, 0] });
    expect(configFromHF({ ...smol, no_rope_layer_interval: 2 }).config.layerRope).toEqual([true, false, true, false]);
    expect(configFromHF({ ...smol, no_rope_layers: [0, 1, 1, 0] }).config.layerRope).toEqual([false, true, true, false]);
    expect(configFromHF({ ...smol, use_sliding_window: true, sliding_window: 16 }).config.layerWindow).toEqual([0, 0, 0, 16]);
    expect(configFromHF({ ...smol, sliding_window: 16 }).config.layerWindow).toEqual([0, 0, 0, 0]); // use_sliding_window false
    expect(configFromHF({ ...base(), model_type: 'llama' }).config.layerRope).toEqual([true, true, true, true]);
  });

  it('ernie4_5: RoPE on adjacent pairs as its weights are stored, tied by default; use_bias refused', async () => {
    const c = configFromHF({ ...base(), model_type: 'ernie4_5', tie_word_embeddings: undefined, use_bias: false }).config;
    expect(c).toMatchObject({ arch: 'ernie4_5', ropeNeox: false, tiedEmbeddings: true, layerRope: [true, true, true, true] });
    expect(configFromHF({ ...base(), model_type: undefined, architectures: ['Ernie4_5ForCausalLM'] }).extra.modelType).toBe('ernie4_5');
    await expectEmberError(() => configFromHF({ ...base(), model_type: 'ernie4_5', use_bias: true }, '/m/config.json'), 'UNSUPPORTED', /use_bias true/);
  });

  it('names the field of a bad config', async () => {
    const bad = (patch: Record<string, unknown>) => () => configFromHF({ ...base(), ...patch }, '/m/config.json');
    await expectEmberError(bad({ model_type: 'smollm3', no_rope_layers: [1, 1, 0] }), 'BAD_MODEL', /field no_rope_layers is \[1,1,0\]; expected 4 entries of 1 \(RoPE\) or 0/);
    await expectEmberError(bad({ model_type: 'smollm3', no_rope_layers: [1, 2, 1, 0] }), 'BAD_MODEL', /field no_rope_layers/);
    await expectEmberError(bad({ model_type: 'smollm3', no_rope_layer_interval: 0 }), 'BAD_MODEL', /field no_rope_layer_interval is 0/);
    await expectEmberError(bad({ model_type: 'mistral', sliding_window: 8, layer_types: ['full_attention'] }), 'BAD_MODEL', /field layer_types is \["full_attention"\]; expected 4 entries/);
    await expectEmberError(bad({ model_type: 'phi3', rope_scaling: { type: 'longrope', short_factor: [1], long_factor: [1] } }), 'BAD_MODEL', /field rope_scaling\.short_factor .* expected 8 positive numbers/);
    await expectEmberError(bad({ model_type: 'gemma2', hidden_activation: 'relu' }), 'UNSUPPORTED', /hidden_activation "relu"/);
    await expectEmberError(bad({ partial_rotary_factor: 0.1 }), 'BAD_MODEL', /field partial_rotary_factor is 0.1/);
  });
});

describe('tensor names', () => {
  it.each(['llama', 'mistral', 'qwen2', 'qwen3'] as const)('%s: every HF tensor maps to a GGUF name and back, and the expected set is exactly the file', (modelType) => {
    const gen = randomHFModel({ modelType, dtype: 'F8_E4M3' });
    const { config, extra } = configFromHF(gen.config);
    const names = gen.entries.map((e) => e.name).filter((h) => !h.endsWith('.weight_scale_inv'));
    for (const h of names) {
      const g = ggufTensorName(h);
      expect(g, h).not.toBeNull();
      expect(hfTensorName(g!)).toBe(h);
    }
    const expected = expectedTensors(config, extra);
    expect(expected.map((e) => hfTensorName(e.name)).sort()).toEqual([...names].sort());
    for (const e of expected) expect(e.shape, e.name).toEqual(byName(gen, hfTensorName(e.name)!).shape);
    expect(hfTensorName('blk.3.attn_q_norm.weight')).toBe('model.layers.3.self_attn.q_norm.weight');
    expect(hfTensorName('blk.0.ffn_norm.weight')).toBe('model.layers.0.post_attention_layernorm.weight');
    expect(hfTensorName('rope_freqs.weight')).toBeNull();
    expect(ggufTensorName('model.layers.0.self_attn.rotary_emb.inv_freq')).toBeNull();
  });
});

describe('weights', () => {
  it.each(['F32', 'F16', 'BF16'] as const)('%s: every tensor equals the generator\'s, rounded to the dtype', async (dtype) => {
    const { dir, gen } = await write({ modelType: 'qwen2', dtype });
    await withModel(dir, async (m) => {
      const all = await readAll(m, gen);
      expect(all.size).toBe(gen.tensors.length);
      for (const [g, got] of all) expect(sameBits(got, round(byName(gen, hfTensorName(g)!).data, dtype)), g).toBe(true);
    });
  });

  it('keeps F16 as packed f16 for quant auto, BF16 as f32, and converts for other schemes', async () => {
    const { dir: d16, gen } = await write({ dtype: 'F16' });
    await withModel(d16, async (m) => {
      const w = await m.weights.matrix('blk.1.ffn_down.weight', 64, 96, 'auto');
      expect([w.format, w.rows, w.cols]).toEqual(['f16', 64, 96]);
      const bits = new Uint16Array((w.data as Uint32Array).buffer);
      const src = byName(gen, 'model.layers.1.mlp.down_proj.weight').data;
      expect(Array.from(bits)).toEqual(Array.from(src, (v) => f32ToF16Bits(v)));
      const q8 = await m.weights.matrix('blk.1.ffn_down.weight', 64, 96, 'int8-g32');
      expect([q8.format, q8.scales?.length]).toEqual(['q8', (64 * 96) / 32]);
    });
    const { dir: dbf, gen: gbf } = await write({ dtype: 'BF16' });
    await withModel(dbf, async (m) => {
      // BF16 stays bf16 for 'auto', bit for bit (the GPU widens it exactly); other schemes convert it.
      const b = await m.weights.matrix('token_embd.weight', 300, 64, 'auto');
      expect([b.format, b.rows, b.cols]).toEqual(['bf16', 300, 64]);
      const src = byName(gbf, 'model.embed_tokens.weight').data;
      expect(Array.from(new Uint16Array((b.data as Uint32Array).buffer, (b.data as Uint32Array).byteOffset, 300 * 64))).toEqual(Array.from(src, (v) => f32ToBF16Bits(v)));
      expect((await m.weights.matrix('token_embd.weight', 300, 64, 'f16')).format).toBe('f16');
      expect((await m.weights.matrix('token_embd.weight', 300, 64, 'f32')).format).toBe('f32');
    });
  });

  it('checks the shape a caller asks for', async () => {
    const { dir } = await write({});
    await withModel(dir, async (m) => {
      await expectEmberError(() => m.weights.matrix('blk.0.attn_k.weight', 64, 32, 'auto'), 'BAD_MODEL', /model\.safetensors: tensor model\.layers\.0\.self_attn\.k_proj\.weight has shape \[32, 64\], expected \[64, 32\]/);
      await expectEmberError(() => m.weights.vector('output_norm.weight', 65), 'BAD_MODEL', /model\.norm\.weight has shape \[64\], expected \[65\]/);
      await expectEmberError(() => m.weights.vector('rope_freqs.weight', 8), 'BAD_MODEL', /rope_freqs\.weight.*is missing/);
    });
  });

  it('ties embeddings: no output.weight even when the file has lm_head', async () => {
    const { dir } = await write({ tied: true });
    await withModel(dir, async (m) => {
      expect(m.config.tiedEmbeddings).toBe(true);
      expect(m.weights.has('output.weight')).toBe(false);
      await expectEmberError(() => m.weights.matrix('output.weight', 300, 64, 'auto'), 'BAD_MODEL', /lm_head\.weight \(output\.weight\) is missing \(the model ties its embeddings\)/);
    });
  });

  it('loads a sharded model (2 shards + index) to the same values as the single file', async () => {
    const opts = { modelType: 'qwen3', dtype: 'BF16', seed: 5 } as const;
    const { dir: one, gen } = await write(opts);
    const { dir: two } = await write({ ...opts, sharded: true });
    const index = JSON.parse(await readFile(join(two, 'model.safetensors.index.json'), 'utf8'));
    expect(new Set(Object.values(index.weight_map)).size).toBe(2);
    await expect(stat(join(two, 'model.safetensors'))).rejects.toThrow();
    const a = await withModel(one, (m) => readAll(m, gen));
    const b = await withModel(two, (m) => readAll(m, gen));
    expectSameTensors(a, b);
  });
});

describe('native FP8 checkpoints (E4M3 with 128x128 weight_scale_inv)', () => {
  // Dimensions that are not multiples of 128, so blocks at the edges are partial: D = 160, F = 288,
  // vocab 300, q = 4 heads x 80.
  const opts = { modelType: 'qwen3', dtype: 'F8_E4M3', nEmbd: 160, nFf: 288, nHead: 4, nHeadKv: 2, seed: 9 } as const;
  let dir: string;
  let gen: GeneratedHFModel;
  beforeAll(async () => {
    ({ dir, gen } = await write(opts));
  });

  it('reads the config and keeps the other tensors in BF16', async () => {
    await withModel(dir, async (m) => {
      expect(m.extra.fp8BlockSize).toEqual([128, 128]);
      const f = await readSafetensors(sourceFromBuffer(await readFile(join(dir, 'model.safetensors')), 'model.safetensors'));
      expect(f.tensors.get('model.layers.0.mlp.down_proj.weight')?.dtype).toBe('F8_E4M3');
      expect(f.tensors.get('model.layers.0.mlp.down_proj.weight_scale_inv')?.shape).toEqual([2, 3]);
      expect(f.tensors.get('model.embed_tokens.weight')?.dtype).toBe('BF16');
    });
  });

  it('returns FP8 codes and block scales unwidened for quant auto', async () => {
    await withModel(dir, async (m) => {
      const w = (await m.weights.matrix('blk.1.ffn_down.weight', 160, 288, 'auto')) as Fp8WeightData;
      expect([w.format, w.rows, w.cols, w.scaleLayout]).toEqual(['fp8e4m3', 160, 288, { blockRows: 128, blockCols: 128 }]);
      expect(w.data).toBeInstanceOf(Uint32Array);
      expect(w.data.length).toBe((160 * 288) / 4);
      const want = quantizeFp8Blocks(byName(gen, 'model.layers.1.mlp.down_proj.weight').data, 160, 288, FP8_BLOCK, FP8_BLOCK);
      expect(new Uint8Array(w.data.buffer)).toEqual(want.codes);
      expect(w.scales).toEqual(want.scales);
      // element 4i of a row is the low byte of word i
      expect(w.data[1] & 0xff).toBe(want.codes[4]);
      expect(w.data[288 / 4] >>> 24).toBe(want.codes[288 + 3]);
      const embd = await m.weights.matrix('token_embd.weight', 300, 160, 'auto');
      expect(embd.format).toBe('bf16'); // BF16, as in the file
    });
  });

  it('dequantizes exactly (code * block scale) when widening, within FP8 rounding of the generator\'s f32', async () => {
    await withModel(dir, async (m) => {
      for (const [g, rows, cols] of [['blk.0.attn_q.weight', 320, 160], ['blk.0.attn_output.weight', 160, 320], ['blk.1.ffn_gate.weight', 288, 160]] as const) {
        const src = byName(gen, hfTensorName(g)!).data;
        const { codes, scales } = quantizeFp8Blocks(src, rows, cols, 128, 128);
        const w = (await m.weights.matrix(g, rows, cols, 'f32')) as WeightData;
        expect(w.format).toBe('f32');
        const got = w.data as Float32Array;
        const sCols = Math.ceil(cols / 128);
        const inexact: number[] = [], outOfBound: number[] = [];
        for (let r = 0; r < rows; r++) {
          for (let c = 0; c < cols; c++) {
            const i = r * cols + c;
            const s = scales[Math.floor(r / 128) * sCols + Math.floor(c / 128)];
            if (got[i] !== Math.fround(fp8e4m3ToF32(codes[i]) * s)) inexact.push(i);
            if (!(Math.abs(got[i] - src[i]) <= Math.abs(src[i]) / 16 + s * 2 ** -10)) outOfBound.push(i); // half an E4M3 step
          }
        }
        expect([inexact.slice(0, 5), outOfBound.slice(0, 5)], g).toEqual([[], []]);
        expect(sameBits(got, dequantizeFp8Blocks(codes, scales, rows, cols, 128, 128))).toBe(true);
      }
    });
  });

  it('loads sharded FP8 to the same values', async () => {
    const { dir: two } = await write({ ...opts, sharded: true });
    const a = await withModel(dir, (m) => readAll(m, gen));
    const b = await withModel(two, (m) => readAll(m, gen));
    expectSameTensors(a, b);
  });

  it('reports missing or mis-shaped block scales', async () => {
    const drop = gen.entries.filter((e) => e.name !== 'model.layers.1.self_attn.v_proj.weight_scale_inv');
    const d1 = await writeEntries(dir, drop);
    await expectEmberError(() => loadHFModel(d1), 'BAD_MODEL', /model\.safetensors: tensor model\.layers\.1\.self_attn\.v_proj\.weight is F8_E4M3 but its block scales model\.layers\.1\.self_attn\.v_proj\.weight_scale_inv are missing/);
    const reshaped = gen.entries.map((e) => (e.name === 'model.layers.0.mlp.up_proj.weight_scale_inv' ? { ...e, shape: [2, 3], bytes: new Uint8Array(24) } : e));
    const d2 = await writeEntries(dir, reshaped);
    await expectEmberError(() => loadHFModel(d2), 'BAD_MODEL', /up_proj\.weight_scale_inv has shape \[2, 3\], expected \[3, 2\]/);
  });
});

/** A copy of `from` whose model.safetensors holds `entries`. */
async function writeEntries(from: string, entries: readonly SafeTensorToWrite[]): Promise<string> {
  const dir = join(root, `m${n++}`);
  const { mkdir, copyFile } = await import('node:fs/promises');
  await mkdir(dir);
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) await copyFile(join(from, f), join(dir, f));
  await writeFile(join(dir, 'model.safetensors'), encodeSafetensors(entries));
  return dir;
}

describe('tokenizer and generation_config', () => {
  it('encodes like the GGUF random model with the same vocabulary, and stops at the eos ids', async () => {
    const { dir } = await write({ modelType: 'llama' });
    const gguf = tokenizerFromGGUF(await readGGUF(sourceFromBuffer(generateModel({ vocab: 300 }))));
    await withModel(dir, async (m) => {
      for (const t of ['Once upon a time', 'The cat sat. She played!', 'Émile, "hi"']) expect(m.tokenizer.encode(t), t).toEqual(gguf.encode(t));
      expect(m.tokenizer.decode(m.tokenizer.encode('the dog and the cat'))).toBe('the dog and the cat');
      expect([m.tokenizer.bosId, m.tokenizer.eosId, m.tokenizer.addBos]).toEqual([1, 2, true]);
      expect(m.eosTokenIds).toEqual([2]);
      expect(m.tokenizer.isEndOfGeneration(2)).toBe(true);
    });
    const gen = JSON.parse(await readFile(join(dir, 'generation_config.json'), 'utf8'));
    await writeFile(join(dir, 'generation_config.json'), JSON.stringify({ ...gen, eos_token_id: [2, 7] }));
    await withModel(dir, async (m) => {
      expect(m.eosTokenIds).toEqual([2, 7]);
      expect(m.tokenizer.isEndOfGeneration(7)).toBe(true);
      expect(m.tokenizer.isEndOfGeneration(8)).toBe(false);
    });
    await writeFile(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: 9999 }));
    await expectEmberError(() => loadHFModel(dir), 'BAD_MODEL', /generation_config\.json: field eos_token_id is 9999/);
  });
});

describe('safetensors reader', () => {
  /** A source that records every read, to show the file is read by range. */
  function counting(bytes: Uint8Array) {
    const inner = sourceFromBuffer(bytes, 'counted.safetensors');
    const reads: number[] = [];
    const src: ByteSource = { name: inner.name, size: inner.size, read: (o, l) => { reads.push(l); return inner.read(o, l); } };
    return { src, reads };
  }

  it('reads the header with small reads and each tensor with one read of its own bytes', async () => {
    const gen = randomHFModel({ dtype: 'F16' });
    const bytes = encodeSafetensors(gen.entries);
    const { src, reads } = counting(bytes);
    const f = await readSafetensors(src);
    expect(f.metadata).toEqual({ format: 'pt' });
    expect(f.tensors.size).toBe(gen.entries.length);
    const t = f.tensors.get('model.layers.1.mlp.up_proj.weight')!;
    const data = tensorToF32(t, await readTensorBytes(t));
    expect(data).toEqual(round(byName(gen, t.name).data, 'F16'));
    expect(reads.length).toBe(3);
    expect(reads[2]).toBe(96 * 64 * 2);
    expect(Math.max(...reads)).toBeLessThan(bytes.length / 4);
  });

  it('reads unaligned F32 data', async () => {
    const x = Float32Array.of(1.5, -2, 3e-8);
    const bytes = encodeSafetensors([{ name: 'pad', dtype: 'U8', shape: [3], bytes: Uint8Array.of(1, 2, 3) }, { name: 'x', dtype: 'F32', shape: [3], bytes: new Uint8Array(x.buffer) }]);
    const f = await readSafetensors(sourceFromBuffer(bytes, 'u.safetensors'));
    const t = f.tensors.get('x')!;
    expect(t.offset % 4).not.toBe(0);
    expect(tensorToF32(t, await readTensorBytes(t))).toEqual(x);
    await expectEmberError(async () => { const p = f.tensors.get('pad')!; tensorToF32(p, await readTensorBytes(p)); }, 'UNSUPPORTED', /u\.safetensors: tensor pad has dtype U8/);
  });

  it('rejects inconsistent headers, naming the file and tensor', async () => {
    const header = (h: object, data = 0) => {
      const j = new TextEncoder().encode(JSON.stringify(h));
      const out = new Uint8Array(8 + j.length + data);
      new DataView(out.buffer).setBigUint64(0, BigInt(j.length), true);
      out.set(j, 8);
      return sourceFromBuffer(out, 'h.safetensors');
    };
    await expectEmberError(() => readSafetensors(header({ a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 20] } }, 24)), 'BAD_FILE', /h\.safetensors: tensor a: data_offsets \[0, 20\] hold 20 bytes, but F32 \[2, 3\] needs 24/);
    await expectEmberError(() => readSafetensors(header({ a: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, 12)), 'BAD_FILE', /h\.safetensors: tensor a: data_offsets \[8, 16\] run past the end of the data \(12 bytes/);
    await expectEmberError(() => readSafetensors(header({ a: { dtype: 'Q9', shape: [1], data_offsets: [0, 1] } }, 1)), 'UNSUPPORTED', /h\.safetensors: tensor a has dtype Q9/);
    await expectEmberError(() => readSafetensors(header({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 0] } })), 'BAD_FILE', /tensor a: shape \[-1\]/);
    await expectEmberError(() => readSafetensors(sourceFromBuffer(Uint8Array.of(4, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7b, 0x7b, 0x7b), 'j.safetensors')), 'BAD_FILE', /j\.safetensors: the header is not valid UTF-8 JSON/);
    await expectEmberError(() => readSafetensors(sourceFromBuffer(new Uint8Array(5), 's.safetensors')), 'BAD_FILE', /s\.safetensors: 5 bytes is too short/);
  });
});

describe('bad model folders', () => {
  let dir: string;
  let gen: GeneratedHFModel;
  beforeAll(async () => {
    ({ dir, gen } = await write({ modelType: 'llama', seed: 3 }));
  });
  const copy = async (mutate: (d: string) => Promise<void>) => {
    const d = join(root, `m${n++}`);
    const { cp } = await import('node:fs/promises');
    await cp(dir, d, { recursive: true });
    await mutate(d);
    return d;
  };
  const st = (d: string) => join(d, 'model.safetensors');

  it('truncated safetensors', async () => {
    const d = await copy(async (x) => {
      const b = await readFile(st(x));
      await writeFile(st(x), b.subarray(0, b.length - 10));
    });
    await expectEmberError(() => loadHFModel(d), 'BAD_FILE', /model\.safetensors: tensor lm_head\.weight: data_offsets .* run past the end of the data .* truncated/);
  });

  it('header length past the end of the file', async () => {
    const d = await copy(async (x) => {
      const b = await readFile(st(x));
      new DataView(b.buffer, b.byteOffset).setBigUint64(0, BigInt(b.length), true);
      await writeFile(st(x), b);
    });
    await expectEmberError(() => loadHFModel(d), 'BAD_FILE', /model\.safetensors: header length \d+ runs past the end of the file/);
  });

  it('a tensor in a dtype emberlm does not read (I64)', async () => {
    const entries = gen.entries.map((e) => (e.name === 'model.layers.0.mlp.up_proj.weight' ? { ...e, dtype: 'I64', bytes: new Uint8Array(e.bytes.length * 2) } : e));
    const d = await writeEntries(dir, entries);
    await expectEmberError(() => loadHFModel(d), 'UNSUPPORTED', /model\.safetensors: tensor model\.layers\.0\.mlp\.up_proj\.weight has dtype I64/);
  });

  it('a missing tensor', async () => {
    const d = await writeEntries(dir, gen.entries.filter((e) => e.name !== 'model.layers.1.self_attn.k_proj.weight'));
    await expectEmberError(() => loadHFModel(d), 'BAD_MODEL', /tensor model\.layers\.1\.self_attn\.k_proj\.weight \(blk\.1\.attn_k\.weight\) is missing/);
  });

  it('a mis-shaped tensor', async () => {
    const entries = gen.entries.map((e) => (e.name === 'model.layers.1.mlp.gate_proj.weight' ? { ...e, shape: [64, 96] } : e));
    const d = await writeEntries(dir, entries);
    await expectEmberError(() => loadHFModel(d), 'BAD_MODEL', /model\.safetensors: tensor model\.layers\.1\.mlp\.gate_proj\.weight has shape \[64, 96\], expected \[96, 64\]/);
  });

  it('a tokenizer larger than the embedding', async () => {
    const d = await copy(async (x) => writeFile(join(x, 'config.json'), JSON.stringify({ ...gen.config, vocab_size: 290 })));
    await expectEmberError(() => loadHFModel(d), 'BAD_MODEL', /tokenizer\.json: 300 tokens, but config\.json field vocab_size is 290/);
  });

  it('a vocab_size that does not match the embedding', async () => {
    const d = await copy(async (x) => writeFile(join(x, 'config.json'), JSON.stringify({ ...gen.config, vocab_size: 320 })));
    await expectEmberError(() => loadHFModel(d), 'BAD_MODEL', /model\.embed_tokens\.weight has shape \[300, 64\], expected \[320, 64\]/);
  });

  it('an unknown model_type and a missing config field', async () => {
    const d1 = await copy(async (x) => writeFile(join(x, 'config.json'), JSON.stringify({ ...gen.config, model_type: 'bloom' })));
    await expectEmberError(() => loadHFModel(d1), 'UNSUPPORTED', new RegExp(`${d1}/config\\.json: model_type "bloom" is not supported`));
    const { intermediate_size: _, ...rest } = gen.config;
    const d2 = await copy(async (x) => writeFile(join(x, 'config.json'), JSON.stringify(rest)));
    await expectEmberError(() => loadHFModel(d2), 'BAD_MODEL', new RegExp(`${d2}/config\\.json: field intermediate_size is missing`));
  });

  it('missing files and bad JSON', async () => {
    const d1 = await copy(async (x) => rm(st(x)));
    await expectEmberError(() => loadHFModel(d1), 'BAD_FILE', /model\.safetensors: cannot open, and there is no model\.safetensors\.index\.json either/);
    const d2 = await copy(async (x) => rm(join(x, 'config.json')));
    await expectEmberError(() => loadHFModel(d2), 'BAD_FILE', /config\.json: file is missing/);
    const noTokenizer = await copy(async (x) => rm(join(x, 'tokenizer.json')));
    await expectEmberError(() => loadHFModel(noTokenizer), 'BAD_FILE', /tokenizer\.json: file is missing \(a folder with only a SentencePiece tokenizer\.model needs one: .*or load the model's GGUF/);
    const d3 = await copy(async (x) => writeFile(join(x, 'tokenizer.json'), '{"model": '));
    await expectEmberError(() => loadHFModel(d3), 'BAD_FILE', /tokenizer\.json: not valid JSON/);
    await expectEmberError(() => loadHFModel(dir, 'int4' as 'auto'), 'BAD_ARGUMENT', /quant "int4"/);
    const d4 = await copy(async (x) => writeFile(join(x, 'tokenizer.json'), JSON.stringify({ model: { type: 'BPE', vocab: {}, merges: [] } })));
    await expectEmberError(() => loadHFModel(d4), 'BAD_MODEL', /tokenizer\.json: the tokenizer library rejected it/);
    const d5 = await copy(async (x) => writeFile(join(x, 'tokenizer.json'), JSON.stringify({ model: { type: 'WordLevel' } })));
    await expectEmberError(() => loadHFModel(d5), 'UNSUPPORTED', /tokenizer\.json: tokenizer\.json model type "WordLevel"/);
  });

  it('a shard index that puts a tensor in the wrong shard', async () => {
    const { dir: s } = await write({ modelType: 'llama', seed: 3, sharded: true });
    const p = join(s, 'model.safetensors.index.json');
    const index = JSON.parse(await readFile(p, 'utf8'));
    index.weight_map['model.norm.weight'] = 'model-00001-of-00002.safetensors';
    const other = Object.entries(index.weight_map).find(([, f]) => f === 'model-00002-of-00002.safetensors')![0];
    index.weight_map[other] = 'model-00001-of-00002.safetensors';
    await writeFile(p, JSON.stringify(index));
    await expectEmberError(() => loadHFModel(s), 'BAD_MODEL', /model\.safetensors\.index\.json: weight_map puts tensor .* in model-00001-of-00002\.safetensors, but .* has no such tensor/);
    await writeFile(p, JSON.stringify({ weight_map: { 'model.norm.weight': '../x.safetensors' } }));
    await expectEmberError(() => loadHFModel(s), 'BAD_MODEL', /weight_map\["model\.norm\.weight"\] is "\.\.\/x\.safetensors"/);
  });
});

describe('loading from a URL (HTTP Range requests)', () => {
  let server: Server;
  let base: string;
  const requests: { method: string; url: string; range?: string }[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      void (async () => {
        requests.push({ method: req.method!, url: req.url!, range: req.headers.range });
        // Under /spa/ a missing file is answered with an HTML page and 200, as Vite's dev server and single-page-app
        // hosts answer (their index.html), not with a 404.
        const path = decodeURIComponent(new URL(req.url!, 'http://x').pathname);
        const spa = path.startsWith('/spa/');
        const file = join(root, spa ? path.slice(4) : path);
        let body: Buffer;
        try {
          body = await readFile(file);
        } catch {
          if (spa) res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><html><body>app</body></html>');
          else res.writeHead(404).end();
          return;
        }
        const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
        if (m) {
          const [a, b] = [Number(m[1]), Math.min(Number(m[2]), body.length - 1)];
          res.writeHead(206, { 'Content-Length': b - a + 1, 'Content-Range': `bytes ${a}-${b}/${body.length}`, 'Accept-Ranges': 'bytes' });
          res.end(req.method === 'HEAD' ? undefined : body.subarray(a, b + 1));
        } else {
          res.writeHead(200, { 'Content-Length': body.length, 'Accept-Ranges': 'bytes' });
          res.end(req.method === 'HEAD' ? undefined : body);
        }
      })();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it.each([false, true])('sharded %s: same config and values as from the path, tensors read by range', async (sharded) => {
    const { dir, gen } = await write({ modelType: 'qwen2', dtype: 'F16', sharded });
    const folder = dir.slice(root.length + 1);
    requests.length = 0;
    const fromUrl = await withModel(`${base}${folder}`, async (m) => ({ config: m.config, all: await readAll(m, gen), ids: m.tokenizer.encode('Once upon a time') }));
    const fromPath = await withModel(dir, async (m) => ({ config: m.config, all: await readAll(m, gen), ids: m.tokenizer.encode('Once upon a time') }));
    expect([fromUrl.config, fromUrl.ids]).toEqual([fromPath.config, fromPath.ids]);
    expectSameTensors(fromPath.all, fromUrl.all);
    const gets = requests.filter((r) => r.method === 'GET' && r.url.endsWith('.safetensors'));
    expect(gets.length).toBeGreaterThan(gen.tensors.length);
    expect(gets.every((r) => r.range !== undefined)).toBe(true);
    expect(requests.some((r) => r.url.endsWith('/model.safetensors.index.json'))).toBe(true);
  });

  it('reports a missing file by its URL', async () => {
    await expectEmberError(() => loadHFModel(`${base}nowhere/`), 'BAD_FILE', new RegExp(`${base}nowhere/config\\.json: file is missing`));
  });

  it('a server that answers missing files with an HTML page (Vite, single-page-app hosts): optional files are absent, a required one says so', async () => {
    const { dir, gen } = await write({ modelType: 'llama', dtype: 'F16' }); // one model.safetensors, no index
    const folder = dir.slice(root.length + 1);
    const fromSpa = await withModel(`${base}spa/${folder}`, async (m) => ({ config: m.config, all: await readAll(m, gen) }));
    const fromPath = await withModel(dir, async (m) => ({ config: m.config, all: await readAll(m, gen) }));
    expect(fromSpa.config).toEqual(fromPath.config);
    expectSameTensors(fromPath.all, fromSpa.all);
    await expectEmberError(() => loadHFModel(`${base}spa/nowhere/`), 'BAD_FILE', /nowhere\/config\.json: the server answered with an HTML page/);
  });
});
