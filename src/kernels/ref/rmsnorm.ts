/** CPU reference: y[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w. x: (T, dim). */
export function rmsnormRef(x: Float32Array, w: Float32Array, dim: number, eps: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let base = 0; base < x.length; base += dim) {
    let s = 0;
    for (let i = 0; i < dim; i++) s += x[base + i] * x[base + i];
    const scale = 1 / Math.sqrt(s / dim + eps);
    for (let i = 0; i < dim; i++) y[base + i] = x[base + i] * scale * w[i];
  }
  return y;
}

/** CPU reference of BERT's LayerNorm: y[t] = (v[t] - mean) / sqrt(var + eps) * w + b, the variance biased. v: (T, dim). */
export function layernormRef(v: Float32Array, w: Float32Array, b: Float32Array, dim: number, eps: number): Float32Array {
  const y = new Float32Array(v.length);
  for (let base = 0; base < v.length; base += dim) {
    let s = 0;
    for (let i = 0; i < dim; i++) s += v[base + i];
    const mean = s / dim;
    let q = 0;
    for (let i = 0; i < dim; i++) q += (v[base + i] - mean) ** 2;
    const inv = 1 / Math.sqrt(q / dim + eps);
    for (let i = 0; i < dim; i++) y[base + i] = (v[base + i] - mean) * inv * w[i] + b[i];
  }
  return y;
}
