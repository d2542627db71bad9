// The matmul's input for Q8_0 x quantized in the GEMV's own prologue (decode): each workgroup reads its
// token's f32 row, RMS-normalises it first when p.x_norm is 1 (shaders/rms_lib.wgsl: the RMSNorm
// kernel's sums and products), and quantizes it into workgroup memory with quantize_q8_block, the
// separate kernels' code: the same codes and scales bit for bit, without the dispatch that wrote them
// to a buffer. One token per workgroup (the GEMV); K at most LOCAL_K. See shaders/matmul.wgsl.

@group(0) @binding(2) var<storage, read> x: array<f32>; // (T, K) f32
@group(0) @binding(3) var<storage, read> nw: array<f32>; // (K): the RMSNorm weight (read when p.x_norm == 1)

const LOCAL_K: u32 = 8192u; // the longest x row; src/kernels/matmul.ts keeps the same number
var<workgroup> xq_local: array<vec4<u32>, LOCAL_K / 16u>; // (K/16): int8 codes of x, 4 per u32, a piece per vec4
var<workgroup> xd_local: array<f32, LOCAL_K / 32u>; // (K/32): block scales

fn rms_x(i: u32) -> f32 {
  return x[i];
}
fn rms_w(k: u32) -> f32 {
  return nw[k];
}

fn x_prepare(t: u32, lid: u32) {
  let base = t * p.K;
  var scale = 0.0;
  if (p.x_norm != 0u) { scale = rms_scale(base, p.K, p.eps, lid, WG); }
  for (var b = lid; b < p.K / 32u; b += WG) {
    var v: array<vec4<f32>, 8>;
    if (p.x_norm != 0u) {
      v = rms_block(base, 32u * b, scale);
    } else {
      for (var j = 0u; j < 8u; j++) {
        let i = base + 32u * b + 4u * j;
        v[j] = vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
      }
    }
    let qb = quantize_q8_block(v);
    xq_local[2u * b] = qb.q0;
    xq_local[2u * b + 1u] = qb.q1;
    xd_local[b] = qb.d;
  }
  workgroupBarrier();
}

fn x_word(t: u32, k: u32) -> u32 {
  return xq_local[k >> 2u][k & 3u];
}

fn x_scale(t: u32, b: u32) -> f32 {
  return xd_local[b];
}

// Words k .. k+3 (k % 4 == 0; K is whole 32-blocks): one load (four, word by word, were four bank conflicts on a GPU).
fn x_quad(t: u32, k: u32) -> vec4<u32> {
  return xq_local[k >> 2u];
}
