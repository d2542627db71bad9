/**
 * Small random LoRA adapters for stories260K (test/fixtures/lora, made by test/fixtures/make_lora_oracle.mts): GGUF
 * adapters as llama.cpp's convert_lora_to_gguf.py writes them (general.type adapter, adapter.type lora,
 * adapter.lora.alpha; a matrix W [in, out]'s pair <name>.lora_a [in, r] and .lora_b [r, out]; token_embd's [r, vocab]
 * and [r, n_embd], as llama.cpp's embedding lookup reads them), F32, a seeded normal draw.
 */
import { meta, type GGUFToWrite } from '../../src/gguf/writer.ts';

/** A seeded standard normal draw (an LCG through Box-Muller). */
function normals(seed: number): (n: number, std: number) => Float32Array {
  let s = seed >>> 0;
  const uniform = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  return (n, std) => Float32Array.from({ length: n }, () => std * Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()));
}

/** stories260K's matrices (n_embd 64, 5 layers, kv 32, FFN 172, vocab 512): [in, out] in ggml order. */
const SHAPES: Record<string, [number, number]> = { attn_q: [64, 64], attn_k: [64, 32], attn_v: [64, 32], attn_output: [64, 64], ffn_up: [64, 172], ffn_gate: [64, 172], ffn_down: [172, 64] };

/**
 * An adapter of rank `rank` and alpha `alpha` on `parts` of every layer (and, with `globals`, on output.weight and
 * token_embd.weight), pairs drawn with std 0.1 from `seed`.
 */
type F32Tensor = { name: string; ne: number[]; type: 'F32'; data: Float32Array };
export function tinyLora(o: { seed: number; rank: number; alpha: number; parts: string[]; globals: boolean }): Omit<GGUFToWrite, 'tensors'> & { tensors: F32Tensor[] } {
  const draw = normals(o.seed);
  const tensors: F32Tensor[] = [];
  const pair = (name: string, aNe: number[], bNe: number[]) => {
    tensors.push({ name: `${name}.lora_a`, ne: aNe, type: 'F32', data: draw(aNe[0] * aNe[1], 0.1) });
    tensors.push({ name: `${name}.lora_b`, ne: bNe, type: 'F32', data: draw(bNe[0] * bNe[1], 0.1) });
  };
  if (o.globals) {
    pair('token_embd.weight', [o.rank, 512], [o.rank, 64]);
    pair('output.weight', [64, o.rank], [o.rank, 512]);
  }
  for (let l = 0; l < 5; l++) {
    for (const p of o.parts) {
      const [inp, out] = SHAPES[p];
      pair(`blk.${l}.${p}.weight`, [inp, o.rank], [o.rank, out]);
    }
  }
  return {
    metadata: [
      ['general.architecture', meta.str('llama')],
      ['general.type', meta.str('adapter')],
      ['adapter.type', meta.str('lora')],
      ['adapter.lora.alpha', meta.f32(o.alpha)],
    ],
    tensors,
  };
}

/** The fixture's two adapters: one on attention, the FFN, the LM head and the embeddings; one on k alone, alpha 0 (scale alone). */
export const LORA_ADAPTERS = {
  wide: { seed: 5, rank: 4, alpha: 8, parts: ['attn_q', 'attn_v', 'attn_output', 'ffn_up', 'ffn_down'], globals: true },
  keys: { seed: 6, rank: 2, alpha: 0, parts: ['attn_k'], globals: false },
} as const;
