// The matmul's input for f32 x that RMSNorm feeds (decode): the GEMV reads the un-normalised row and
// normalises each word as it reads it, x * scale * nw (the RMSNorm kernel's product, in its order), with
// the row's scale computed in the prologue by every workgroup (shaders/rms_lib.wgsl, the RMSNorm
// kernel's sums): one dispatch fewer, and the normalised row is never stored. One token per workgroup
// (the GEMV). See shaders/matmul.wgsl.

@group(0) @binding(2) var<storage, read> x: array<f32>; // (T, K): the residual stream, not normalised
@group(0) @binding(3) var<storage, read> nw: array<f32>; // (K): the RMSNorm weight

var<private> x_rms: f32; // 1 / sqrt(mean(x[t]^2) + eps) of this workgroup's token

fn rms_x(i: u32) -> f32 {
  return x[i];
}
fn rms_w(k: u32) -> f32 {
  return nw[k];
}

fn x_prepare(t: u32, lid: u32) {
  x_rms = rms_scale(t * p.K, p.K, p.eps, lid, WG);
}

// Normalised x[t, k] as bits, zero past K.
fn x_word(t: u32, k: u32) -> u32 {
  let kc = min(k, p.K - 1u);
  return select(0u, bitcast<u32>(x[t * p.K + kc] * x_rms * nw[kc]), k < p.K);
}
