// The matmul's input for f32 x read as it is: x (T, K) f32, a storage buffer. See shaders/matmul.wgsl.

@group(0) @binding(2) var<storage, read> x: array<f32>; // (T, K)

fn x_prepare(t: u32, lid: u32) {}

// x[t, k] as bits, zero past K: W is zero-padded there, but x past its row is the next token (or nothing).
fn x_word(t: u32, k: u32) -> u32 {
  return select(0u, bitcast<u32>(x[t * p.K + min(k, p.K - 1u)]), k < p.K);
}
