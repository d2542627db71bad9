/**
 * CPU references of the per-layer kernels (embedding, RoPE + KV write, attention, SwiGLU) in plain
 * TypeScript with no GPU imports. Layouts match the shaders; see each kernel's WGSL for the why.
 */

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

/** Rotates q (in place, within qkv) and writes rotated k and v into the caches at pos..pos+T. */
export function ropeRef(s: RopeShape, invFreq: Float32Array, qkv: Float32Array, T: number, pos: number, kCache: Float32Array, vCache: Float32Array): void {
  const qDim = s.nHead * s.headDim;
  const kvDim = s.nKv * s.headDim;
  const row = qDim + 2 * kvDim;
  const half = s.nRot / 2;
  for (let t = 0; t < T; t++) {
    const p = pos + t;
    for (let h = 0; h < s.nHead + s.nKv; h++) {
      const base = t * row + h * s.headDim;
      const out = new Float32Array(s.headDim);
      for (let e = 0; e < s.headDim; e++) out[e] = qkv[base + e];
      for (let j = 0; j < half; j++) {
        const [a, b] = s.neox ? [j, j + half] : [2 * j, 2 * j + 1];
        const th = Math.fround(p * invFreq[j]);
        const c = Math.cos(th), sn = Math.sin(th);
        out[a] = qkv[base + a] * c - qkv[base + b] * sn;
        out[b] = qkv[base + a] * sn + qkv[base + b] * c;
      }
      if (h < s.nHead) qkv.set(out, base);
      else {
        const kh = h - s.nHead;
        kCache.set(out, p * kvDim + kh * s.headDim);
        const vsrc = t * row + qDim + kvDim + kh * s.headDim;
        vCache.set(qkv.subarray(vsrc, vsrc + s.headDim), p * kvDim + kh * s.headDim);
      }
    }
  }
}

/** Causal GQA attention of T queries (at pos..pos+T) over the caches. Returns (T, q_dim). */
export function attentionRef(s: { nHead: number; nKv: number; headDim: number }, qkv: Float32Array, T: number, pos: number, kCache: Float32Array, vCache: Float32Array): Float32Array {
  const hd = s.headDim;
  const qDim = s.nHead * hd;
  const kvDim = s.nKv * hd;
  const out = new Float32Array(T * qDim);
  const scale = 1 / Math.sqrt(hd);
  for (let t = 0; t < T; t++) {
    const n = pos + t + 1;
    for (let h = 0; h < s.nHead; h++) {
      const kvh = Math.floor(h / (s.nHead / s.nKv));
      const q = qkv.subarray(t * (qDim + 2 * kvDim) + h * hd, t * (qDim + 2 * kvDim) + (h + 1) * hd);
      const sc = new Float64Array(n);
      let m = -Infinity;
      for (let j = 0; j < n; j++) {
        let d = 0;
        for (let e = 0; e < hd; e++) d += q[e] * kCache[j * kvDim + kvh * hd + e];
        sc[j] = d * scale;
        m = Math.max(m, sc[j]);
      }
      let l = 0;
      for (let j = 0; j < n; j++) l += (sc[j] = Math.exp(sc[j] - m));
      for (let e = 0; e < hd; e++) {
        let a = 0;
        for (let j = 0; j < n; j++) a += sc[j] * vCache[j * kvDim + kvh * hd + e];
        out[t * qDim + h * hd + e] = a / l;
      }
    }
  }
  return out;
}

/** h = silu(gate) * up from the fused (T, 2*nFf) gate|up rows. */
export function swigluRef(gateUp: Float32Array, T: number, nFf: number): Float32Array {
  const h = new Float32Array(T * nFf);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < nFf; i++) {
      const g = gateUp[t * 2 * nFf + i];
      h[t * nFf + i] = (g / (1 + Math.exp(-g))) * gateUp[t * 2 * nFf + nFf + i];
    }
  }
  return h;
}

/** Per-head RMSNorm of the Q and K heads of each fused QKV row, in place. */
export function qkNormRef(s: { nHead: number; nKv: number; headDim: number }, qkv: Float32Array, T: number, qW: Float32Array, kW: Float32Array, eps: number): void {
  const hd = s.headDim;
  const row = (s.nHead + 2 * s.nKv) * hd;
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < s.nHead + s.nKv; h++) {
      const base = t * row + h * hd;
      let ss = 0;
      for (let i = 0; i < hd; i++) ss += qkv[base + i] * qkv[base + i];
      const scale = 1 / Math.sqrt(ss / hd + eps);
      const w = h < s.nHead ? qW : kW;
      for (let i = 0; i < hd; i++) qkv[base + i] = qkv[base + i] * scale * w[i];
    }
  }
}
