import { EmberError } from '../errors.ts';
import { validateDelta } from '../model/validate.ts';
import type { DeltaShape } from '../model/delta_shape.ts';
import { printableJson } from '../util/printable.ts';
import { isObject, type Bad } from './config.ts';

/** config.json's Qwen3.5 fields (src/hf/config.ts reads the rest): which layers are Gated DeltaNets, and their shape. */

/**
 * A Qwen3.5 checkpoint's config: Qwen3_5ForConditionalGeneration's (model_type qwen3_5: the text model's fields under
 * text_config, beside the vision tower's, which emberlm does not read) or the text model's own (qwen3_5_text).
 */
export function qwen35TextConfig(cfg: Record<string, unknown>, file: string): Record<string, unknown> {
  if (cfg.model_type !== 'qwen3_5') return cfg;
  const text = cfg.text_config;
  if (!isObject(text)) throw new EmberError('BAD_MODEL', `${file}: field text_config is ${printableJson(text)}; a qwen3_5 config holds its text model's fields there`, { file, field: 'text_config' });
  // (the top level's tie_word_embeddings speaks for the checkpoint when the text config leaves it out)
  return { tie_word_embeddings: cfg.tie_word_embeddings, _name_or_path: cfg._name_or_path, ...text, model_type: 'qwen3_5' };
}

/**
 * Qwen3.5's layer kinds (`layer_types`: "linear_attention" or "full_attention", else every full_attention_interval-th
 * layer attends) and its Gated DeltaNet's shape, with Qwen3_5TextConfig's defaults.
 */
export function qwen35Layers(cfg: Record<string, unknown>, file: string, bad: Bad, nLayer: number): { layerDelta: boolean[]; delta: DeltaShape } {
  const int = (field: string, fallback: number) => {
    const v = cfg[field] ?? fallback;
    if (typeof v !== 'number') throw bad(field, `is ${printableJson(v)}; expected an integer`);
    return v;
  };
  const types = cfg.layer_types;
  let layerDelta: boolean[];
  if (types !== undefined && types !== null) {
    if (!Array.isArray(types) || types.length !== nLayer || !types.every((t) => t === 'linear_attention' || t === 'full_attention')) {
      throw bad('layer_types', `is ${printableJson(types)?.slice(0, 80)}; expected ${nLayer} entries of "linear_attention" or "full_attention"`);
    }
    layerDelta = types.map((t) => t === 'linear_attention');
  } else {
    const every = int('full_attention_interval', 4);
    if (!Number.isInteger(every) || every < 1) throw bad('full_attention_interval', `is ${every}; expected a positive integer`);
    layerDelta = Array.from({ length: nLayer }, (_, l) => (l + 1) % every !== 0);
  }
  const delta = {
    nKHead: int('linear_num_key_heads', 16), nVHead: int('linear_num_value_heads', 32),
    headKDim: int('linear_key_head_dim', 128), headVDim: int('linear_value_head_dim', 128), convKernel: int('linear_conv_kernel_dim', 4),
    vTiled: false,
  };
  const names = {
    nKHead: 'field linear_num_key_heads', nVHead: 'field linear_num_value_heads', headKDim: 'field linear_key_head_dim',
    headVDim: 'field linear_value_head_dim', convKernel: 'field linear_conv_kernel_dim', vTiled: 'the value heads\' order',
  };
  return { layerDelta, delta: validateDelta(delta, file, names) };
}
