import { matmulRef, dequantize } from '../kernels/ref/matmul.ts';
import { rmsnormRef } from '../kernels/ref/rmsnorm.ts';
import { attentionRef, embeddingRef, qkNormRef, ropeRef, shortConvRef, softcapRef, ssmRef, swigluRef } from '../kernels/ref/layers.ts';
import type { WeightData } from '../kernels/matmul.ts';
import { layerRot, type ModelConfig } from './config.ts';
import { readLayer, readOutputNorm, type LayerWeights } from './host_weights.ts';
import { moeFfnRef } from '../kernels/ref/moe.ts';
import { ropeTables, type RopeTable } from './rope_tables.ts';
import { ssmPerHead } from './ssm_shape.ts';
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
  readonly rope: { readonly global: RopeTable; readonly local: RopeTable | null };
}

export async function loadRefModel(w: WeightSource, c: ModelConfig, quant: QuantScheme): Promise<RefModel> {
  const embedW = await w.matrix('token_embd.weight', c.vocab, c.nEmbd, quant);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < c.nLayer; l++) layers.push(await readLayer(w, c, l, quant));
  return {
    config: c,
    embed: dequantize(embedW),
    lmHead: c.tiedEmbeddings ? embedW : await w.matrix('output.weight', c.vocab, c.nEmbd, quant),
    outputNorm: await readOutputNorm(w, c),
    layers,
    rope: await ropeTables(c, w),
  };
}

/** y (T, sum of parts' rows) = the parts' matmuls side by side (+ bias), as the GPU's yOffset matmuls. */
function matmulParts(parts: readonly WeightData[], x: Float32Array, T: number, bias: Float32Array | null): Float32Array {
  const N = parts.reduce((n, p) => n + p.rows, 0);
  const y = new Float32Array(T * N);
  let n0 = 0;
  for (const p of parts) {
    const yp = matmulRef(p, x, T, { bias: bias?.subarray(n0, n0 + p.rows) });
    for (let t = 0; t < T; t++) y.set(yp.subarray(t * p.rows, (t + 1) * p.rows), t * N + n0);
    n0 += p.rows;
  }
  return y;
}

/** Logits (T, vocab) for every position of `tokens`, run from position 0 as one batch. */
export function refLogits(m: RefModel, tokens: readonly number[]): Float32Array {
  const c = m.config;
  const T = tokens.length, D = c.nEmbd, F = c.nFf;
  const kvDim = c.nKv * c.headDim;
  const x = embeddingRef(m.embed, D, tokens);
  if (c.embedScale !== 1) for (let i = 0; i < x.length; i++) x[i] *= c.embedScale;
  // y = x + out, or x + rmsnorm(out) * w with Gemma's and OLMo 2's post-norms
  const addResidual = (out: Float32Array, postNorm: Float32Array | null) => {
    const add = postNorm ? rmsnormRef(out, postNorm, D, c.eps) : out;
    for (let i = 0; i < x.length; i++) x[i] += add[i];
  };
  const normed = (weight: Float32Array | null) => (weight ? rmsnormRef(x, weight, D, c.eps) : x); // OLMo 2: no pre-norms
  // A layer's attention over its own K/V, from position 0
  const attend = (w: LayerWeights, l: number) => {
    const window = c.layerWindow[l] ?? 0;
    const kCache = new Float32Array(T * kvDim), vCache = new Float32Array(T * kvDim);
    const qkv = matmulParts(w.qkv, normed(w.attnNorm), T, w.qkvBias);
    if (w.qNorm && w.kNorm) qkNormRef({ ...c, allHeads: c.qkNormAllHeads }, qkv, T, w.qNorm, w.kNorm, c.eps);
    const table = window > 0 && m.rope.local ? m.rope.local : m.rope.global;
    ropeRef({ nHead: c.nHead, nKv: c.nKv, headDim: c.headDim, nRot: layerRot(c, l), neox: c.ropeNeox }, table, qkv, T, 0, kCache, vCache);
    return attentionRef(c, qkv, T, 0, kCache, vCache, { scale: c.attnScale, window, softcap: c.attnSoftcap });
  };
  // A Mamba-2 mixer: in_proj, convolution and scan, the gated output RMS-normalised where the model has that norm
  const scan = (w: LayerWeights, ssm: NonNullable<LayerWeights['ssm']>) => {
    const zxbcdt = matmulRef(ssm.inProj, normed(w.attnNorm), T);
    const { y } = ssmRef(c.ssm!, zxbcdt, T, ssm.conv, ssm.convBias, ssmPerHead(ssm));
    return ssm.norm ? rmsnormRef(y, ssm.norm, ssm.norm.length, c.eps) : y;
  };
  // Granite's residual multiplier (1 elsewhere) and Falcon-H1's per sublayer, as the GPU's output matmuls apply them
  const scaled = (s = 1) => ({ outScale: c.residualScale * s });
  m.layers.forEach((w, l) => {
    // Each mixer reads the norm of x before any adds to it: LFM2's short convolutions (in_proj to B, C, x, then
    // C * conv(B * x)), a Mamba-2 mixer, attention; Falcon-H1 has the last two side by side.
    const outs: [WeightData, Float32Array, number][] = [];
    if (w.conv) outs.push([w.o!, shortConvRef(matmulParts(w.qkv, normed(w.attnNorm), T, null), T, D, w.conv, c.convKernel), 1]);
    if (w.ssm) outs.push([w.ssm.outProj, scan(w, w.ssm), c.mup?.ssmOut ?? 1]);
    if (w.o && !w.conv) outs.push([w.o, attend(w, l), c.mup?.attnOut ?? 1]);
    for (const [wo, mixed, s] of outs) addResidual(matmulRef(wo, mixed, T, scaled(s)), w.postAttnNorm);
    // The FFN: dense, a mixture of experts, or both (a shared expert beside the experts), each reading the same norm of x
    const xn = normed(w.ffnNorm);
    const ffnOuts: Float32Array[] = [];
    if (w.moe) {
      const { outScale } = scaled(c.mup?.ffnOut); // as the dense FFN's down projection applies it
      ffnOuts.push(moeFfnRef(w.moe, c.moe!, xn, T, c.ffnAct).map((v) => Math.fround(v * outScale)));
    }
    if (w.down) ffnOuts.push(matmulRef(w.down, swigluRef(matmulParts(w.gateUp, xn, T, null), T, F, c.ffnAct), T, scaled(c.mup?.ffnOut)));
    addResidual(ffnOuts.reduce((sum, y) => sum.map((v, i) => v + y[i])), w.postFfnNorm);
  });
  const logits = matmulRef(m.lmHead, rmsnormRef(x, m.outputNorm, D, c.eps), T);
  return c.finalSoftcap > 0 ? softcapRef(logits, c.finalSoftcap) : logits;
}
