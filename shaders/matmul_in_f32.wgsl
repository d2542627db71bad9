// The matmul's input for f32 x read as it is: x (T, K) f32, a storage buffer. See shaders/matmul.wgsl.
// XE, x_f, x_f4: the view of x (xView in src/kernels/matmul_shader.ts): f32, or vec4<f32> where x is read a
// quad at a time (X_VEC 4, K % 4 == 0).

@group(0) @binding(2) var<storage, read> x: array<XE>; // (T, K)

fn x_prepare(t: u32, lid: u32) {}

// x[t, k] as bits, zero past K: W is zero-padded there, but x past its row is the next token (or nothing).
fn x_word(t: u32, k: u32) -> u32 {
  return select(0u, bitcast<u32>(x_f(t * p.K + min(k, p.K - 1u))), k < p.K);
}

// Words k .. k+3 of x[t] (k % 4 == 0), zero past K: one vec4 load with X_VEC 4 (K % 4 == 0), else word by word.
fn x_quad(t: u32, k: u32) -> vec4<u32> {
  if (X_VEC == 4u) { return select(vec4<u32>(), bitcast<vec4<u32>>(x_f4(t * p.K + min(k, p.K - 4u))), k < p.K); }
  return vec4<u32>(x_word(t, k), x_word(t, k + 1u), x_word(t, k + 2u), x_word(t, k + 3u));
}
