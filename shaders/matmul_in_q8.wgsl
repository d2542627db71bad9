// The matmul's input for Q8_0 x already quantized, by matmul_quantize_x or by x's producer (RMSNorm,
// SwiGLU): codes and block scales in storage buffers. See shaders/matmul.wgsl.

@group(0) @binding(2) var<storage, read> xq: array<u32>; // (T, K/4): int8 x, 4 per u32
@group(0) @binding(3) var<storage, read> xd: array<f32>; // (T, K/32): x block scales (f16 values)

fn x_prepare(t: u32, lid: u32) {}

fn x_word(t: u32, k: u32) -> u32 {
  return xq[t * k_words() + k];
}

fn x_scale(t: u32, b: u32) -> f32 {
  return xd[t * k_blocks32() + b];
}

// Words k .. k+3 (k % 4 == 0; K is whole 32-blocks), word by word.
fn x_quad(t: u32, k: u32) -> vec4<u32> {
  return vec4<u32>(x_word(t, k), x_word(t, k + 1u), x_word(t, k + 2u), x_word(t, k + 3u));
}
