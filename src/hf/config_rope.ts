/**
 * A config.json's RoPE (src/hf/config.ts's configFromHF): rope_theta and its scaling in transformers v4's keys
 * (rope_scaling) or v5's (rope_parameters), Gemma 3's, OLMo 3's and ModernBERT's bases for their windowed layers,
 * LongRoPE's and YaRN's parameters, and Ministral 3's attention temperature.
 */
import { EmberError } from '../errors.ts';
import { yarnMscale, type ModelConfig, type RopeScalingConfig } from '../model/config.ts';
import { printableJson } from '../util/printable.ts';
import { isObject, type Bad, type HFModelType } from './config.ts';

/**
 * rope_theta and rope_scaling, in the transformers v4 layout or v5's `rope_parameters` (Gemma 3: one
 * entry per layer type; v4: rope_local_base_freq for the sliding layers, rope_scaling for the full ones).
 */
export function rope(cfg: Record<string, unknown>, file: string, bad: Bad, m: { modelType: HFModelType; nRot: number; contextTrain: number }) {
  const field = isObject(cfg.rope_parameters) ? 'rope_parameters' : 'rope_scaling';
  const rp = cfg[field];
  if (rp !== undefined && rp !== null && !isObject(rp)) throw bad(field, `is ${printableJson(rp)}; expected an object or null`);
  let p: Record<string, unknown> = rp ?? {};
  let where = field;
  let ropeBaseLocal: number | null = null;
  let thetaDefault = m.modelType === 'lfm2' || m.modelType === 'lfm2_moe' || m.modelType === 'ministral3' ? 1e6 : m.modelType === 'gte' ? 160000 : m.modelType === 'jina_embeddings_v3' ? 20000 : 10000;
  // Gemma 3, OLMo 3 and ModernBERT: the windowed layers rotate unscaled, at their own base (OLMo 3's: the full layers' by default)
  const gemma3 = m.modelType === 'gemma3_text', olmo3 = m.modelType === 'olmo3', modernbert = m.modelType === 'modernbert';
  if (gemma3 || olmo3 || modernbert) {
    thetaDefault = gemma3 ? 1e6 : modernbert ? 160000 : 500000;
    const local = isObject(p.sliding_attention) ? p.sliding_attention : null;
    if (isObject(p.full_attention) || local) {
      if (local && (local.rope_type ?? 'default') !== 'default') {
        throw new EmberError('UNSUPPORTED', `${file}: ${field}.sliding_attention.rope_type ${printableJson(local.rope_type)} is not supported (default)`, { file, field: `${field}.sliding_attention.rope_type` });
      }
      if (typeof local?.rope_theta === 'number') ropeBaseLocal = local.rope_theta;
      else if (gemma3 || modernbert) ropeBaseLocal = 10000;
      p = isObject(p.full_attention) ? p.full_attention : {};
      where = `${field}.full_attention`;
    } else if (gemma3) {
      ropeBaseLocal = typeof cfg.rope_local_base_freq === 'number' ? cfg.rope_local_base_freq : 10000;
    } else if (modernbert) {
      ropeBaseLocal = typeof cfg.local_rope_theta === 'number' ? cfg.local_rope_theta : 10000; // (transformers v4's keys)
    }
  }
  const theta = cfg.rope_theta ?? p.rope_theta ?? (modernbert ? cfg.global_rope_theta : undefined) ?? thetaDefault;
  if (typeof theta !== 'number' || !(theta > 0) || !Number.isFinite(theta)) throw bad('rope_theta', `is ${printableJson(theta)}; expected a finite number above 0`);
  if (olmo3) ropeBaseLocal ??= theta;
  if (ropeBaseLocal !== null && !(ropeBaseLocal > 0 && Number.isFinite(ropeBaseLocal))) {
    throw bad(gemma3 ? 'rope_local_base_freq' : modernbert && field !== 'rope_parameters' ? 'local_rope_theta' : `${field}.sliding_attention.rope_theta`, `is ${ropeBaseLocal}; expected a finite number above 0`);
  }
  let type = p.rope_type ?? p.type ?? 'default';
  if (m.modelType === 'phi3' && (type === 'su' || type === 'yarn')) type = 'longrope'; // as transformers' Phi3Config renames them
  const pnum = (key: string): number => {
    const v = p[key];
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) throw bad(`${where}.${key}`, v === undefined ? 'is missing' : `is ${printableJson(v)}; expected a finite number above 0`);
    return v;
  };
  let ropeScaling: RopeScalingConfig;
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
  } else if (type === 'longrope') {
    ropeScaling = longrope(cfg, p, where, bad, m.nRot, m.contextTrain, pnum);
  } else if (type === 'yarn') {
    ropeScaling = yarn(cfg, p, where, bad, m.contextTrain, pnum);
  } else {
    throw new EmberError('UNSUPPORTED', `${file}: ${where}.rope_type ${printableJson(type)} is not supported (default, linear, llama3, longrope, yarn)`, { file, field: `${where}.rope_type` });
  }
  return { ropeBase: theta, ropeScaling, ropeBaseLocal, ropeField: where };
}

/** LongRoPE (Phi-3): factors of n_rot/2, and the attention factor transformers derives when it is not given. */
function longrope(cfg: Record<string, unknown>, p: Record<string, unknown>, where: string, bad: Bad, nRot: number, contextTrain: number, pnum: (k: string) => number): RopeScalingConfig {
  const factors = (key: string): number[] => {
    const v = p[key];
    if (!Array.isArray(v) || v.length !== nRot / 2 || !v.every((x) => typeof x === 'number' && x > 0)) {
      throw bad(`${where}.${key}`, `is ${printableJson(v)?.slice(0, 80)}; expected ${nRot / 2} positive numbers (one per rotated pair)`);
    }
    return v as number[];
  };
  const origRaw = p.original_max_position_embeddings ?? cfg.original_max_position_embeddings ?? contextTrain;
  if (typeof origRaw !== 'number' || !(origRaw > 0)) throw bad('original_max_position_embeddings', `is ${printableJson(origRaw)}; expected a finite number above 0`);
  const factor = p.factor === undefined || p.factor === null ? contextTrain / origRaw : pnum('factor');
  const attnFactor = p.attention_factor === undefined || p.attention_factor === null
    ? factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(origRaw))
    : pnum('attention_factor');
  return { type: 'longrope', factor, originalContext: origRaw, shortFactor: Object.freeze(factors('short_factor')), longFactor: Object.freeze(factors('long_factor')), attnFactor };
}

/**
 * YaRN as transformers' _compute_yarn_parameters reads it: original_max_position_embeddings at the top level first,
 * factor (else max_position_embeddings over it), the attention factor given or derived from factor (and mscale /
 * mscale_all_dim, DeepSeek's), beta_fast and beta_slow (32 and 1 when absent or 0), truncate (true when absent).
 */
function yarn(cfg: Record<string, unknown>, p: Record<string, unknown>, where: string, bad: Bad, contextTrain: number, pnum: (k: string) => number): RopeScalingConfig {
  const top = cfg.original_max_position_embeddings !== undefined && cfg.original_max_position_embeddings !== null;
  const origRaw = top ? cfg.original_max_position_embeddings : p.original_max_position_embeddings ?? contextTrain;
  if (typeof origRaw !== 'number' || !(origRaw > 0) || !Number.isFinite(origRaw)) {
    throw bad(top ? 'original_max_position_embeddings' : `${where}.original_max_position_embeddings`, `is ${printableJson(origRaw)}; expected a finite number above 0`);
  }
  const given = (key: string) => p[key] !== undefined && p[key] !== null;
  const factor = given('factor') ? pnum('factor') : contextTrain / origRaw;
  const attnFactor = given('attention_factor') ? pnum('attention_factor')
    : p.mscale && p.mscale_all_dim ? yarnMscale(factor, pnum('mscale')) / yarnMscale(factor, pnum('mscale_all_dim'))
    : yarnMscale(factor);
  const beta = (key: string, fallback: number) => (given(key) && p[key] !== 0 ? pnum(key) : fallback);
  if (given('truncate') && typeof p.truncate !== 'boolean') throw bad(`${where}.truncate`, `is ${printableJson(p.truncate)}; expected true or false`);
  return { type: 'yarn', factor, originalContext: origRaw, attnFactor, betaFast: beta('beta_fast', 32), betaSlow: beta('beta_slow', 1), truncate: p.truncate !== false };
}

/**
 * Ministral 3's attention temperature (Llama 4's): rope_parameters.llama_4_scaling_beta over its
 * original_max_position_embeddings, as Ministral3Attention reads them; null where beta is 0 or absent.
 */
export function llama4Temperature(cfg: Record<string, unknown>, bad: Bad): ModelConfig['attnTemperature'] {
  const field = isObject(cfg.rope_parameters) ? 'rope_parameters' : 'rope_scaling';
  const p = isObject(cfg[field]) ? (cfg[field] as Record<string, unknown>) : {};
  const beta = p.llama_4_scaling_beta ?? 0;
  if (typeof beta !== 'number' || !Number.isFinite(beta)) throw bad(`${field}.llama_4_scaling_beta`, `is ${printableJson(beta)}; expected a finite number`);
  if (beta === 0) return null;
  const floor = p.original_max_position_embeddings;
  if (typeof floor !== 'number' || !Number.isInteger(floor) || floor <= 0) {
    throw bad(`${field}.original_max_position_embeddings`, `is ${printableJson(floor)}; llama_4_scaling_beta needs a positive integer`);
  }
  return Object.freeze({ beta, floor });
}
