import type { MoeWeights } from '../../model/host_weights.ts';
import type { MoeGating, MoeShape } from '../../model/moe_shape.ts';
import { swigluRef } from './layers.ts';
import type { FfnAct } from '../swiglu.ts';
import { matmulRef } from './matmul.ts';

/**
 * CPU references for a mixture of experts' routing and output (shaders/moe.wgsl) as transformers runs Qwen3-MoE,
 * Mixtral and LFM2-MoE: softmax over every expert's router logit, the k largest (the lowest index among equals); or
 * each logit's sigmoid, the k largest of sigmoid + bias, weighed by the sigmoids; renormalised to sum 1 where normTopk
 * (the sigmoids by sum + 1e-6, as transformers); the slots' outputs weighted and summed into the residual stream.
 */

const sigmoid = (l: number) => 1 / (1 + Math.exp(-l));

/** Each token's experts, best score first, and their weights: (T, k) each. */
export function moeRouteRef(
  logits: Float32Array, T: number, experts: number, k: number, normTopk: boolean, gating: MoeGating = 'softmax', bias?: Float32Array,
): { ids: Uint32Array; weights: Float32Array } {
  const ids = new Uint32Array(T * k);
  const weights = new Float32Array(T * k);
  const sig = gating === 'sigmoid';
  for (let t = 0; t < T; t++) {
    const row = logits.subarray(t * experts, (t + 1) * experts);
    const top = Math.max(...row);
    const total = row.reduce((sum, l) => sum + Math.exp(l - top), 0);
    const score = (e: number) => (sig ? sigmoid(row[e]) + (bias?.[e] ?? 0) : row[e]);
    // a stable sort: equal scores keep their index order
    const order = Array.from(row.keys()).sort((a, b) => score(b) - score(a)).slice(0, k);
    const p = order.map((e) => (sig ? sigmoid(row[e]) : Math.exp(row[e] - top) / total));
    const sum = p.reduce((s, v) => s + v, 0) + (sig ? 1e-6 : 0);
    order.forEach((e, s) => {
      ids[t * k + s] = e;
      weights[t * k + s] = normTopk ? p[s] / sum : p[s];
    });
  }
  return { ids, weights };
}

/** x0 (T, D) + scale * sum over each token's slots of weight * expertOut[slot] ((T * k, D)). */
export function moeCombineRef(x0: Float32Array, weights: Float32Array, expertOut: Float32Array, T: number, k: number, D: number, scale = 1): Float32Array {
  const x = Float32Array.from(x0);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < D; i++) {
      let sum = 0;
      for (let s = 0; s < k; s++) sum += weights[t * k + s] * expertOut[(t * k + s) * D + i];
      x[t * D + i] += scale * sum;
    }
  }
  return x;
}

/**
 * A mixture of experts' FFN output, (T, D) (before the residual add): each token's experts by moeRouteRef over the
 * router's logits, each expert's SwiGLU FFN (its rows of the stacked gate, up and down), their outputs weighted (times
 * the shape's weightScale) and summed. Every expert is computed for every token (a reference, not a fast path).
 */
export function moeFfnRef(w: MoeWeights, m: MoeShape, xn: Float32Array, T: number, act: FfnAct = 'silu'): Float32Array {
  const D = w.router.cols, F = m.nFf;
  const { ids, weights } = moeRouteRef(matmulRef(w.router, xn, T), T, m.experts, m.used, m.normTopk, m.gating, w.bias ?? undefined);
  const gate = matmulRef(w.gate, xn, T), up = matmulRef(w.up, xn, T); // (T, experts * F)
  const out = new Float32Array(T * D);
  for (let t = 0; t < T; t++) {
    for (let s = 0; s < m.used; s++) {
      const e = ids[t * m.used + s];
      const gu = new Float32Array(2 * F);
      gu.set(gate.subarray(t * m.experts * F + e * F, t * m.experts * F + (e + 1) * F), 0);
      gu.set(up.subarray(t * m.experts * F + e * F, t * m.experts * F + (e + 1) * F), F);
      const y = matmulRef(w.down, swigluRef(gu, 1, F, act), 1).subarray(e * D, (e + 1) * D);
      for (let i = 0; i < D; i++) out[t * D + i] += m.weightScale * weights[t * m.used + s] * y[i];
    }
  }
  return out;
}
