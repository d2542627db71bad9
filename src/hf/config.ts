import { EmberError } from '../errors.ts';
import type { ModelConfig } from '../model/config.ts';
import { validateConfig, type ConfigFieldNames } from '../model/validate.ts';
import { printableJson } from '../util/printable.ts';

/** Hugging Face `model_type`s emberlm runs, and the `architectures` class each one names. */
export const HF_MODEL_TYPES = { llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM' } as const;
export type HFModelType = keyof typeof HF_MODEL_TYPES;

/** What an HF model needs beyond `ModelConfig` (fields the forward pass does not read yet). */
export interface HFExtra {
  readonly modelType: HFModelType;
  /** Qwen3: RMSNorm over each head of q and k (weights of head_dim) before RoPE. */
  readonly qkNorm: boolean;
  /** Attention window in tokens when the model uses sliding-window attention (Mistral v0.1), else null. */
  readonly slidingWindow: number | null;
  /** FP8 checkpoints: rows x cols of the blocks that share one `weight_scale_inv` entry (null when not FP8). */
  readonly fp8BlockSize: readonly [number, number] | null;
}

/** transformers' defaults for `max_position_embeddings` where a config.json leaves it out. */
const DEFAULT_CONTEXT: Record<HFModelType, number> = { llama: 2048, mistral: 4096 * 32, qwen2: 32768, qwen3: 32768 };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * config.json -> ModelConfig. `file` names the file in errors. HF checkpoints keep q/k rows in the
 * order that HF's `rotate_half` expects (the GGUF converter permutes Llama's into adjacent pairs; HF
 * files are not permuted), so every family here rotates half-split: `ropeNeox` is always true.
 */
export function configFromHF(json: unknown, file = 'config.json', fallbackName = 'model'): { config: ModelConfig; extra: HFExtra } {
  if (!isObject(json)) throw new EmberError('BAD_MODEL', `${file}: expected a JSON object`, { file });
  const cfg = json;
  const bad = (field: string, msg: string) => new EmberError('BAD_MODEL', `${file}: field ${field} ${msg}`, { file, field });

  const modelType = typeFrom(cfg, file);
  const has = (field: string) => cfg[field] !== undefined && cfg[field] !== null;
  const num = (field: string, fallback?: number): number => {
    if (!has(field)) {
      if (fallback === undefined) throw bad(field, 'is missing');
      return fallback;
    }
    const v = cfg[field];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(field, `is ${printableJson(v)}; expected a number`);
    return v;
  };
  const posInt = (field: string, fallback?: number): number => {
    const v = num(field, fallback);
    if (!Number.isInteger(v) || v <= 0) throw bad(field, `is ${v}; expected a positive integer`);
    return v;
  };
  const flag = (field: string, fallback: boolean): boolean => {
    if (!has(field)) return fallback;
    if (typeof cfg[field] !== 'boolean') throw bad(field, `is ${printableJson(cfg[field])}; expected true or false`);
    return cfg[field] as boolean;
  };

  const act = cfg.hidden_act ?? 'silu';
  if (act !== 'silu') throw new EmberError('UNSUPPORTED', `${file}: hidden_act ${printableJson(act)} is not supported (emberlm runs SwiGLU: silu)`, { file, field: 'hidden_act' });

  const nEmbd = posInt('hidden_size');
  const nHead = posInt('num_attention_heads');
  const nKv = posInt('num_key_value_heads', nHead);
  if (!has('head_dim') && nEmbd % nHead !== 0) throw bad('hidden_size', `${nEmbd} is not a multiple of num_attention_heads ${nHead} (and head_dim is not given)`);
  const headDim = posInt('head_dim', nEmbd / nHead);
  const partial = num('partial_rotary_factor', 1);
  if (partial !== 1) throw new EmberError('UNSUPPORTED', `${file}: partial_rotary_factor ${partial} is not supported (only 1)`, { file, field: 'partial_rotary_factor' });

  // Biases: Qwen2 always has q/k/v biases; Llama's attention_bias adds them to o_proj too.
  if (flag('attention_bias', false)) throw new EmberError('UNSUPPORTED', `${file}: attention_bias true (a bias on o_proj as well as q/k/v) is not supported`, { file, field: 'attention_bias' });
  if (flag('mlp_bias', false)) throw new EmberError('UNSUPPORTED', `${file}: mlp_bias true is not supported`, { file, field: 'mlp_bias' });

  const { ropeBase, ropeScaling, ropeField } = rope(cfg, file, bad);

  let slidingWindow: number | null = null;
  const usesWindow = modelType === 'mistral' || ((modelType === 'qwen2' || modelType === 'qwen3') && flag('use_sliding_window', false));
  if (usesWindow && has('sliding_window')) slidingWindow = posInt('sliding_window');

  const config: ModelConfig = validateConfig(Object.freeze({
    arch: modelType,
    name: typeof cfg._name_or_path === 'string' && cfg._name_or_path ? cfg._name_or_path : fallbackName,
    nLayer: posInt('num_hidden_layers'),
    nEmbd,
    nFf: posInt('intermediate_size'),
    nHead,
    nKv,
    headDim,
    nRot: headDim,
    vocab: posInt('vocab_size'),
    contextTrain: posInt('max_position_embeddings', DEFAULT_CONTEXT[modelType]),
    eps: num('rms_norm_eps', 1e-6),
    ropeBase,
    ropeNeox: true,
    ropeScaling: Object.freeze(ropeScaling),
    qkvBias: modelType === 'qwen2',
    qkNorm: modelType === 'qwen3',
    tiedEmbeddings: flag('tie_word_embeddings', false),
  }), file, hfFieldNames(ropeField));
  return { config, extra: Object.freeze({ modelType, qkNorm: modelType === 'qwen3', slidingWindow, fp8BlockSize: fp8Blocks(cfg, file) }) };
}

function hfFieldNames(rope: string): ConfigFieldNames {
  return {
    nLayer: 'field num_hidden_layers', nEmbd: 'field hidden_size', nFf: 'field intermediate_size', nHead: 'field num_attention_heads', nKv: 'field num_key_value_heads',
    headDim: 'field head_dim', nRot: 'field head_dim', vocab: 'field vocab_size', contextTrain: 'field max_position_embeddings', eps: 'field rms_norm_eps',
    ropeBase: 'field rope_theta', ropeFactor: `field ${rope}.factor`, ropeLowFreqFactor: `field ${rope}.low_freq_factor`,
    ropeHighFreqFactor: `field ${rope}.high_freq_factor`, ropeOriginalContext: `field ${rope}.original_max_position_embeddings`,
  };
}

function typeFrom(cfg: Record<string, unknown>, file: string): HFModelType {
  const known = Object.keys(HF_MODEL_TYPES).join(', ');
  if (cfg.model_type !== undefined) {
    const t = cfg.model_type;
    if (typeof t === 'string' && t in HF_MODEL_TYPES) return t as HFModelType;
    throw new EmberError('UNSUPPORTED', `${file}: model_type ${printableJson(t)} is not supported (supported: ${known})`, { file, field: 'model_type', modelType: t });
  }
  const archs = cfg.architectures;
  if (Array.isArray(archs) && typeof archs[0] === 'string') {
    const hit = Object.entries(HF_MODEL_TYPES).find(([, cls]) => cls === archs[0]);
    if (hit) return hit[0] as HFModelType;
    throw new EmberError('UNSUPPORTED', `${file}: architecture ${printableJson(archs[0])} is not supported (supported: ${Object.values(HF_MODEL_TYPES).join(', ')})`, { file, field: 'architectures' });
  }
  throw new EmberError('BAD_MODEL', `${file}: field model_type is missing (and architectures names no class)`, { file, field: 'model_type' });
}

/** rope_theta and rope_scaling, in the transformers v4 layout or v5's `rope_parameters`. */
function rope(cfg: Record<string, unknown>, file: string, bad: (field: string, msg: string) => EmberError) {
  const field = isObject(cfg.rope_parameters) ? 'rope_parameters' : 'rope_scaling';
  const rp = cfg[field];
  if (rp !== undefined && rp !== null && !isObject(rp)) throw bad(field, `is ${printableJson(rp)}; expected an object or null`);
  const p = rp ?? {};
  const theta = cfg.rope_theta ?? p.rope_theta ?? 10000;
  if (typeof theta !== 'number') throw bad('rope_theta', `is ${printableJson(theta)}; expected a positive number`);
  const type = p.rope_type ?? p.type ?? 'default';
  const pnum = (key: string): number => {
    const v = p[key];
    if (typeof v !== 'number') throw bad(`${field}.${key}`, v === undefined ? 'is missing' : `is ${printableJson(v)}; expected a positive number`);
    return v;
  };
  let ropeScaling: ModelConfig['ropeScaling'];
  if (type === 'default') ropeScaling = { type: 'none', factor: 1 };
  else if (type === 'linear') ropeScaling = { type: 'linear', factor: pnum('factor') };
  else if (type === 'llama3') {
    ropeScaling = {
      type: 'llama3',
      factor: pnum('factor'),
      lowFreqFactor: pnum('low_freq_factor'),
      highFreqFactor: pnum('high_freq_factor'),
      originalContext: pnum('original_max_position_embeddings'),
    };
  } else {
    throw new EmberError('UNSUPPORTED', `${file}: ${field}.rope_type ${printableJson(type)} is not supported (default, linear, llama3)`, { file, field: `${field}.rope_type` });
  }
  return { ropeBase: theta, ropeScaling, ropeField: field };
}

/** quantization_config: none, or native FP8 with block scales (quant_method "fp8"). */
function fp8Blocks(cfg: Record<string, unknown>, file: string): readonly [number, number] | null {
  const q = cfg.quantization_config;
  if (q === undefined || q === null) return null;
  if (!isObject(q)) throw new EmberError('BAD_MODEL', `${file}: field quantization_config is not an object`, { file, field: 'quantization_config' });
  if (q.quant_method !== 'fp8') {
    throw new EmberError('UNSUPPORTED', `${file}: quantization_config.quant_method ${printableJson(q.quant_method)} is not supported (only native "fp8" checkpoints)`, { file, field: 'quantization_config.quant_method' });
  }
  if (q.fmt !== undefined && q.fmt !== 'e4m3') {
    throw new EmberError('UNSUPPORTED', `${file}: quantization_config.fmt ${printableJson(q.fmt)} is not supported (e4m3)`, { file, field: 'quantization_config.fmt' });
  }
  const b = q.weight_block_size ?? [128, 128];
  if (!Array.isArray(b) || b.length !== 2 || !b.every((v) => Number.isInteger(v) && v > 0)) {
    throw new EmberError('BAD_MODEL', `${file}: field quantization_config.weight_block_size is ${printableJson(b)}; expected two positive integers`, { file, field: 'quantization_config.weight_block_size' });
  }
  return [b[0] as number, b[1] as number];
}
