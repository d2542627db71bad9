/**
 * CPU references of the per-layer kernels (embedding, RoPE + KV write, attention, SwiGLU) in plain
 * TypeScript with no GPU imports. Layouts match the shaders; see each kernel's WGSL for the why.
 */
import type { KvCacheType } from '../kv_layout.ts';
import { kvRoundTrip } from './kv_cache.ts';
import type { FfnAct } from '../swiglu.ts';
import { ssmConvDim, ssmInner, ssmInProj, type SsmShape } from '../../model/ssm_shape.ts';
import { packInputs, type PassInput } from '../../model/pass_inputs.ts';

/** x[t] = table[ids[t]], table already widened to f32 (vocab, dim). */
export function embeddingRef(table: Float32Array, dim: number, ids: ArrayLike<number>): Float32Array {
  const x = new Float32Array(ids.length * dim);
  for (let t = 0; t < ids.length; t++) x.set(table.subarray(ids[t] * dim, (ids[t] + 1) * dim), t * dim);
  return x;
}

export interface RopeShape {
  nHead: number;
  nKv: number;
  headDim: number;
  nRot: number;
  neox: boolean;
}

/** Frequencies as the RoPE kernel binds them (see src/model/rope_tables.ts). */
export interface RopeTableRef {
  invFreq: Float32Array; // (tables, nRot/2)
  longFrom: number; // second table when pos + T > longFrom
  mscale: number; // multiplies cos and sin
  tempBeta?: number; // q times 1 + tempBeta ln(1 + floor(pos / tempFloor)) after RoPE; tempFloor 0 or absent: off
  tempFloor?: number;
}

/**
 * Rotates q (in place, within qkv) and writes rotated k and v into the caches at pos..pos+T; the
 * caches are rings of `cacheLen` rows (position p in row p % cacheLen). They hold what a cache of
 * `kvType` reads back (values rounded to f16, or int8 / fp8 codes times the head's scale).
 */
export function ropeRef(
  s: RopeShape, table: RopeTableRef, qkv: Float32Array, T: number, pos: number, kCache: Float32Array, vCache: Float32Array,
  cacheLen = Infinity, kvType: KvCacheType = 'f32',
): void {
  const qDim = s.nHead * s.headDim;
  const kvDim = s.nKv * s.headDim;
  const row = qDim + 2 * kvDim;
  const half = s.nRot / 2;
  const invFreq = pos + T > table.longFrom ? table.invFreq.subarray(half) : table.invFreq;
  const ms = table.mscale;
  for (let t = 0; t < T; t++) {
    const p = pos + t;
    const slot = p % cacheLen;
    for (let h = 0; h < s.nHead + s.nKv; h++) {
      const base = t * row + h * s.headDim;
      const out = new Float32Array(s.headDim);
      for (let e = 0; e < s.headDim; e++) out[e] = qkv[base + e];
      for (let j = 0; j < half; j++) {
        const [a, b] = s.neox ? [j, j + half] : [2 * j, 2 * j + 1];
        const th = Math.fround(p * invFreq[j]);
        const c = Math.fround(Math.cos(th) * ms), sn = Math.fround(Math.sin(th) * ms);
        out[a] = qkv[base + a] * c - qkv[base + b] * sn;
        out[b] = qkv[base + a] * sn + qkv[base + b] * c;
      }
      if (h < s.nHead) {
        const temp = table.tempFloor ? Math.fround(1 + (table.tempBeta ?? 0) * Math.log(1 + Math.floor(p / table.tempFloor))) : 1;
        qkv.set(temp === 1 ? out : out.map((v) => v * temp), base);
      }
      else {
        const kh = h - s.nHead;
        kCache.set(kvRoundTrip(kvType, out, s.headDim), slot * kvDim + kh * s.headDim);
        const vsrc = t * row + qDim + kvDim + kh * s.headDim;
        vCache.set(kvRoundTrip(kvType, qkv.subarray(vsrc, vsrc + s.headDim), s.headDim), slot * kvDim + kh * s.headDim);
      }
    }
  }
}

export interface AttentionOptions {
  scale?: number; // multiplies q.k (default 1/sqrt(head_dim))
  window?: number; // keys pos-window+1..pos; 0 = all
  softcap?: number; // scores = cap * tanh(scores / cap); 0 = off
  cacheLen?: number; // rows of the K/V ring
  bidirectional?: boolean; // a query also sees the later keys of the pass, window - 1 of them at most
  inputs?: readonly PassInput[]; // the pass's tokens are these inputs side by side, each token's keys within its own
  relBias?: Float32Array; // (n_head, 2R + 1): added to the scaled score by key - query clamped to [-R, R] (AttentionArgs.relBias)
  // DeBERTa's terms (AttentionArgs.disentangled): `rel` (rows, 2 q_dim) Qr | Kr, `rows` debertaRows' table (R, then the
  // row of key - query r at 1 + R + r); score + scale (q_t . Kr[row] + k_j . Qr[row]), k_j from the pass's qkv (an encoder's pass from position 0)
  disentangled?: { rel: Float32Array; rows: Uint32Array };
}

/** GQA attention of T queries (at pos..pos+T) over the caches, causal unless o.bidirectional. Returns (T, q_dim). */
export function attentionRef(s: { nHead: number; nKv: number; headDim: number }, qkv: Float32Array, T: number, pos: number, kCache: Float32Array, vCache: Float32Array, o: AttentionOptions = {}): Float32Array {
  const hd = s.headDim;
  const qDim = s.nHead * hd;
  const kvDim = s.nKv * hd;
  const out = new Float32Array(T * qDim);
  const scale = o.scale ?? 1 / Math.sqrt(hd);
  const cacheLen = o.cacheLen ?? Infinity;
  const own = o.inputs && packInputs(o.inputs); // each token's input: [start, end) of the pass
  const reach = o.relBias ? (o.relBias.length / s.nHead - 1) / 2 : 0;
  const bias = (h: number, r: number) => (o.relBias ? o.relBias[h * (2 * reach + 1) + reach + Math.min(reach, Math.max(-reach, r))] : 0);
  const terms = (h: number, t: number, j: number) => {
    const d = o.disentangled!, R = d.rows[0], rowLen = qDim + 2 * kvDim;
    const at = d.rows[1 + R + Math.min(R, Math.max(-R, j - pos - t))] * 2 * qDim + h * hd;
    let c = 0;
    for (let e = 0; e < hd; e++) c += qkv[t * rowLen + h * hd + e] * d.rel[at + qDim + e] + qkv[(j - pos) * rowLen + qDim + h * hd + e] * d.rel[at + e];
    return c * scale;
  };
  for (let t = 0; t < T; t++) {
    const keys0 = o.window && pos + t + 1 > o.window ? pos + t + 1 - o.window : 0;
    const keys1 = !o.bidirectional ? pos + t + 1 : o.window ? Math.min(pos + T, pos + t + o.window) : pos + T; // one past the last key
    const first = own ? Math.max(keys0, pos + own[4 * t]) : keys0;
    const n = own ? Math.min(keys1, pos + own[4 * t + 1]) : keys1;
    for (let h = 0; h < s.nHead; h++) {
      const kvh = Math.floor(h / (s.nHead / s.nKv));
      const q = qkv.subarray(t * (qDim + 2 * kvDim) + h * hd, t * (qDim + 2 * kvDim) + (h + 1) * hd);
      const sc = new Float64Array(n - first);
      const row = (j: number) => (j % cacheLen) * kvDim + kvh * hd;
      let m = -Infinity;
      for (let j = first; j < n; j++) {
        let d = 0;
        for (let e = 0; e < hd; e++) d += q[e] * kCache[row(j) + e];
        let v = d * scale + (o.disentangled ? terms(h, t, j) : bias(h, j - (pos + t)));
        if (o.softcap) v = o.softcap * Math.tanh(v / o.softcap);
        sc[j - first] = v;
        m = Math.max(m, v);
      }
      let l = 0;
      for (let j = 0; j < sc.length; j++) l += (sc[j] = Math.exp(sc[j] - m));
      for (let e = 0; e < hd; e++) {
        let a = 0;
        for (let j = first; j < n; j++) a += sc[j - first] * vCache[row(j) + e];
        out[t * qDim + h * hd + e] = a / l;
      }
    }
  }
  return out;
}

/** x = cap * tanh(x / cap), in place (Gemma 2's final logits). */
export function softcapRef(x: Float32Array, cap: number): Float32Array {
  for (let i = 0; i < x.length; i++) x[i] = cap * Math.tanh(x[i] / cap);
  return x;
}

/** GELU, tanh approximation (PyTorch's gelu(approximate='tanh'), Gemma's gelu_pytorch_tanh). */
export const geluTanh = (g: number) => 0.5 * g * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (g + 0.044715 * g * g * g)));

/**
 * erf in double precision (JavaScript has none): its Taylor series below 3, where the terms stay under 1e3 (13 digits
 * kept), and erfc's continued fraction above, evaluated backwards from its 60th term.
 */
export function erfRef(x: number): number {
  const z = Math.abs(x);
  if (z < 3) {
    let term = z, sum = z;
    for (let n = 1; n < 100 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= (-z * z) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = z;
  for (let k = 60; k >= 1; k--) f = z + k / 2 / f; // erfc(z) = e^-z^2 / sqrt(pi) / (z + 1/2 / (z + 1 / (z + 3/2 / ...)))
  return Math.sign(x) * (1 - Math.exp(-z * z) / Math.sqrt(Math.PI) / f);
}

/** GELU by erf (PyTorch's gelu, BERT's). */
export const geluErf = (g: number) => 0.5 * g * (1 + erfRef(g / Math.SQRT2));

/** The FFN activations by name (FfnAct). */
const gluActRef = (g: number, act: FfnAct) => (act === 'silu' ? g / (1 + Math.exp(-g)) : act === 'gelu_tanh' ? geluTanh(g) : act === 'relu' ? Math.max(g, 0) : geluErf(g));

/** h = act(gate) * up from the fused (T, 2*nFf) gate|up rows: SwiGLU (silu) or GeGLU (tanh GELU); `ungated`: h = act(up) of (T, nFf) rows. */
export function swigluRef(gateUp: Float32Array, T: number, nFf: number, act: FfnAct = 'silu', ungated = false): Float32Array {
  const h = new Float32Array(T * nFf);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < nFf; i++) {
      h[t * nFf + i] = ungated ? gluActRef(gateUp[t * nFf + i], act) : gluActRef(gateUp[t * 2 * nFf + i], act) * gateUp[t * 2 * nFf + nFf + i];
    }
  }
  return h;
}

/**
 * RMSNorm of the Q and K heads of each fused QKV row, in place: per head (weights of head_dim), or with allHeads one
 * norm over all of Q and one over all of K (OLMo 2: weights of q_dim and kv_dim).
 */
export function qkNormRef(s: { nHead: number; nKv: number; headDim: number; allHeads?: boolean }, qkv: Float32Array, T: number, qW: Float32Array, kW: Float32Array, eps: number): void {
  const qDim = s.nHead * s.headDim, kvDim = s.nKv * s.headDim;
  const [qSpan, kSpan] = s.allHeads ? [qDim, kvDim] : [s.headDim, s.headDim];
  const groups: [number, number, Float32Array][] = []; // [offset in the row, length, weight]
  for (let o = 0; o < qDim; o += qSpan) groups.push([o, qSpan, qW]);
  for (let o = 0; o < kvDim; o += kSpan) groups.push([qDim + o, kSpan, kW]);
  for (let t = 0; t < T; t++) {
    for (const [offset, len, w] of groups) {
      const base = t * (qDim + 2 * kvDim) + offset;
      let ss = 0;
      for (let i = 0; i < len; i++) ss += qkv[base + i] * qkv[base + i];
      const scale = 1 / Math.sqrt(ss / len + eps);
      for (let i = 0; i < len; i++) qkv[base + i] = qkv[base + i] * scale * w[i];
    }
  }
}

/**
 * LFM2's gated short convolution of T tokens from position 0 (bcx: (T, 3D) of B, C, x): y[t][c] = C[t][c] times the
 * sum over taps k of kernel[c][k] * (B * x)[t - taps + 1 + k][c], positions before 0 being zero.
 */
export function shortConvRef(bcx: Float32Array, T: number, D: number, kernel: Float32Array, taps: number): Float32Array {
  const y = new Float32Array(T * D);
  const gated = (t: number, c: number) => bcx[t * 3 * D + c] * bcx[t * 3 * D + 2 * D + c];
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < D; c++) {
      let acc = 0;
      for (let k = 0; k < taps; k++) {
        const q = t - (taps - 1) + k;
        if (q >= 0) acc = Math.fround(acc + Math.fround(kernel[c * taps + k] * gated(q, c)));
      }
      y[t * D + c] = bcx[t * 3 * D + D + c] * acc;
    }
  }
  return y;
}

/**
 * A Mamba-2 mixer's convolution and scan (shaders/ssm.wgsl) over a whole sequence from position 0, in f64 then
 * rounded: y (T, inner) = (C.s + D x) SiLU(z) of each token, the state after the last token (inner, d_state), in_proj's
 * segments scaled by shape.inScales.
 * `perHead`: dt_bias, A, D of each head, as the kernel binds them.
 */
export function ssmRef(
  s: SsmShape, zxbcdt: Float32Array, T: number, convW: Float32Array, convB: Float32Array, perHead: Float32Array,
): { y: Float32Array; state: Float64Array } {
  const inner = ssmInner(s), convDim = ssmConvDim(s), inProj = ssmInProj(s);
  const silu = (v: number) => v / (1 + Math.exp(-v));
  const [zScale, xScale, bScale, cScale, dtScale] = s.inScales;
  const segment = (c: number) => (c < inner ? xScale : c < inner + s.nGroup * s.dState ? bScale : cScale);
  const xbc = new Float64Array(T * convDim);
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < convDim; c++) {
      let acc = convB[c];
      for (let k = 0; k < s.convKernel; k++) {
        const q = t - (s.convKernel - 1) + k;
        if (q >= 0) acc += convW[c * s.convKernel + k] * segment(c) * zxbcdt[q * inProj + inner + c];
      }
      xbc[t * convDim + c] = silu(acc);
    }
  }
  const y = new Float32Array(T * inner);
  const state = new Float64Array(inner * s.dState);
  for (let ch = 0; ch < inner; ch++) {
    const h = Math.floor(ch / s.headDim), g = Math.floor(h / (s.nHead / s.nGroup));
    for (let t = 0; t < T; t++) {
      const raw = dtScale * zxbcdt[t * inProj + inner + convDim + h] + perHead[h];
      const dt = Math.min(Math.max(raw > 20 ? raw : Math.log1p(Math.exp(raw)), s.dtMin), s.dtMax);
      const decay = Math.exp(dt * perHead[s.nHead + h]);
      const x = xbc[t * convDim + ch];
      let acc = 0;
      for (let n = 0; n < s.dState; n++) {
        const i = ch * s.dState + n;
        state[i] = state[i] * decay + dt * x * xbc[t * convDim + inner + g * s.dState + n];
        acc += state[i] * xbc[t * convDim + inner + (s.nGroup + g) * s.dState + n];
      }
      y[t * inner + ch] = (acc + perHead[2 * s.nHead + h] * x) * silu(zScale * zxbcdt[t * inProj + ch]);
    }
  }
  return { y, state };
}

/** Qwen3.5's gated attention output (shaders/attn_gate.wgsl): out * sigmoid(gate), elementwise. */
/** GPT-2's learned positions: x[t] + table[pos + t], row by row. */
export function positionsRef(x: Float32Array, table: Float32Array, dim: number, pos: number): Float32Array {
  return x.map((v, k) => v + table[pos * dim + k]);
}

export function attnGateRef(out: Float32Array, gate: Float32Array): Float32Array {
  return out.map((v, i) => v / (1 + Math.exp(-gate[i])));
}
