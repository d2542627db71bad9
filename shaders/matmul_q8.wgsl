// matmul_q8: y[t, n] (+)= sum_k W[n, k] * x[t, k] (+ bias[n]), int8 weights with one scale d_w per
// group of `group` weights along a row: 32 (GGUF's Q8_0, the int8-g32 scheme) or the whole row (int8).
// llama.cpp's numerics: x is quantized to Q8_0 first (matmul_quantize_x), then per 32-block
//   y += f32(sumi) * (d_w * d_x),   sumi = sum of int8 * int8, exact,
// summed over blocks in f32, d_w being the scale of the block's group (one group is whole 32-blocks).
// A block is never split across lanes, so sumi stays one exact integer.
//
// Entry points (all share the bindings below):
//   rows        R rows x TT tokens per invocation, each invocation alone to the end of K: no
//               cross-lane reduction, no workgroup memory. For CPU SIMD (lavapipe, SwiftShader), where
//               every lane's load (buffer or workgroup memory) is issued on its own: decode (TT = 1) and
//               prefill (TT = 4: each weight loaded once for 4 tokens) both.
//   gemv_split  decode on GPUs: a workgroup of WG lanes shares out the blocks of R rows, then reduces
//               (neighbouring lanes read neighbouring blocks; enough workgroups even for small N).
//   gemm        prefill on GPUs: TM x TN tiles (tokens x rows), 4 x 4 outputs per invocation, one 32-block of
//               x and W (codes and scales) per stage in workgroup memory.
// The variant header (prepended by the TS side) defines dot4i8 (dot4I8Packed or bit operations),
// subgroup_lane and share4 (rows' x loads, shared through subgroups or not) and lanes_partial /
// lanes_stride (subgroupAdd or not).

// WG, R, TT, TM, TN, MatmulParams, clamp_rows, finish and reduce_finish: shaders/matmul_common.wgsl, put in front at load.

@group(0) @binding(0) var<uniform> p: MatmulParams;
// Step (n_tokens, pos, sampling settings) is declared once, in src/gpu/step.ts, and put in front at load.
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> xq: array<u32>; // (T, K/4): int8 x, 4 per u32, from matmul_quantize_x
@group(0) @binding(3) var<storage, read> xd: array<f32>; // (T, K/32): x block scales (f16 values)
@group(0) @binding(4) var<storage, read> w: array<vec4<u32>>; // (rows, K/16): int8 codes, 4 per u32, this chunk
@group(0) @binding(5) var<storage, read> wd: array<f32>; // (rows, groups): weight scales, this chunk
@group(0) @binding(6) var<storage, read> bias: array<f32>; // (N); a dummy unless has_bias
@group(0) @binding(7) var<storage, read_write> y: array<f32>; // (T, N)

fn dot16(a: vec4<u32>, b: vec4<u32>) -> i32 {
  return dot4i8(a.x, b.x) + dot4i8(a.y, b.y) + dot4i8(a.z, b.z) + dot4i8(a.w, b.w);
}

// Word k of token t's row of quantized x (4 int8).
fn x_word(t: u32, k: u32) -> u32 {
  return xq[t * (p.K / 4u) + k];
}

fn x_words4(t: u32, k: u32) -> vec4<u32> {
  return vec4<u32>(x_word(t, k), x_word(t, k + 1u), x_word(t, k + 2u), x_word(t, k + 3u));
}

@compute @workgroup_size(WG)
fn rows(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let nt = step.n_tokens;
  // This invocation's tokens: t0 .. t0+TT-1 (from workgroup_id: uniform, as subgroup operations need).
  let t0 = wid.y * TT;
  if (t0 >= nt) { return; }
  let lane = subgroup_lane();
  let nb = p.K / 32u;
  let gb = p.group / 32u; // blocks per scale group
  let r0 = gid.x * R;
  let rows4 = clamp_rows(r0);
  let rb = rows4 * nb; // first block of each row
  let rg = rows4 * p.groups; // first scale of each row
  var acc: array<vec4<f32>, 4>; // [token][row]
  var dw = vec4<f32>(); // R rows' scales for the current group (reloaded as a block starts a group)
  var g = 0u;
  var left = 0u; // blocks left in the current group
  for (var b = 0u; b < nb; b++) {
    if (left == 0u) {
      for (var r = 0u; r < R; r++) { dw[r] = wd[rg[r] + g]; }
      g += 1u;
      left = gb;
    }
    left -= 1u;
    // This block's exact integer sums [token][row], half a block (16 codes) of R rows at a time in
    // registers, used for TT tokens. Zeroed explicitly: under Dawn + lavapipe a loop-body `var`
    // without initializer kept the previous iteration's value.
    var isum = array<vec4<i32>, 4>(vec4<i32>(0), vec4<i32>(0), vec4<i32>(0), vec4<i32>(0));
    for (var h = 0u; h < 2u; h++) {
      var wq: array<vec4<u32>, 4>;
      for (var r = 0u; r < R; r++) { wq[r] = w[2u * (rb[r] + b) + h]; }
      for (var i = 0u; i < TT; i++) {
        // tokens past the end repeat the last one (not stored): every lane runs the same code
        let xv = share4(min(t0 + i, nt - 1u), 8u * b + 4u * h, lane);
        for (var r = 0u; r < R; r++) { isum[i][r] += dot16(wq[r], xv); }
      }
    }
    for (var i = 0u; i < TT; i++) {
      acc[i] += vec4<f32>(isum[i]) * (dw * xd[min(t0 + i, nt - 1u) * nb + b]);
    }
  }
  for (var i = 0u; i < TT; i++) {
    for (var r = 0u; r < R; r++) {
      if (t0 + i < nt && r0 + r < p.rows) { finish(t0 + i, r0 + r, acc[i][r]); }
    }
  }
}

@compute @workgroup_size(WG)
fn gemv_split(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = wid.y;
  if (t >= step.n_tokens) { return; }
  let nb = p.K / 32u;
  let gb = p.group / 32u; // blocks per scale group
  let r0 = wid.x * R;
  let rows4 = clamp_rows(r0);
  let rb = rows4 * nb;
  let rg = rows4 * p.groups;
  let xb = t * nb;
  var acc = vec4<f32>();
  for (var b = lid; b < nb; b += WG) {
    let x0 = x_words4(t, 8u * b);
    let x1 = x_words4(t, 8u * b + 4u);
    let dx = xd[xb + b];
    let g = b / gb;
    for (var r = 0u; r < R; r++) {
      let i = rb[r] + b;
      let s = dot16(w[2u * i], x0) + dot16(w[2u * i + 1u], x1);
      acc[r] += f32(s) * (wd[rg[r] + g] * dx);
    }
  }
  reduce_finish(t, r0, acc, lid);
}

// gemm tiles of one 32-block: 4 consecutive tokens (rows) per vec4, word-major, so the inner loop reads
// one vec4 of x and one of W per word for 16 dot4 (every workgroup-memory access is a gather on CPU SIMD).
var<workgroup> xt: array<vec4<u32>, 8u * (TM / 4u)>; // [word][token / 4]
var<workgroup> wt: array<vec4<u32>, 8u * (TN / 4u)>; // [word][row / 4]
var<workgroup> xdt: array<vec4<f32>, TM / 4u>;
var<workgroup> wdt: array<vec4<f32>, TN / 4u>;

@compute @workgroup_size(TM / 4u * (TN / 4u))
fn gemm(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let nt = step.n_tokens;
  let n0 = wid.x * TN;
  let t0 = wid.y * TM;
  if (t0 >= nt) { return; }
  let NT = TM / 4u * (TN / 4u);
  // This invocation's outputs: tokens t0 + 4*tm + i, rows n0 + 4*tn + j (i, j < 4).
  let tm = lid % (TM / 4u);
  let tn = lid / (TM / 4u);
  let nb = p.K / 32u;
  let gb = p.group / 32u; // blocks per scale group
  var acc: array<vec4<f32>, 4>; // [token i][row j]
  for (var b = 0u; b < nb; b++) {
    // x: one word of 4 tokens per step, and the tokens' scales. Tokens past the end load zero codes
    // (their scales are clamped: finite, unused); rows past the chunk the same.
    for (var i = lid; i < 8u * (TM / 4u); i += NT) {
      let m = i % (TM / 4u);
      var v: vec4<u32>;
      for (var c = 0u; c < 4u; c++) {
        let t = t0 + 4u * m + c;
        v[c] = select(0u, x_word(min(t, nt - 1u), 8u * b + i / (TM / 4u)), t < nt);
      }
      xt[i] = v;
    }
    for (var i = lid; i < TM / 4u; i += NT) {
      var d: vec4<f32>;
      for (var c = 0u; c < 4u; c++) { d[c] = xd[min(t0 + 4u * i + c, nt - 1u) * nb + b]; }
      xdt[i] = d;
    }
    for (var i = lid; i < TN / 4u; i += NT) {
      var d: vec4<f32>;
      for (var c = 0u; c < 4u; c++) { d[c] = wd[min(n0 + 4u * i + c, p.rows - 1u) * p.groups + b / gb]; }
      wdt[i] = d;
    }
    // W: half a block (4 words) of 4 rows per step, transposed into 4 vec4 of rows
    for (var i = lid; i < 2u * (TN / 4u); i += NT) {
      let n = i % (TN / 4u);
      let h = i / (TN / 4u);
      var q: array<vec4<u32>, 4>;
      for (var c = 0u; c < 4u; c++) {
        let r = n0 + 4u * n + c;
        q[c] = select(vec4<u32>(0u), w[(min(r, p.rows - 1u) * nb + b) * 2u + h], r < p.rows);
      }
      for (var c = 0u; c < 4u; c++) { wt[(4u * h + c) * (TN / 4u) + n] = vec4<u32>(q[0][c], q[1][c], q[2][c], q[3][c]); }
    }
    workgroupBarrier();
    // This block's exact integer sums [token i][row j]. Zeroed explicitly: under Dawn + lavapipe a
    // loop-body `var` without initializer kept the previous iteration's value.
    var isum = array<vec4<i32>, 4>(vec4<i32>(0), vec4<i32>(0), vec4<i32>(0), vec4<i32>(0));
    for (var j = 0u; j < 8u; j++) {
      let xv = xt[j * (TM / 4u) + tm];
      let wv = wt[j * (TN / 4u) + tn];
      for (var i = 0u; i < 4u; i++) {
        isum[i] += vec4<i32>(dot4i8(xv[i], wv.x), dot4i8(xv[i], wv.y), dot4i8(xv[i], wv.z), dot4i8(xv[i], wv.w));
      }
    }
    let dw = wdt[tn];
    let dx = xdt[tm];
    for (var i = 0u; i < 4u; i++) { acc[i] += vec4<f32>(isum[i]) * (dw * dx[i]); }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    for (var j = 0u; j < 4u; j++) {
      let t = t0 + 4u * tm + i;
      let r = n0 + 4u * tn + j;
      if (t < nt && r < p.rows) { finish(t, r, acc[i][j]); }
    }
  }
}
