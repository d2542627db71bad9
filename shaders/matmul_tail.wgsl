// The GEMV's tail (decode, CPU adapters): what follows a GEMV in decode, run at the GEMV's end instead of in a dispatch
// of its own: the RMSNorm after a residual GEMV (o, down), into Q8_0 too where a q8/q4 matmul reads it, or the Q8_0 of
// the GLU GEMV's h for ffn_down. Every subgroup counts its lanes on tail_count after writing its rows; the one that
// counts last (all of y written) does the tail with 8 of its lanes, as the RMSNorm kernel does it (shaders/rmsnorm.wgsl
// main / main_q8, SwiGLU's quantize_q8_block: the same sums, products and Q8_0 blocks, bit for bit), and sets the count
// back to 0 for the next. By subgroup, with no barrier: a workgroup's barriers cost every workgroup a switch per SIMD
// group (SmolLM2-135M decoded 1-2% slower so than with the RMSNorm dispatches), and one invocation alone, whose loads
// lavapipe issues as an 8-lane group's, took ~22 us a tail against ~13 for the RMSNorm dispatch. SwiftShader (subgroups
// of 4, the same tail on 4 lanes) decoded 0.9-1.0x as fast with the norms' tails, 0.95x with every tail: it keeps the
// dispatches.
// The last subgroup reads what the others wrote after the atomic that tells it they are done: WGSL promises that
// ordering across workgroups nowhere, so only CPU adapters, whose workgroups are threads of one process with atomics
// that order, take it, with subgroups of 8 lanes or more (src/kernels/matmul.ts gemvTakesTail). Joined after
// shaders/matmul.wgsl with shaders/rms_lib.wgsl and shaders/q8_block.wgsl; without a tail the skeleton gets an empty
// gemv_tail (src/kernels/matmul_shader.ts).

override TAIL_NORM: bool = true; // RMS-normalise the row into tail_y; false: y as it is (the GLU GEMV's h), in Q8_0 only
override TAIL_Q8: bool = false; // the row in Q8_0 too (its consumer is a q8/q4 matmul)

@group(0) @binding(8) var<storage, read_write> tail_count: atomic<u32>;
@group(0) @binding(9) var<storage, read> tail_w: array<f32>; // (N): the norm's weight
@group(0) @binding(10) var<storage, read_write> tail_y: array<f32>; // (N): the normalised row
@group(0) @binding(11) var<storage, read_write> tail_q: array<vec4<u32>>; // (N/16): its int8 codes, 4 per u32 (TAIL_Q8)
@group(0) @binding(12) var<storage, read_write> tail_d: array<f32>; // (N/32): its block scales (TAIL_Q8)

fn rms_x(i: u32) -> f32 {
  return y[i];
}
fn rms_w(k: u32) -> f32 {
  return tail_w[k];
}

// The tail's 8 lanes' scale: rms_scale's partial sums and tree, lane l holding partials l, l + 8, ... l + 56 (the tree's
// steps 32, 16 and 8 within a lane, 4 and then 2 and 1 across lanes by shuffles).
@diagnostic(off, subgroup_uniformity)
fn tail_scale8(l: u32, n: u32, eps: f32) -> f32 {
  var q = array<f32, 8>();
  for (var m = 0u; m < 8u; m++) {
    var s = 0.0;
    for (var i = l + 8u * m; i < n; i += RMS_LANES) {
      let a = rms_x(i);
      s += a * a;
    }
    q[m] = s;
  }
  for (var m = 0u; m < 4u; m++) { q[m] += q[m + 4u]; }
  for (var m = 0u; m < 2u; m++) { q[m] += q[m + 2u]; }
  let s8 = q[0] + q[1]; // partial l (< 8) after the tree's steps of 32, 16 and 8
  let s4 = s8 + subgroupShuffle(s8, (l + 4u) & 7u); // lanes 0-3: partials 0-3 of the tree's last vec4
  let t = s4 + subgroupShuffle(s4, (l + 2u) & 7u); // (x + z), (y + w) in lanes 0, 1
  let total = t + subgroupShuffle(t, (l + 1u) & 7u);
  return 1.0 / sqrt(subgroupBroadcast(total, 0u) / f32(n) + eps);
}

// Called by every invocation of the dispatch (one token's), after its outputs; `groups`: the dispatch's workgroups.
@diagnostic(off, subgroup_uniformity)
fn gemv_tail(groups: u32) {
  let l = subgroup_lane();
  let lanes = subgroupAdd(1u);
  var before = 0u;
  if (l == 0u) { before = atomicAdd(&tail_count, lanes); }
  if (subgroupBroadcast(before, 0u) + lanes != groups * WG) { return; }
  let n = select(p.N, p.N / 2u, p.glu != 0u); // y's row: the GLU GEMV's is h
  var scale = 1.0;
  if (TAIL_NORM) { scale = tail_scale8(l, n, p.eps); }
  if (l >= 8u) { return; }
  if (!TAIL_Q8) {
    for (var i = l; i < n; i += 8u) { tail_y[i] = y[i] * scale * tail_w[i]; }
  } else {
    for (var b = l; b < n / 32u; b += 8u) {
      var v: array<vec4<f32>, 8>;
      if (TAIL_NORM) {
        v = rms_block(0u, b * 32u, scale);
        for (var j = 0u; j < 8u; j++) {
          let i = b * 32u + 4u * j;
          tail_y[i] = v[j].x; tail_y[i + 1u] = v[j].y; tail_y[i + 2u] = v[j].z; tail_y[i + 3u] = v[j].w;
        }
      } else {
        for (var j = 0u; j < 8u; j++) {
          let i = b * 32u + 4u * j;
          v[j] = vec4<f32>(y[i], y[i + 1u], y[i + 2u], y[i + 3u]);
        }
      }
      let qb = quantize_q8_block(v);
      tail_q[2u * b] = qb.q0;
      tail_q[2u * b + 1u] = qb.q1;
      tail_d[b] = qb.d;
    }
  }
  if (l == 0u) { atomicStore(&tail_count, 0u); }
}
