// The matmul's input for f32 x that RMSNorm feeds (decode): the GEMV reads the un-normalised row and
// normalises each word as it reads it, x * scale * nw (the RMSNorm kernel's product, in its order), with
// the row's scale computed in the prologue by every workgroup (shaders/rms_lib.wgsl, the RMSNorm
// kernel's sums): one dispatch fewer, and the normalised row is never stored. One token per workgroup
// (the GEMV). See shaders/matmul.wgsl. XE, x_f, x_f4, nw_f, nw_f4: the view of x and nw, as in
// shaders/matmul_in_f32.wgsl.

@group(0) @binding(2) var<storage, read> x: array<XE>; // (T, K): the residual stream, not normalised
@group(0) @binding(3) var<storage, read> nw: array<XE>; // (K): the RMSNorm weight

var<private> x_rms: f32; // 1 / sqrt(mean(x[t]^2) + eps) of this workgroup's token

fn rms_x(i: u32) -> f32 {
  return x_f(i);
}
fn rms_w(k: u32) -> f32 {
  return nw_f(k);
}

fn x_prepare(t: u32, lid: u32) {
  x_rms = rms_scale(t * p.K, p.K, p.eps, lid, WG);
}

// Normalised x[t, k] as bits, zero past K.
fn x_word(t: u32, k: u32) -> u32 {
  let kc = min(k, p.K - 1u);
  return select(0u, bitcast<u32>(x_f(t * p.K + kc) * x_rms * nw_f(kc)), k < p.K);
}

// Words k .. k+3 (k % 4 == 0), zero past K: vec4 loads with X_VEC 4 (K % 4 == 0), else word by word.
fn x_quad(t: u32, k: u32) -> vec4<u32> {
  if (X_VEC == 4u) {
    let kc = min(k, p.K - 4u);
    return select(vec4<u32>(), bitcast<vec4<u32>>(x_f4(t * p.K + kc) * x_rms * nw_f4(kc)), k < p.K);
  }
  return vec4<u32>(x_word(t, k), x_word(t, k + 1u), x_word(t, k + 2u), x_word(t, k + 3u));
}
