import type { ModelConfig } from '../model/config.ts';
import type { HFExtra } from './config.ts';

/**
 * GGUF tensor names (emberlm's canonical ones) <-> Hugging Face names, for the Llama-style families
 * (llama, mistral, qwen2, qwen3 share one layout).
 */

const GLOBAL: ReadonlyArray<readonly [string, string]> = [
  ['token_embd.weight', 'model.embed_tokens.weight'],
  ['output.weight', 'lm_head.weight'],
  ['output_norm.weight', 'model.norm.weight'],
];

const LAYER: ReadonlyArray<readonly [string, string]> = [
  ['attn_norm.weight', 'input_layernorm.weight'],
  ['attn_q.weight', 'self_attn.q_proj.weight'],
  ['attn_k.weight', 'self_attn.k_proj.weight'],
  ['attn_v.weight', 'self_attn.v_proj.weight'],
  ['attn_output.weight', 'self_attn.o_proj.weight'],
  ['attn_q.bias', 'self_attn.q_proj.bias'],
  ['attn_k.bias', 'self_attn.k_proj.bias'],
  ['attn_v.bias', 'self_attn.v_proj.bias'],
  ['attn_output.bias', 'self_attn.o_proj.bias'],
  ['attn_q_norm.weight', 'self_attn.q_norm.weight'],
  ['attn_k_norm.weight', 'self_attn.k_norm.weight'],
  ['ffn_norm.weight', 'post_attention_layernorm.weight'],
  ['ffn_gate.weight', 'mlp.gate_proj.weight'],
  ['ffn_up.weight', 'mlp.up_proj.weight'],
  ['ffn_down.weight', 'mlp.down_proj.weight'],
];

const TO_HF = new Map(LAYER);
const TO_GGUF = new Map(LAYER.map(([g, h]) => [h, g] as const));
const GLOBAL_TO_HF = new Map(GLOBAL);
const GLOBAL_TO_GGUF = new Map(GLOBAL.map(([g, h]) => [h, g] as const));

/** The HF name of a GGUF tensor name, or null when there is none. */
export function hfTensorName(gguf: string): string | null {
  const g = GLOBAL_TO_HF.get(gguf);
  if (g) return g;
  const m = /^blk\.(\d+)\.(.+)$/.exec(gguf);
  const rest = m && TO_HF.get(m[2]);
  return rest ? `model.layers.${m[1]}.${rest}` : null;
}

/** The GGUF name of an HF tensor name, or null when there is none. */
export function ggufTensorName(hf: string): string | null {
  const g = GLOBAL_TO_GGUF.get(hf);
  if (g) return g;
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hf);
  const rest = m && TO_GGUF.get(m[2]);
  return rest ? `blk.${m[1]}.${rest}` : null;
}

/** A tensor the forward pass reads: its GGUF name and HF shape ([rows, cols] for matrices, [n] for vectors). */
export interface ExpectedTensor {
  readonly name: string;
  readonly shape: readonly number[];
}

/** Every tensor a model with this config must have, in GGUF names. */
export function expectedTensors(c: ModelConfig, extra: Pick<HFExtra, 'qkNorm'>): ExpectedTensor[] {
  const D = c.nEmbd, F = c.nFf, qDim = c.nHead * c.headDim, kvDim = c.nKv * c.headDim;
  const out: ExpectedTensor[] = [
    { name: 'token_embd.weight', shape: [c.vocab, D] },
    { name: 'output_norm.weight', shape: [D] },
  ];
  if (!c.tiedEmbeddings) out.push({ name: 'output.weight', shape: [c.vocab, D] });
  for (let i = 0; i < c.nLayer; i++) {
    const b = `blk.${i}.`;
    out.push(
      { name: `${b}attn_norm.weight`, shape: [D] },
      { name: `${b}attn_q.weight`, shape: [qDim, D] },
      { name: `${b}attn_k.weight`, shape: [kvDim, D] },
      { name: `${b}attn_v.weight`, shape: [kvDim, D] },
      { name: `${b}attn_output.weight`, shape: [D, qDim] },
      { name: `${b}ffn_norm.weight`, shape: [D] },
      { name: `${b}ffn_gate.weight`, shape: [F, D] },
      { name: `${b}ffn_up.weight`, shape: [F, D] },
      { name: `${b}ffn_down.weight`, shape: [D, F] },
    );
    if (c.qkvBias) {
      out.push({ name: `${b}attn_q.bias`, shape: [qDim] }, { name: `${b}attn_k.bias`, shape: [kvDim] }, { name: `${b}attn_v.bias`, shape: [kvDim] });
    }
    if (extra.qkNorm) out.push({ name: `${b}attn_q_norm.weight`, shape: [c.headDim] }, { name: `${b}attn_k_norm.weight`, shape: [c.headDim] });
  }
  return out;
}
