/**
 * The small jina-bert-v2 GGUF of test/fixtures/jina_bert (test/fixtures/make_jina_bert_oracle.mts writes it and llama.cpp's
 * embeddings of it; test/embed_jina_bert.test.ts makes its variants): jina-embeddings-v2's architecture as llama.cpp's
 * converter writes it, 2 layers of 64, 4 heads, FFN 96, context 128, test/fixtures/bert's WordPiece vocabulary, random F32
 * weights (a seeded normal draw: matrices std 0.1, embeddings and token types 0.5, LayerNorm weights 1 + 0.2 n, biases 0.1 n).
 */
import { resolve } from 'node:path';
import { hfToGGUFFile } from '../../models/hf_to_gguf.ts';
import { meta, type GGUFToWrite } from '../../src/gguf/writer.ts';

export const JINA_TINY = { D: 64, F: 96, layers: 2, heads: 4, context: 128 } as const;

/** A seeded standard normal draw (an LCG through Box-Muller). */
function normals(seed: number): (n: number, std: number, mean?: number) => Float32Array {
  let s = seed >>> 0;
  const uniform = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  return (n, std, mean = 0) => Float32Array.from({ length: n }, () => mean + std * Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()));
}

export async function tinyJinaBert(): Promise<GGUFToWrite> {
  const { D, F, layers, heads, context } = JINA_TINY;
  const bert = await hfToGGUFFile(resolve(import.meta.dirname, '../fixtures/bert'));
  const vocab = bert.tensors.find((t) => t.name === 'token_embd.weight')!.ne[1];
  const draw = normals(31);
  const tensors: { name: string; ne: number[]; data: Float32Array }[] = [];
  const add = (name: string, ne: number[], std: number, mean = 0) => tensors.push({ name, ne, data: draw(ne.reduce((a, b) => a * b, 1), std, mean) });
  add('token_embd.weight', [D, vocab], 0.5);
  add('token_types.weight', [D, 2], 0.5);
  add('token_embd_norm.weight', [D], 0.2, 1);
  add('token_embd_norm.bias', [D], 0.1);
  for (let l = 0; l < layers; l++) {
    const b = `blk.${l}.`;
    for (const p of ['q', 'k', 'v']) {
      add(`${b}attn_${p}.weight`, [D, D], 0.1);
      add(`${b}attn_${p}.bias`, [D], 0.1);
    }
    add(`${b}attn_output.weight`, [D, D], 0.1);
    add(`${b}attn_output.bias`, [D], 0.1);
    add(`${b}attn_output_norm.weight`, [D], 0.2, 1);
    add(`${b}attn_output_norm.bias`, [D], 0.1);
    add(`${b}ffn_up.weight`, [D, 2 * F], 0.1); // (the gate's F rows, then up's: mlp.gated_layers)
    add(`${b}ffn_down.weight`, [F, D], 0.1);
    add(`${b}ffn_down.bias`, [D], 0.1);
    add(`${b}layer_output_norm.weight`, [D], 0.2, 1);
    add(`${b}layer_output_norm.bias`, [D], 0.1);
  }
  const arch = 'jina-bert-v2';
  return {
    metadata: [
      ['general.architecture', meta.str(arch)],
      ['general.name', meta.str('jina-bert-v2-tiny')],
      ['general.file_type', meta.u32(0)],
      [`${arch}.context_length`, meta.u32(context)],
      [`${arch}.embedding_length`, meta.u32(D)],
      [`${arch}.feed_forward_length`, meta.u32(F)],
      [`${arch}.block_count`, meta.u32(layers)],
      [`${arch}.attention.head_count`, meta.u32(heads)],
      [`${arch}.attention.layer_norm_epsilon`, meta.f32(1e-12)],
      [`${arch}.attention.causal`, meta.bool(false)],
      [`${arch}.pooling_type`, meta.u32(1)],
      ...bert.metadata.filter(([k]) => k.startsWith('tokenizer.')),
    ],
    tensors: tensors.map((t) => ({ name: t.name, ne: t.ne, type: 'F32', data: t.data })),
  };
}
