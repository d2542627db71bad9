// matmul_fp8: y[t, n] (+)= sum_k W[n, k] * x[t, k] (+ bias[n]), FP8 weights (OCP E4M3, or E5M2 when the
// override E5M2 is set) with one f32 scale s per group of `group` weights along a row:
//   y = sum over groups g of s[n, g] * (sum over k in g of fp8(W[n, k]) * x[t, k]),
// products and sums in f32 (x stays f32: there is no FP8 or mixed integer dot product to feed; the
// tiled GEMM multiplies each decoded weight by its scale instead). A group is a multiple of 16 codes
// or the whole row, so a vec4 of codes never straddles two scales. Codes are decoded with bit
// operations (no shader-f16, and no f16 round trip for a compiler to fold).
// Layout: codes 4 per u32, element 4i in the low byte; rows zero-padded at upload to whole vec4
// (16 codes), and x masked past K, so the padding adds zeros.
//
// Entry points (all share the bindings below):
//   rows        R rows x TT tokens per invocation, each invocation alone to the end of K: no
//               cross-lane reduction, no workgroup memory. For CPU SIMD (lavapipe, SwiftShader), where
//               every lane's load (buffer or workgroup memory) is issued on its own: decode (TT = 1) and
//               prefill (TT = 4: each weight loaded and decoded once for 4 tokens) both.
//   gemv_split  decode on GPUs: a workgroup of WG lanes shares out the vec4s of R rows, then reduces.
//   gemm        prefill on GPUs: TM x TN tiles (tokens x rows), 4 x 4 outputs per invocation, x and
//               decoded, scaled W tiles (16 k per stage) in workgroup memory, as matmul_f32's.
// The variant header (prepended by the TS side) defines subgroup_lane and share4 (rows' x loads,
// shared through subgroups or not) and lanes_partial / lanes_stride (subgroupAdd or not).

// WG, R, TT, TM, TN, MatmulParams, clamp_rows, finish and reduce_finish: shaders/matmul_common.wgsl, put in front at load.
override E5M2: bool = false; // the code format: false E4M3, true E5M2

@group(0) @binding(0) var<uniform> p: MatmulParams;
// Step (n_tokens, pos, sampling settings) is declared once, in src/gpu/step.ts, and put in front at load.
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> x: array<f32>; // (T, K)
@group(0) @binding(3) var<storage, read> w: array<vec4<u32>>; // (rows, ceil(K/16)): FP8 codes, 4 per u32, this chunk
@group(0) @binding(4) var<storage, read> wd: array<f32>; // (rows, groups): weight scales, this chunk
@group(0) @binding(5) var<storage, read> bias: array<f32>; // (N); a dummy unless has_bias
@group(0) @binding(6) var<storage, read_write> y: array<f32>; // (T, N)

// The four FP8 codes of a word (element 4i in the low byte) as f32, exactly (src/quant/fp8.ts):
//   E4M3: S.EEEE.MMM, bias 7, no infinities, NaN = S.1111.111.
//   E5M2: S.EEEEE.MM, bias 15, S.11111.00 = +-inf, S.11111.xx (xx != 0) = NaN.
// Normals: the exponent and mantissa bits moved into f32's fields, plus the bias difference.
// Subnormals (exponent field 0): mantissa * 2^(1 - bias - mbits), an exact f32 product of normals
// (an f32 subnormal could be flushed to zero). Every step is an integer operation or a select, so the
// compiler has no float round trip to fold away.
fn fp8x4(word: u32) -> vec4<f32> {
  let c = (vec4<u32>(word) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xFFu);
  let mag = c & vec4<u32>(0x7Fu);
  var bits: vec4<u32>;
  if (E5M2) {
    let normal = (mag << vec4<u32>(21u)) + vec4<u32>(112u << 23u); // bias 15 -> 127
    let sub = bitcast<vec4<u32>>(vec4<f32>(mag) * (1.0 / 65536.0)); // m * 2^-16
    bits = select(normal, sub, mag < vec4<u32>(4u));
    let special = select(vec4<u32>(0x7FC00000u), vec4<u32>(0x7F800000u), mag == vec4<u32>(0x7Cu));
    bits = select(bits, special, mag >= vec4<u32>(0x7Cu));
  } else {
    let normal = (mag << vec4<u32>(20u)) + vec4<u32>(120u << 23u); // bias 7 -> 127
    let sub = bitcast<vec4<u32>>(vec4<f32>(mag) * (1.0 / 512.0)); // m * 2^-9
    bits = select(normal, sub, mag < vec4<u32>(8u));
    bits = select(bits, vec4<u32>(0x7FC00000u), mag == vec4<u32>(0x7Fu));
  }
  return bitcast<vec4<f32>>(bits | ((c & vec4<u32>(0x80u)) << vec4<u32>(24u)));
}

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
  let nv = (p.K + 15u) / 16u; // vec4 of codes per row
  let gv = (p.group + 15u) / 16u; // vec4 per scale group (a partial last one only when group = K)
  let r0 = gid.x * R;
  let rows4 = clamp_rows(r0);
  let base = rows4 * nv;
  let rg = rows4 * p.groups;
  var acc: array<vec4<f32>, 4>; // [token][row]
  // The current group's unscaled sums [token][row], flushed into acc times the scales at each group's
  // end (one flat loop over the row: a loop per group of 2 vec4 costs lavapipe more than it does).
  var part: array<vec4<f32>, 4>;
  var g = 0u;
  var left = gv; // vec4 left in group g
  for (var v = 0u; v < nv; v++) {
    var wq: array<vec4<u32>, 4>; // R rows' next 16 codes
    for (var r = 0u; r < R; r++) { wq[r] = w[base[r] + v]; }
    for (var q = 0u; q < 4u; q++) {
      var wf: array<vec4<f32>, 4>; // R rows' next 4 weights, decoded once for TT tokens
      for (var r = 0u; r < R; r++) { wf[r] = fp8x4(wq[r][q]); }
      for (var i = 0u; i < TT; i++) {
        // tokens past the end repeat the last one (not stored): every lane runs the same code
        let xv = bitcast<vec4<f32>>(share4(min(t0 + i, nt - 1u), 16u * v + 4u * q, lane));
        for (var r = 0u; r < R; r++) { part[i][r] += dot(wf[r], xv); }
      }
    }
    left -= 1u;
    if (left == 0u || v + 1u == nv) {
      var s = vec4<f32>();
      for (var r = 0u; r < R; r++) { s[r] = wd[rg[r] + g]; }
      for (var i = 0u; i < TT; i++) {
        acc[i] += part[i] * s;
        part[i] = vec4<f32>(0.0);
      }
      g += 1u;
      left = gv;
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
  let nv = (p.K + 15u) / 16u;
  let gv = (p.group + 15u) / 16u;
  let r0 = wid.x * R;
  let rows4 = clamp_rows(r0);
  let base = rows4 * nv;
  let rg = rows4 * p.groups;
  var acc = vec4<f32>();
  for (var v = lid; v < nv; v += WG) {
    let x0 = x4(t, 16u * v);
    let x1 = x4(t, 16u * v + 4u);
    let x2 = x4(t, 16u * v + 8u);
    let x3 = x4(t, 16u * v + 12u);
    let g = v / gv;
    for (var r = 0u; r < R; r++) {
      let q = w[base[r] + v];
      let d = dot(fp8x4(q.x), x0) + dot(fp8x4(q.y), x1) + dot(fp8x4(q.z), x2) + dot(fp8x4(q.w), x3);
      acc[r] += d * wd[rg[r] + g];
    }
  }
  reduce_finish(t, r0, acc, lid);
}

const TK: u32 = 16u; // gemm: K per stage, one vec4 of codes (within one scale group)
// Tiles hold 4 consecutive tokens (rows) per vec4, k-major: the inner loop reads one vec4 of x and one
// of W per k for 16 products (every workgroup-memory access is a gather on CPU SIMD).
var<workgroup> xt: array<vec4<f32>, TM / 4u * TK>; // [k][token / 4]
var<workgroup> wt: array<vec4<f32>, TN / 4u * TK>; // [k][row / 4], decoded and scaled

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
  let nv = (p.K + 15u) / 16u;
  let gv = (p.group + 15u) / 16u;
  var acc: array<vec4<f32>, 4>; // [token i][row j]
  for (var v = 0u; v < nv; v++) {
    // x: 4 tokens at one k per step; zero past the tokens (and past K: x_word)
    for (var i = lid; i < TM / 4u * TK; i += NT) {
      let m = i % (TM / 4u);
      let kk = i / (TM / 4u);
      var xv: vec4<u32>;
      for (var c = 0u; c < 4u; c++) {
        let t = t0 + 4u * m + c;
        xv[c] = select(0u, x_word(min(t, nt - 1u), TK * v + kk), t < nt);
      }
      xt[kk * (TM / 4u) + m] = bitcast<vec4<f32>>(xv);
    }
    // W: 4 rows x one word (4 codes) per step, decoded and scaled (zero past the chunk), transposed
    // into 4 vec4 of rows
    let g = v / gv;
    for (var i = lid; i < TN / 4u * 4u; i += NT) {
      let n = i % (TN / 4u);
      let j = i / (TN / 4u); // word of the vec4
      var q: array<vec4<f32>, 4>;
      for (var c = 0u; c < 4u; c++) {
        let r = n0 + 4u * n + c;
        let rc = min(r, p.rows - 1u);
        q[c] = select(vec4<f32>(0.0), fp8x4(w[rc * nv + v][j]) * wd[rc * p.groups + g], r < p.rows);
      }
      for (var c = 0u; c < 4u; c++) {
        wt[(4u * j + c) * (TN / 4u) + n] = vec4<f32>(q[0][c], q[1][c], q[2][c], q[3][c]);
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
