import { matmulRef, dequantize } from '../kernels/ref/matmul.ts';
import { rmsnormRef } from '../kernels/ref/rmsnorm.ts';
import { attentionRef, embeddingRef, qkNormRef, ropeRef, swigluRef } from '../kernels/ref/layers.ts';
import { ropeInvFreq } from '../kernels/rope.ts';
import type { WeightData } from '../kernels/matmul.ts';
import type { ModelConfig } from './config.ts';
import { readLayer, type LayerWeights } from './host_weights.ts';
import type { QuantScheme, WeightSource } from './weight_source.ts';

/**
 * The whole model on the CPU in plain TypeScript, from the same converted weights the GPU gets
 * and with the kernels' numerics (their CPU references). Slow; for tests on small models.
 */
export interface RefModel {
  readonly config: ModelConfig;
  readonly embed: Float32Array; // (vocab, D) widened
  readonly lmHead: WeightData;
  readonly outputNorm: Float32Array;
  readonly layers: readonly LayerWeights[];
  readonly invFreq: Float32Array;
}

export async function loadRefModel(w: WeightSource, c: ModelConfig, quant: QuantScheme): Promise<RefModel> {
  const embedW = await w.matrix('token_embd.weight', c.vocab, c.nEmbd, quant);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < c.nLayer; l++) layers.push(await readLayer(w, c, l, quant));
  const freqFactors = w.has('rope_freqs.weight') ? await w.vector('rope_freqs.weight', c.nRot / 2) : undefined;
  const rs = c.ropeScaling;
  return {
    config: c,
    embed: dequantize(embedW),
    lmHead: c.tiedEmbeddings ? embedW : await w.matrix('output.weight', c.vocab, c.nEmbd, quant),
    outputNorm: await w.vector('output_norm.weight', c.nEmbd),
    layers,
    invFreq: ropeInvFreq(c.nRot, c.ropeBase, {
      freqFactors,
      linearFactor: rs.type === 'linear' ? rs.factor : undefined,
      llama3: rs.type === 'llama3' && !freqFactors ? { factor: rs.factor, lowFreqFactor: rs.lowFreqFactor ?? 1, highFreqFactor: rs.highFreqFactor ?? 4, originalContext: rs.originalContext ?? 8192 } : undefined,
    }),
  };
}

/** Logits (T, vocab) for every position of `tokens`, run from position 0 as one batch. */
export function refLogits(m: RefModel, tokens: readonly number[]): Float32Array {
  const c = m.config;
  const T = tokens.length, D = c.nEmbd, F = c.nFf;
  const kvDim = c.nKv * c.headDim;
  const x = embeddingRef(m.embed, D, tokens);
  for (const w of m.layers) {
    const kCache = new Float32Array(T * kvDim), vCache = new Float32Array(T * kvDim);
    const qkv = matmulRef(w.qkv, rmsnormRef(x, w.attnNorm, D, c.eps), T, { bias: w.qkvBias ?? undefined });
    if (w.qNorm && w.kNorm) qkNormRef(c, qkv, T, w.qNorm, w.kNorm, c.eps);
    ropeRef({ nHead: c.nHead, nKv: c.nKv, headDim: c.headDim, nRot: c.nRot, neox: c.ropeNeox }, m.invFreq, qkv, T, 0, kCache, vCache);
    const attn = attentionRef(c, qkv, T, 0, kCache, vCache);
    x.set(matmulRef(w.o, attn, T, { y0: x }));
    const h = swigluRef(matmulRef(w.gateUp, rmsnormRef(x, w.ffnNorm, D, c.eps), T), T, F);
    x.set(matmulRef(w.down, h, T, { y0: x }));
  }
  return matmulRef(m.lmHead, rmsnormRef(x, m.outputNorm, D, c.eps), T);
}
