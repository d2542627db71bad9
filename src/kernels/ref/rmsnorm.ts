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
