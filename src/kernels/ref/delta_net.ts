import { deltaConvDim, deltaInProj, deltaKeyDim, deltaValueDim, type DeltaShape } from '../../model/delta_shape.ts';

/**
 * A Gated DeltaNet mixer (shaders/delta_net.wgsl after ssm.wgsl's convolution) over tokens 0..T-1 from state0 (zero
 * when absent), in f64 then rounded, as transformers' Qwen3_5GatedDeltaNet computes it in its recurrent form:
 * y (T, valueDim) the gated norm's output of each token, state (nVHead, headKDim, headVDim) the state after the last.
 * The convolution reads zeros before position 0. `perHead`: A (= -exp(A_log)), dt_bias of each v head.
 */
export function deltaNetRef(
  s: DeltaShape, inProj: Float32Array, T: number, convW: Float32Array, perHead: Float32Array, normW: Float32Array,
  eps: number, state0?: Float64Array,
): { y: Float32Array; state: Float64Array } {
  const keyDim = deltaKeyDim(s), valueDim = deltaValueDim(s), convDim = deltaConvDim(s), width = deltaInProj(s);
  const dk = s.headKDim, dv = s.headVDim, taps = s.convKernel;
  const silu = (v: number) => v / (1 + Math.exp(-v));
  const qkv = new Float64Array(T * convDim);
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < convDim; c++) {
      let acc = 0;
      for (let k = 0; k < taps; k++) {
        const q = t - (taps - 1) + k;
        if (q >= 0) acc += convW[c * taps + k] * inProj[q * width + valueDim + c];
      }
      qkv[t * convDim + c] = silu(acc);
    }
  }
  const state = state0 ? state0.slice() : new Float64Array(s.nVHead * dk * dv);
  const y = new Float32Array(T * valueDim);
  const o = new Float64Array(dv);
  for (let h = 0; h < s.nVHead; h++) {
    const hk = s.vTiled ? h % s.nKHead : Math.floor(h / (s.nVHead / s.nKHead));
    const S = state.subarray(h * dk * dv, (h + 1) * dk * dv); // S[i][j] at i dv + j
    for (let t = 0; t < T; t++) {
      const row = t * convDim;
      const q = unit(qkv.subarray(row + hk * dk, row + hk * dk + dk), 1 / Math.sqrt(dk));
      const k = unit(qkv.subarray(row + keyDim + hk * dk, row + keyDim + hk * dk + dk), 1);
      const v = qkv.subarray(row + 2 * keyDim + h * dv, row + 2 * keyDim + h * dv + dv);
      const b = inProj[t * width + valueDim + convDim + h], a = inProj[t * width + valueDim + convDim + s.nVHead + h];
      const beta = 1 / (1 + Math.exp(-b));
      const x = a + perHead[s.nVHead + h];
      const decay = Math.exp(perHead[h] * (x > 20 ? x : Math.log1p(Math.exp(x))));
      for (let i = 0; i < dk * dv; i++) S[i] *= decay;
      for (let j = 0; j < dv; j++) {
        let mem = 0;
        for (let i = 0; i < dk; i++) mem += S[i * dv + j] * k[i];
        const delta = (v[j] - mem) * beta;
        o[j] = 0;
        for (let i = 0; i < dk; i++) {
          S[i * dv + j] += k[i] * delta;
          o[j] += S[i * dv + j] * q[i];
        }
      }
      let ms = 0;
      for (let j = 0; j < dv; j++) ms += o[j] * o[j];
      const r = 1 / Math.sqrt(ms / dv + eps);
      for (let j = 0; j < dv; j++) {
        y[t * valueDim + h * dv + j] = o[j] * r * normW[j] * silu(inProj[t * width + h * dv + j]); // z of column j
      }
    }
  }
  return { y, state };
}

/** x scaled to unit length (l2norm's eps 1e-6 under the root), then by `scale`. */
function unit(x: Float64Array, scale: number): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const r = scale / Math.sqrt(ss + 1e-6);
  return x.map((v) => v * r);
}
