// matmul_f32: y[t, n] (+)= sum_k W[n, k] * x[t, k] (+ bias[n]), f32 weights, a plain f32 dot (as llama.cpp).
//
// Entry points (all share the bindings below):
//   rows        R rows x TT tokens per invocation, each invocation alone to the end of K: no
//               cross-lane reduction, no workgroup memory. For CPU SIMD (lavapipe, SwiftShader), where
//               every lane's load (buffer or workgroup memory) is issued on its own: decode (TT = 1) and
//               prefill (TT = 4: each weight loaded once for 4 tokens) both.
//   gemv_split  decode on GPUs: a workgroup of WG lanes splits K for R rows, then reduces
//               (neighbouring lanes read neighbouring words; enough workgroups even for small N).
//   gemm        prefill on GPUs: TM x TN tiles (tokens x rows), 4 x 4 outputs per invocation, x and
//               W tiles in workgroup memory.
// Rows of W are zero-padded to a multiple of 4 floats at upload, so a row is a whole number of vec4;
// x keeps its K and is masked past it.
// The variant header (prepended by the TS side) defines subgroup_lane and share4 (rows' x loads,
// shared through subgroups or not) and lanes_partial / lanes_stride (subgroupAdd or not).

// WG, R, TT, TM, TN, MatmulParams, clamp_rows, finish and reduce_finish: shaders/matmul_common.wgsl, put in front at load.

@group(0) @binding(0) var<uniform> p: MatmulParams;
// Step (n_tokens, pos, sampling settings) is declared once, in src/gpu/step.ts, and put in front at load.
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> x: array<f32>; // (T, K)
@group(0) @binding(3) var<storage, read> w: array<vec4<f32>>; // (rows, ceil(K/4)) this chunk
@group(0) @binding(4) var<storage, read> bias: array<f32>; // (N); a dummy unless has_bias
@group(0) @binding(5) var<storage, read_write> y: array<f32>; // (T, N)

// x[t, k] as bits, zero past K: W is zero-padded there, but x past its row is the next token (or nothing).
fn x_word(t: u32, k: u32) -> u32 {
  return select(0u, bitcast<u32>(x[t * p.K + min(k, p.K - 1u)]), k < p.K);
}

fn x4(t: u32, k: u32) -> vec4<f32> {
  return bitcast<vec4<f32>>(vec4<u32>(x_word(t, k), x_word(t, k + 1u), x_word(t, k + 2u), x_word(t, k + 3u)));
}

@compute @workgroup_size(WG)
fn rows(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let nt = step.n_tokens;
  // This invocation's tokens: t0 .. t0+TT-1 (from workgroup_id: uniform, as subgroup operations need).
  let t0 = wid.y * TT;
  if (t0 >= nt) { return; }
  let lane = subgroup_lane();
  let nv = (p.K + 3u) / 4u;
  let r0 = gid.x * R;
  let base = clamp_rows(r0) * nv;
  var acc: array<vec4<f32>, 4>; // [token][row]
  for (var v = 0u; v < nv; v++) {
    var wv: array<vec4<f32>, 4>; // R rows' next 4 weights, used for TT tokens
    for (var r = 0u; r < R; r++) { wv[r] = w[base[r] + v]; }
    for (var i = 0u; i < TT; i++) {
      // tokens past the end repeat the last one (not stored): every lane runs the same code
      let xv = bitcast<vec4<f32>>(share4(min(t0 + i, nt - 1u), 4u * v, lane));
      for (var r = 0u; r < R; r++) { acc[i][r] += dot(wv[r], xv); }
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
  let nv = (p.K + 3u) / 4u;
  let r0 = wid.x * R;
  let base = clamp_rows(r0) * nv;
  var acc = vec4<f32>();
  for (var v = lid; v < nv; v += WG) {
    let xv = x4(t, 4u * v);
    for (var r = 0u; r < R; r++) { acc[r] += dot(w[base[r] + v], xv); }
  }
  reduce_finish(t, r0, acc, lid);
}

const TK: u32 = 16u; // gemm: K per stage
// Tiles hold 4 consecutive tokens (rows) per vec4, k-major: the inner loop reads one vec4 of x and one
// of W per k for 16 products (every workgroup-memory access is a gather on CPU SIMD).
var<workgroup> xt: array<vec4<f32>, TM / 4u * TK>; // [k][token / 4]
var<workgroup> wt: array<vec4<f32>, TN / 4u * TK>; // [k][row / 4]

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
  let nv = (p.K + 3u) / 4u;
  var acc: array<vec4<f32>, 4>; // [token i][row j]
  for (var k0 = 0u; k0 < p.K; k0 += TK) {
    // x: 4 tokens at one k per step; zero past the tokens (and past K: x_word)
    for (var i = lid; i < TM / 4u * TK; i += NT) {
      let m = i % (TM / 4u);
      let kk = i / (TM / 4u);
      var v: vec4<u32>;
      for (var c = 0u; c < 4u; c++) {
        let t = t0 + 4u * m + c;
        v[c] = select(0u, x_word(min(t, nt - 1u), k0 + kk), t < nt);
      }
      xt[kk * (TM / 4u) + m] = bitcast<vec4<f32>>(v);
    }
    // W: 4 rows x 4 k per step (zero past the chunk and past K), transposed into 4 vec4 of rows
    for (var i = lid; i < TN / 4u * (TK / 4u); i += NT) {
      let n = i % (TN / 4u);
      let kv = k0 / 4u + i / (TN / 4u);
      var q: array<vec4<f32>, 4>;
      for (var c = 0u; c < 4u; c++) {
        let r = n0 + 4u * n + c;
        q[c] = select(vec4<f32>(0.0), w[min(r, p.rows - 1u) * nv + min(kv, nv - 1u)], r < p.rows && kv < nv);
      }
      for (var c = 0u; c < 4u; c++) {
        wt[(4u * (i / (TN / 4u)) + c) * (TN / 4u) + n] = vec4<f32>(q[0][c], q[1][c], q[2][c], q[3][c]);
      }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      let xv = xt[kk * (TM / 4u) + tm];
      let wv = wt[kk * (TN / 4u) + tn];
      acc[0] += xv.x * wv;
      acc[1] += xv.y * wv;
      acc[2] += xv.z * wv;
      acc[3] += xv.w * wv;
    }
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
