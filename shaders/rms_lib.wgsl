// RMSNorm's scale of one row, 1 / sqrt(mean(x^2) + eps), for every kernel that normalises (the RMSNorm
// kernel, and the matmul prologues that normalise x as they read it). Written once so the sums run in
// one order everywhere: RMS_LANES partial sums (partial v sums elements v, v + RMS_LANES, ...), then a
// tree; a workgroup of any size computes them, so a fused GEMV's x is bit for bit the RMSNorm kernel's.
// A library, no bindings: the includer defines rms_x(i), element i of the x it normalises, and rms_w(k),
// the norm's weight k. Call rms_scale from uniform control flow with every invocation of the workgroup
// (it has barriers).

const RMS_LANES: u32 = 64u;

var<workgroup> rms_partial: array<vec4<f32>, RMS_LANES / 4u>; // partial v at [v / 4][v % 4]

// lid: the invocation's index in the workgroup; lanes: invocations in the workgroup.
fn rms_scale(base: u32, dim: u32, eps: f32, lid: u32, lanes: u32) -> f32 {
  for (var v = lid; v < RMS_LANES; v += lanes) {
    var s = 0.0;
    var i = v;
    // 8 loads in flight, then summed in order: a loop of dependent loads waited for each on a GPU (an H200's fused
    // GEMV of K = 8,192 spent ~35 us in its prologue). Two vec4s, no array: SwiftShader keeps arrays in memory.
    for (; i + 7u * RMS_LANES < dim; i += 8u * RMS_LANES) {
      let j = base + i;
      let a = vec4<f32>(rms_x(j), rms_x(j + RMS_LANES), rms_x(j + 2u * RMS_LANES), rms_x(j + 3u * RMS_LANES));
      let b = vec4<f32>(rms_x(j + 4u * RMS_LANES), rms_x(j + 5u * RMS_LANES), rms_x(j + 6u * RMS_LANES), rms_x(j + 7u * RMS_LANES));
      s += a.x * a.x;
      s += a.y * a.y;
      s += a.z * a.z;
      s += a.w * a.w;
      s += b.x * b.x;
      s += b.y * b.y;
      s += b.z * b.z;
      s += b.w * b.w;
    }
    for (; i < dim; i += RMS_LANES) {
      let a = rms_x(base + i);
      s += a * a;
    }
    rms_partial[v >> 2u][v & 3u] = s;
  }
  workgroupBarrier();
  // The tree by one invocation: the order of a parallel tree, with 2 barriers instead of log2(RMS_LANES) + 1
  // (every barrier costs a CPU-SIMD device a switch per SIMD group, and each fused GEMV workgroup pays it).
  // As vec4s (v = 4i + c) the tree's strides 32, 16, 8 and 4 are whole vec4s and 2 and 1 their components: the same
  // adds in the same order, 15 vector steps where 63 scalar ones each waited for the last.
  if (lid == 0u) {
    for (var n = RMS_LANES / 8u; n > 0u; n /= 2u) {
      for (var i = 0u; i < n; i++) { rms_partial[i] += rms_partial[i + n]; }
    }
    let q = rms_partial[0];
    rms_partial[0].x = (q.x + q.z) + (q.y + q.w);
  }
  workgroupBarrier();
  return 1.0 / sqrt(rms_partial[0].x / f32(dim) + eps);
}

// Elements i .. i+3 of x (weights k .. k+3 of the norm), normalised: x * scale * w, in that order.
fn rms_quad(i: u32, k: u32, scale: f32) -> vec4<f32> {
  return vec4<f32>(
    rms_x(i) * scale * rms_w(k),
    rms_x(i + 1u) * scale * rms_w(k + 1u),
    rms_x(i + 2u) * scale * rms_w(k + 2u),
    rms_x(i + 3u) * scale * rms_w(k + 3u),
  );
}

// Elements k0 .. k0+31 of the row at base, normalised, for a Q8_0 block.
fn rms_block(base: u32, k0: u32, scale: f32) -> array<vec4<f32>, 8> {
  var v: array<vec4<f32>, 8>;
  for (var j = 0u; j < 8u; j++) { v[j] = rms_quad(base + k0 + 4u * j, k0 + 4u * j, scale); }
  return v;
}
