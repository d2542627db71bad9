// RMSNorm's scale of one row, 1 / sqrt(mean(x^2) + eps), for every kernel that normalises (the RMSNorm
// kernel, and the matmul prologues that normalise x as they read it). Written once so the sums run in
// one order everywhere: RMS_LANES partial sums (partial v sums elements v, v + RMS_LANES, ...), then a
// tree; a workgroup of any size computes them, so a fused GEMV's x is bit for bit the RMSNorm kernel's.
// A library, no bindings: the includer defines rms_x(i), element i of the x it normalises, and rms_w(k),
// the norm's weight k. Call rms_scale from uniform control flow with every invocation of the workgroup
// (it has barriers).

const RMS_LANES: u32 = 64u;

var<workgroup> rms_partial: array<vec4<f32>, RMS_LANES / 4u>; // partial v at [v / 4][v % 4]

// s plus the squares of a's components, one at a time in order.
fn rms_add4(s: f32, a: vec4<f32>) -> f32 {
  var t = s;
  t += a.x * a.x;
  t += a.y * a.y;
  t += a.z * a.z;
  t += a.w * a.w;
  return t;
}

// lid: the invocation's index in the workgroup; lanes: invocations in the workgroup.
fn rms_scale(base: u32, dim: u32, eps: f32, lid: u32, lanes: u32) -> f32 {
  for (var v = lid; v < RMS_LANES; v += lanes) {
    var s = 0.0;
    var i = v;
    // 16 loads in flight, then 8, then one at a time, each group summed in order (so the same adds in the same order
    // whatever the row's length): a loop of dependent loads waited for each on a GPU (an H200's fused GEMV of K = 8,192
    // spent ~35 us in its prologue; with 8 a step still ~16 steps there). Vec4s, no array: SwiftShader keeps arrays in
    // memory.
    for (; i + 15u * RMS_LANES < dim; i += 16u * RMS_LANES) {
      let j = base + i;
      let a = vec4<f32>(rms_x(j), rms_x(j + RMS_LANES), rms_x(j + 2u * RMS_LANES), rms_x(j + 3u * RMS_LANES));
      let b = vec4<f32>(rms_x(j + 4u * RMS_LANES), rms_x(j + 5u * RMS_LANES), rms_x(j + 6u * RMS_LANES), rms_x(j + 7u * RMS_LANES));
      let c = vec4<f32>(rms_x(j + 8u * RMS_LANES), rms_x(j + 9u * RMS_LANES), rms_x(j + 10u * RMS_LANES), rms_x(j + 11u * RMS_LANES));
      let e = vec4<f32>(rms_x(j + 12u * RMS_LANES), rms_x(j + 13u * RMS_LANES), rms_x(j + 14u * RMS_LANES), rms_x(j + 15u * RMS_LANES));
      s = rms_add4(rms_add4(rms_add4(rms_add4(s, a), b), c), e);
    }
    for (; i + 7u * RMS_LANES < dim; i += 8u * RMS_LANES) {
      let j = base + i;
      let a = vec4<f32>(rms_x(j), rms_x(j + RMS_LANES), rms_x(j + 2u * RMS_LANES), rms_x(j + 3u * RMS_LANES));
      let b = vec4<f32>(rms_x(j + 4u * RMS_LANES), rms_x(j + 5u * RMS_LANES), rms_x(j + 6u * RMS_LANES), rms_x(j + 7u * RMS_LANES));
      s = rms_add4(rms_add4(s, a), b);
    }
    for (; i < dim; i += RMS_LANES) {
      let a = rms_x(base + i);
      s += a * a;
    }
    rms_partial[v >> 2u][v & 3u] = s;
  }
  return rms_tree(dim, eps, lid);
}

// The partials' tree and the scale, once every partial is in rms_partial (after the barrier it starts with).
fn rms_tree(dim: u32, eps: f32, lid: u32) -> f32 {
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
