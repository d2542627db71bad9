import { validateMoe, type MoeShape } from '../model/moe_shape.ts';
import { printableJson } from '../util/printable.ts';
import type { Bad } from './config.ts';

/**
 * config.json's mixture-of-experts fields (src/hf/config.ts reads the rest), with Qwen3MoeConfig's defaults: the
 * experts' shape, and which layers have them (not those in mlp_only_layers, and every decoder_sparse_step-th).
 */
export function qwen3MoeLayers(cfg: Record<string, unknown>, file: string, bad: Bad, nLayer: number): { layerMoe: boolean[]; moe: MoeShape } | null {
  const field = (name: string, fallback: unknown) => cfg[name] ?? fallback;
  // (transformers 5 writes num_local_experts where the Hub's checkpoints say num_experts)
  const expertsField = cfg.num_experts !== undefined && cfg.num_experts !== null ? 'num_experts' : 'num_local_experts';
  const experts = field(expertsField, 128);
  if (experts === 0) return null;
  const step = field('decoder_sparse_step', 1);
  if (!(Number.isInteger(step) && (step as number) >= 1)) throw bad('decoder_sparse_step', `is ${printableJson(step)}; expected a positive integer`);
  const dense = field('mlp_only_layers', []);
  if (!Array.isArray(dense) || !dense.every((l) => Number.isInteger(l))) throw bad('mlp_only_layers', `is ${printableJson(dense)?.slice(0, 80)}; expected a list of layer indices`);
  const normTopk = field('norm_topk_prob', false);
  if (typeof normTopk !== 'boolean') throw bad('norm_topk_prob', `is ${printableJson(normTopk)}; expected true or false`);
  const moe = validateMoe({ experts: experts as number, used: field('num_experts_per_tok', 8) as number, nFf: field('moe_intermediate_size', 768) as number, normTopk }, file, {
    experts: `field ${expertsField}`, used: 'field num_experts_per_tok', nFf: 'field moe_intermediate_size', normTopk: 'field norm_topk_prob',
  });
  const layerMoe = Array.from({ length: nLayer }, (_, l) => !dense.includes(l) && (l + 1) % (step as number) === 0);
  return { layerMoe, moe };
}

/**
 * Granite 3.0/3.1's mixtures (GraniteMoeConfig): every layer's FFN num_local_experts experts of intermediate_size, the
 * top num_experts_per_tok by logit, softmax over those (the renormalised softmax of the chosen ones: normTopk).
 */
export function graniteMoeLayers(cfg: Record<string, unknown>, file: string, nLayer: number): { layerMoe: boolean[]; moe: MoeShape } {
  const field = (name: string, fallback: unknown) => cfg[name] ?? fallback;
  const moe = validateMoe({ experts: field('num_local_experts', 8) as number, used: field('num_experts_per_tok', 2) as number, nFf: field('intermediate_size', 1024) as number, normTopk: true }, file, {
    experts: 'field num_local_experts', used: 'field num_experts_per_tok', nFf: 'field intermediate_size', normTopk: 'field num_experts_per_tok',
  });
  return { layerMoe: Array<boolean>(nLayer).fill(true), moe };
}
