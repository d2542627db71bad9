// RMSNorm into Q8_0 a word a lane, for CPU adapters with subgroups of 8 (src/kernels/rmsnorm.ts puts it after
// shaders/rmsnorm.wgsl there): main_q8's bits (the same partial sums, tree, products and blocks) with x, w and y read
// and written a vec4 at a time and a block's 8 words in 8 neighbouring lanes, its maximum by shuffles. lavapipe issues
// every lane's load on its own, so a vec4 is a quarter of the loads, and neighbouring lanes' words where main_q8's lane
// a block spread each load over 8 blocks: a 128-token pass's RMSNorm + Q8_0 (D = 576) 471 against 926 us.

@group(0) @binding(5) var<storage, read_write> yq_words: array<u32>; // (T, dim/4): int8 codes, 4 per u32

@compute @workgroup_size(WG)
fn main_q8_words(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = wg.x;
  if (t >= step.n_tokens) { return; }
  let words = p.dim / 4u;
  let q0 = t * words;
  let scale = rms_scale_quads(q0, p.dim, p.eps, lid, WG);
  for (var w0 = 0u; w0 < words; w0 += WG) { // uniform: the shuffles; WG is a multiple of 8, so a block is 8 lanes
    let j = w0 + lid;
    let jc = min(j, words - 1u);
    let v = x_quads[q0 + jc] * scale * w_quads[jc];
    let a = abs(v);
    var m = max(max(a.x, a.y), max(a.z, a.w));
    m = max(m, subgroupShuffleXor(m, 1u));
    m = max(m, subgroupShuffleXor(m, 2u));
    m = max(m, subgroupShuffleXor(m, 4u));
    let s = q8_scale(m);
    if (j < words) {
      y_quads[q0 + j] = v;
      yq_words[q0 + j] = q8_word(v, s.y);
      if ((j & 7u) == 0u) { yd[q0 / 8u + j / 8u] = q8_stored_scale(s.x); }
    }
  }
}
