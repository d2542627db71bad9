import { SOFTMAX_ROUTER, validateMoe, type MoeFieldNames, type MoeShape } from '../model/moe_shape.ts';
import { printableJson } from '../util/printable.ts';
import type { Bad } from './config.ts';

/** Field names for messages, as most configs name them. */
const ROUTER_FIELDS: MoeFieldNames = {
  experts: 'field num_experts', used: 'field num_experts_per_tok', nFf: 'field moe_intermediate_size', normTopk: 'field norm_topk_prob',
  gating: 'field model_type', selectionBias: 'field use_expert_bias', weightScale: 'field routed_scaling_factor', sharedExpert: 'field shared_intermediate_size',
};

/** A config field, or its class's default where absent or null. */
const field = (cfg: Record<string, unknown>, name: string, fallback: unknown) => cfg[name] ?? fallback;

/** A true-or-false config field (BAD_MODEL naming it otherwise). */
function flag(cfg: Record<string, unknown>, bad: Bad, name: string, fallback: boolean): boolean {
  const v = field(cfg, name, fallback);
  if (typeof v !== 'boolean') throw bad(name, `is ${printableJson(v)}; expected true or false`);
  return v;
}

/**
 * config.json's mixture-of-experts fields (src/hf/config.ts reads the rest), with Qwen3MoeConfig's defaults: the
 * experts' shape, and which layers have them (not those in mlp_only_layers, and every decoder_sparse_step-th).
 */
export function qwen3MoeLayers(cfg: Record<string, unknown>, file: string, bad: Bad, nLayer: number): { layerMoe: boolean[]; moe: MoeShape } | null {
  // (transformers 5 writes num_local_experts where the Hub's checkpoints say num_experts)
  const expertsField = cfg.num_experts !== undefined && cfg.num_experts !== null ? 'num_experts' : 'num_local_experts';
  const experts = field(cfg, expertsField, 128);
  if (experts === 0) return null;
  const step = field(cfg, 'decoder_sparse_step', 1);
  if (!(Number.isInteger(step) && (step as number) >= 1)) throw bad('decoder_sparse_step', `is ${printableJson(step)}; expected a positive integer`);
  const dense = field(cfg, 'mlp_only_layers', []);
  if (!Array.isArray(dense) || !dense.every((l) => Number.isInteger(l))) throw bad('mlp_only_layers', `is ${printableJson(dense)?.slice(0, 80)}; expected a list of layer indices`);
  const normTopk = flag(cfg, bad, 'norm_topk_prob', false);
  const moe = validateMoe({ experts: experts as number, used: field(cfg, 'num_experts_per_tok', 8) as number, nFf: field(cfg, 'moe_intermediate_size', 768) as number, normTopk, ...SOFTMAX_ROUTER }, file, {
    ...ROUTER_FIELDS, experts: `field ${expertsField}`, nFf: 'field moe_intermediate_size', normTopk: 'field norm_topk_prob',
  });
  const layerMoe = Array.from({ length: nLayer }, (_, l) => !dense.includes(l) && (l + 1) % (step as number) === 0);
  return { layerMoe, moe };
}

/**
 * Granite 3.0/3.1's mixtures (GraniteMoeConfig): every layer's FFN num_local_experts experts of intermediate_size, the
 * top num_experts_per_tok by logit, softmax over those (the renormalised softmax of the chosen ones: normTopk). Granite
 * 4.0's (GraniteMoeHybridConfig, sharedExpert): the same beside the shared MLP (shared_intermediate_size, the dense nFf).
 */
export function graniteMoeLayers(cfg: Record<string, unknown>, file: string, nLayer: number, sharedExpert = false): { layerMoe: boolean[]; moe: MoeShape } {
  const experts = field(cfg, 'num_local_experts', 8) as number, used = field(cfg, 'num_experts_per_tok', 2) as number;
  const moe = validateMoe({ experts, used, nFf: field(cfg, 'intermediate_size', 1024) as number, normTopk: true, ...SOFTMAX_ROUTER, sharedExpert }, file, {
    ...ROUTER_FIELDS, experts: 'field num_local_experts', nFf: 'field intermediate_size', normTopk: 'field num_experts_per_tok',
  });
  return { layerMoe: Array<boolean>(nLayer).fill(true), moe };
}

/**
 * LFM2-MoE's mixtures (Lfm2MoeConfig, LFM2-8B-A1B): the layers from num_dense_layers on, each num_experts SwiGLU
 * experts of moe_intermediate_size; the router's sigmoid scores plus expert_bias (use_expert_bias) choose the top
 * num_experts_per_tok, whose unbiased scores, renormalised (norm_topk_prob), times routed_scaling_factor, weigh them.
 */
export function lfm2MoeLayers(cfg: Record<string, unknown>, file: string, bad: Bad, nLayer: number): { layerMoe: boolean[]; moe: MoeShape } {
  const dense = field(cfg, 'num_dense_layers', 2);
  if (!(Number.isInteger(dense) && (dense as number) >= 0)) throw bad('num_dense_layers', `is ${printableJson(dense)}; expected an integer from 0`);
  const moe = validateMoe({
    experts: field(cfg, 'num_experts', 32) as number, used: field(cfg, 'num_experts_per_tok', 4) as number, nFf: field(cfg, 'moe_intermediate_size', 1792) as number,
    normTopk: flag(cfg, bad, 'norm_topk_prob', true), gating: 'sigmoid', selectionBias: flag(cfg, bad, 'use_expert_bias', true),
    weightScale: field(cfg, 'routed_scaling_factor', 1) as number, sharedExpert: false,
  }, file, ROUTER_FIELDS);
  return { layerMoe: Array.from({ length: nLayer }, (_, l) => l >= (dense as number)), moe };
}

/**
 * OLMoE's mixtures (OlmoeConfig, OLMoE-1B-7B): every layer's FFN num_experts SwiGLU experts of intermediate_size, the
 * top num_experts_per_tok of the softmax over all of them, renormalised only where norm_topk_prob (its default: not).
 */
export function olmoeLayers(cfg: Record<string, unknown>, file: string, bad: Bad, nLayer: number): { layerMoe: boolean[]; moe: MoeShape } {
  const moe = validateMoe({
    experts: field(cfg, 'num_experts', 64) as number, used: field(cfg, 'num_experts_per_tok', 8) as number, nFf: field(cfg, 'intermediate_size', 2048) as number,
    normTopk: flag(cfg, bad, 'norm_topk_prob', false), ...SOFTMAX_ROUTER,
  }, file, { ...ROUTER_FIELDS, nFf: 'field intermediate_size' });
  return { layerMoe: Array<boolean>(nLayer).fill(true), moe };
}
