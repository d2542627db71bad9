/**
 * What the small random encoder GGUFs written for llama.cpp's oracles share (test/fixtures/make_nomic_bert_oracle.mts,
 * test/helpers/jina_bert.ts): test/fixtures/bert's WordPiece vocabulary, a seeded normal draw of each tensor in the order
 * they are added, and the hyper-parameters' keys of an encoder as llama.cpp's converter writes them.
 */
import { resolve } from 'node:path';
import { hfToGGUFFile } from '../../models/hf_to_gguf.ts';
import { meta, type GGUFToWrite } from '../../src/gguf/writer.ts';

/** A seeded standard normal draw (an LCG through Box-Muller). */
function normals(seed: number): (n: number, std: number, mean?: number) => Float32Array {
  let s = seed >>> 0;
  const uniform = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  return (n, std, mean = 0) => Float32Array.from({ length: n }, () => mean + std * Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()));
}

export interface TinyEncoder {
  arch: string; name: string; D: number; F: number; layers: number; heads: number; context: number; seed: number;
  /** Keys of the architecture's own, after attention.causal. */
  extra?: GGUFToWrite['metadata'];
}

/**
 * The GGUF of `e`: `addTensors(add, vocab)` adds each tensor (GGML order of dimensions), drawn with that std around that
 * mean; metadata: e's sizes, LayerNorm epsilon 1e-12, attention both ways, mean pooling, the BERT fixture's tokenizer.
 */
export async function tinyEncoderGguf(e: TinyEncoder, addTensors: (add: (name: string, ne: number[], std: number, mean?: number) => void, vocab: number) => void): Promise<GGUFToWrite> {
  const bert = await hfToGGUFFile(resolve(import.meta.dirname, '../fixtures/bert'));
  const vocab = bert.tensors.find((t) => t.name === 'token_embd.weight')!.ne[1];
  const draw = normals(e.seed);
  const tensors: { name: string; ne: number[]; data: Float32Array }[] = [];
  addTensors((name, ne, std, mean = 0) => tensors.push({ name, ne, data: draw(ne.reduce((a, b) => a * b, 1), std, mean) }), vocab);
  const k = (key: string) => `${e.arch}.${key}`;
  return {
    metadata: [
      ['general.architecture', meta.str(e.arch)],
      ['general.name', meta.str(e.name)],
      ['general.file_type', meta.u32(0)],
      [k('context_length'), meta.u32(e.context)],
      [k('embedding_length'), meta.u32(e.D)],
      [k('feed_forward_length'), meta.u32(e.F)],
      [k('block_count'), meta.u32(e.layers)],
      [k('attention.head_count'), meta.u32(e.heads)],
      [k('attention.layer_norm_epsilon'), meta.f32(1e-12)],
      [k('attention.causal'), meta.bool(false)],
      ...(e.extra ?? []),
      [k('pooling_type'), meta.u32(1)],
      ...bert.metadata.filter(([key]) => key.startsWith('tokenizer.')),
    ],
    tensors: tensors.map((t) => ({ name: t.name, ne: t.ne, type: 'F32', data: t.data })),
  };
}
