/**
 * The small jina-bert-v2 GGUF of test/fixtures/jina_bert (test/fixtures/make_jina_bert_oracle.mts writes it and llama.cpp's
 * embeddings of it; test/embed_jina_bert.test.ts makes its variants): jina-embeddings-v2's architecture as llama.cpp's
 * converter writes it, 2 layers of 64, 4 heads, FFN 96, context 128, test/fixtures/bert's WordPiece vocabulary, random F32
 * weights (a seeded normal draw: matrices std 0.1, embeddings and token types 0.5, LayerNorm weights 1 + 0.2 n, biases 0.1 n).
 */
import type { GGUFToWrite } from '../../src/gguf/writer.ts';
import { tinyEncoderGguf } from './tiny_encoder_gguf.ts';

export const JINA_TINY = { arch: 'jina-bert-v2', name: 'jina-bert-v2-tiny', D: 64, F: 96, layers: 2, heads: 4, context: 128, seed: 31 } as const;

/**
 * The file of a variant: `qk`, with jina-embeddings-v2-base-de / -es's LayerNorms over all of q and of k (their own draw,
 * seed 37); `code`, jina-embeddings-v2-base-code's layers as llama.cpp runs them (seed 41): those q and k norms, a second
 * norm after attention over the layer's input added again (attn_norm_2), a bias on the gated FFN's up (ffn_up.bias).
 */
export function tinyJinaBert(variant: 'plain' | 'qk' | 'code' = 'plain'): Promise<GGUFToWrite> {
  const { D, F, layers } = JINA_TINY;
  const qkNorms = variant !== 'plain', code = variant === 'code';
  const e = { plain: JINA_TINY, qk: { ...JINA_TINY, name: 'jina-bert-v2-qk-tiny', seed: 37 }, code: { ...JINA_TINY, name: 'jina-bert-v2-code-tiny', seed: 41 } }[variant];
  return tinyEncoderGguf(e, (add, vocab) => {
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
      if (qkNorms) {
        for (const p of ['q', 'k']) {
          add(`${b}attn_${p}_norm.weight`, [D], 0.2, 1);
          add(`${b}attn_${p}_norm.bias`, [D], 0.1);
        }
      }
      add(`${b}attn_output.weight`, [D, D], 0.1);
      add(`${b}attn_output.bias`, [D], 0.1);
      add(`${b}attn_output_norm.weight`, [D], 0.2, 1);
      add(`${b}attn_output_norm.bias`, [D], 0.1);
      if (code) {
        add(`${b}attn_norm_2.weight`, [D], 0.2, 1);
        add(`${b}attn_norm_2.bias`, [D], 0.1);
      }
      add(`${b}ffn_up.weight`, [D, 2 * F], 0.1); // (the gate's F rows, then up's: mlp.gated_layers)
      if (code) add(`${b}ffn_up.bias`, [2 * F], 0.1);
      add(`${b}ffn_down.weight`, [F, D], 0.1);
      add(`${b}ffn_down.bias`, [D], 0.1);
      add(`${b}layer_output_norm.weight`, [D], 0.2, 1);
      add(`${b}layer_output_norm.bias`, [D], 0.1);
    }
  });
}
