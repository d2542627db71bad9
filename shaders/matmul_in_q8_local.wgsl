// The matmul's input for Q8_0 x quantized in the GEMV's own prologue (decode): each workgroup reads its
// token's f32 row, RMS-normalises it first when p.x_norm is 1 (shaders/rms_lib.wgsl: the RMSNorm
// kernel's sums and products), and quantizes it into workgroup memory with quantize_q8_block's steps
// (shaders/q8_block.wgsl): the same codes and scales bit for bit, without the dispatch that wrote them
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

// A word (4 codes) a lane, all lanes at once: each block's 8 lanes find the largest |value| of their 32 (every lane then
// has the block's scale, the same bits as quantize_q8_block's: a maximum is a maximum in any order) and write their
// codes. Where every subgroup has 8 lanes or more (BLOCK_MAX_BY_LANES) the 8 lanes' maximum is a butterfly of shuffles
// (lanes_block_max) and a turn has no barrier: its loads need not wait for the last turn's; elsewhere each lane leaves
// its maximum in the word it will fill and reads the block's 8 after a barrier, and writes its codes after another. A
// lane a block ran its 32 values and two exact divisions alone, 64 of 256 lanes busy at K = 2,048 (bench/gemv_lab:
// ~2-5 us a workgroup on an H200).
fn x_prepare(t: u32, lid: u32) {
  let base = t * p.K;
  var scale = 1.0;
  if (p.x_norm != 0u) { scale = rms_scale(base, p.K, p.eps, lid, WG); }
  let words = p.K / 4u;
  for (var w0 = 0u; w0 < words; w0 += WG) { // uniform: the shuffles and barriers below
    let j = w0 + lid; // w0 and WG are multiples of 8: a block's words are 8 consecutive lanes
    let jc = min(j, words - 1u);
    let k = 4u * jc;
    let i = base + k;
    var v = vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
    if (p.x_norm != 0u) { v = rms_quad(i, k, scale); }
    let a = abs(v);
    let own = max(max(a.x, a.y), max(a.z, a.w));
    let b = jc >> 3u; // the block
    var s: vec2<f32>;
    if (BLOCK_MAX_BY_LANES) {
      s = q8_scale(lanes_block_max(own));
    } else {
      if (j < words) { xq_local[j >> 2u][j & 3u] = bitcast<u32>(own); }
      workgroupBarrier();
      let m = max(bitcast<vec4<f32>>(xq_local[2u * b]), bitcast<vec4<f32>>(xq_local[2u * b + 1u]));
      s = q8_scale(max(max(m.x, m.y), max(m.z, m.w)));
      workgroupBarrier();
    }
    if (j < words) {
      xq_local[j >> 2u][j & 3u] = q8_word(v, s.y);
      if ((j & 7u) == 0u) { xd_local[b] = q8_stored_scale(s.x); }
    }
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
