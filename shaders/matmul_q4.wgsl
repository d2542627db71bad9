// matmul_q4: y[t, n] (+)= sum_k W[n, k] * x[t, k] (+ bias[n]), GGUF Q4_0 weights: w = d * (q - 8),
// 4-bit q, one scale d per 32. llama.cpp's numerics: x is quantized to Q8_0 first (matmul_quantize_x),
// then per 32-block
//   y += f32(sumi) * (d_w * d_x),   sumi = sum of (q - 8) * int8 x, exact,
// summed over blocks in f32. A block is never split across lanes, so sumi stays one exact integer.
// Layout: a block is 4 u32, GGUF's 16 bytes; byte j holds element j in its low nibble and element
// j + 16 in its high nibble, so `word & 0x0F0F0F0F` lines up with x words 0..3 and the high nibbles
// with x words 4..7.
//
// Entry points (all share the bindings below):
//   gemv_rows   decode: R rows per invocation, each invocation runs its rows to the end alone. No
//               cross-lane reduction: suits CPU SIMD (lavapipe, SwiftShader), where every lane's
//               buffer load is issued on its own anyway.
//   gemv_split  decode: a workgroup of WG lanes shares out the blocks of R rows, then reduces: suits
//               GPUs (neighbouring lanes read neighbouring blocks; enough workgroups even for small N).
//   gemm        prefill: TM x TN tiles (tokens x rows), 4 x 4 outputs per invocation, one 32-block of
//               x and W per stage in workgroup memory; W's nibbles become int8 (q - 8) there, once per
//               tile, so the inner loop is the same as matmul_q8's.
// The variant header (prepended by the TS side) defines dot4i8 (dot4I8Packed or bit operations),
// share4 (gemv_rows' x loads, shared through subgroups or not) and lanes_partial / lanes_stride
// (subgroupAdd or not).

override WG: u32 = 64; // gemv: invocations per workgroup
override R: u32 = 2; // gemv: rows per invocation (rows) or per workgroup (split); 1..4
override TM: u32 = 32; // gemm: tokens per tile (multiple of 4)
override TN: u32 = 32; // gemm: rows per tile (multiple of 4)

struct MatmulParams {
  N: u32, // rows of the whole matrix = row length of y
  K: u32, // row length of x and W (a multiple of 32)
  row_start: u32, // first row of this chunk of W
  rows: u32, // rows in this chunk
  has_bias: u32, // 1: add bias[n]
  accumulate: u32, // 1: y += result (y is read first): the residual add, fused
  pad0: u32,
  pad1: u32,
}

struct Step {
  n_tokens: u32,
  pos: u32,
  seed: u32,
  temperature: f32,
  top_k: u32,
  top_p: f32,
  uniform_rand: f32,
  pad0: u32,
}

@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> xq: array<u32>; // (T, K/4): int8 x, 4 per u32, from matmul_quantize_x
@group(0) @binding(3) var<storage, read> xd: array<f32>; // (T, K/32): x block scales (f16 values)
@group(0) @binding(4) var<storage, read> w: array<vec4<u32>>; // (rows, K/32): one 4-bit block per vec4, this chunk
@group(0) @binding(5) var<storage, read> wd: array<f32>; // (rows, K/32): weight block scales, this chunk
@group(0) @binding(6) var<storage, read> bias: array<f32>; // (N); a dummy unless has_bias
@group(0) @binding(7) var<storage, read_write> y: array<f32>; // (T, N)

// Writes one output: chunk row r of token t.
fn finish(t: u32, r: u32, v: f32) {
  let n = p.row_start + r;
  var o = v;
  if (p.has_bias != 0u) { o += bias[n]; }
  let i = t * p.N + n;
  if (p.accumulate != 0u) { o = y[i] + o; }
  y[i] = o;
}

fn dot16(a: vec4<u32>, b: vec4<u32>) -> i32 {
  return dot4i8(a.x, b.x) + dot4i8(a.y, b.y) + dot4i8(a.z, b.z) + dot4i8(a.w, b.w);
}

// Four 4-bit codes (one per byte, 0..15) -> four int8 (code - 8) in the same bytes.
fn q4_to_i8(c: u32) -> u32 {
  let below8 = ((c >> 3u) & 0x01010101u) ^ 0x01010101u; // 1 in each byte whose code is < 8
  return (c ^ 0x08080808u) | (below8 * 0xF0u); // (c - 8) mod 16, sign-extended to 8 bits
}

// sum of code * x over one block (codes 0..15: the -8 is applied with the sum of x).
fn dot_block(q: vec4<u32>, x0: vec4<u32>, x1: vec4<u32>) -> i32 {
  let m = vec4<u32>(0x0F0F0F0Fu);
  return dot16(q & m, x0) + dot16((q >> vec4<u32>(4u)) & m, x1);
}

// Word k of token t's row of quantized x (4 int8).
fn x_word(t: u32, k: u32) -> u32 {
  return xq[t * (p.K / 4u) + k];
}

fn x_words4(t: u32, k: u32) -> vec4<u32> {
  return vec4<u32>(x_word(t, k), x_word(t, k + 1u), x_word(t, k + 2u), x_word(t, k + 3u));
}

// First block of rows r0 .. r0+3 of the chunk, clamped into it so that every lane runs the same loop.
fn row_blocks(r0: u32, nb: u32) -> vec4<u32> {
  return min(vec4<u32>(r0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.rows - 1u)) * nb;
}

@compute @workgroup_size(WG)
fn gemv_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let lane = gid.x;
  let t = wid.y; // (workgroup_id: uniform, which subgroup operations need)
  if (t >= step.n_tokens) { return; }
  let nb = p.K / 32u;
  let r0 = gid.x * R;
  let rb = row_blocks(r0, nb);
  let xb = t * nb;
  var acc = vec4<f32>(); // one per row
  for (var b = 0u; b < nb; b++) {
    // x's block loaded once, used for R rows
    let x0 = share4(t, 8u * b, lane);
    let x1 = share4(t, 8u * b + 4u, lane);
    let dx = xd[xb + b];
    let ones = vec4<u32>(0x01010101u);
    let xsum8 = 8 * (dot16(x0, ones) + dot16(x1, ones)); // the -8 of every code, once for R rows
    for (var r = 0u; r < R; r++) {
      let i = rb[r] + b;
      let s = dot_block(w[i], x0, x1) - xsum8;
      acc[r] += f32(s) * (wd[i] * dx);
    }
  }
  for (var r = 0u; r < R; r++) {
    if (r0 + r < p.rows) { finish(t, r0 + r, acc[r]); }
  }
}

var<workgroup> red: array<f32, 4u * WG>; // gemv_split: partial sums [row][lane]

// gemv_split's end: sums each row's partials over the workgroup and writes it.
fn reduce_finish(t: u32, r0: u32, acc: vec4<f32>, lid: u32) {
  for (var r = 0u; r < R; r++) { red[r * WG + lid] = lanes_partial(acc[r]); }
  let stride = lanes_stride();
  workgroupBarrier();
  if (lid < R && r0 + lid < p.rows) {
    var s = 0.0;
    for (var i = 0u; i < WG; i += stride) { s += red[lid * WG + i]; }
    finish(t, r0 + lid, s);
  }
}

@compute @workgroup_size(WG)
fn gemv_split(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = wid.y;
  if (t >= step.n_tokens) { return; }
  let nb = p.K / 32u;
  let r0 = wid.x * R;
  let rb = row_blocks(r0, nb);
  let xb = t * nb;
  var acc = vec4<f32>();
  for (var b = lid; b < nb; b += WG) {
    let x0 = x_words4(t, 8u * b);
    let x1 = x_words4(t, 8u * b + 4u);
    let dx = xd[xb + b];
    let ones = vec4<u32>(0x01010101u);
    let xsum8 = 8 * (dot16(x0, ones) + dot16(x1, ones)); // the -8 of every code, once for R rows
    for (var r = 0u; r < R; r++) {
      let i = rb[r] + b;
      let s = dot_block(w[i], x0, x1) - xsum8;
      acc[r] += f32(s) * (wd[i] * dx);
    }
  }
  reduce_finish(t, r0, acc, lid);
}

// gemm tiles of one 32-block, stored word-major so the inner loop reads 4 tokens / 4 rows at one word.
var<workgroup> xt: array<u32, 8u * TM>; // [word][token]
var<workgroup> wt: array<u32, 8u * TN>; // [word][row]
var<workgroup> xdt: array<f32, TM>;
var<workgroup> wdt: array<f32, TN>;

@compute @workgroup_size(TM / 4u * (TN / 4u))
fn gemm(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let nt = step.n_tokens;
  let n0 = wid.x * TN;
  let t0 = wid.y * TM;
  if (t0 >= nt) { return; }
  let NT = TM / 4u * (TN / 4u);
  // This invocation's outputs: tokens t0 + tm + i*TM/4, rows n0 + tn + j*TN/4 (i, j < 4), so that
  // neighbouring lanes read neighbouring tile words.
  let tm = lid % (TM / 4u);
  let tn = lid / (TM / 4u);
  let nb = p.K / 32u;
  var acc: array<vec4<f32>, 4>; // [token i][row j]
  for (var b = 0u; b < nb; b++) {
    // Tokens and rows past the end load as zero codes (their scales are clamped, finite, unused).
    for (var i = lid; i < 8u * TM; i += NT) {
      let m = i / 8u;
      let t = t0 + m;
      xt[(i % 8u) * TM + m] = select(0u, x_word(min(t, nt - 1u), 8u * b + i % 8u), t < nt);
    }
    for (var i = lid; i < TN; i += NT) {
      let r = n0 + i;
      let v = w[min(r, p.rows - 1u) * nb + b];
      for (var c = 0u; c < 4u; c++) {
        // past the chunk: zero codes
        wt[c * TN + i] = select(0u, q4_to_i8(v[c] & 0x0F0F0F0Fu), r < p.rows);
        wt[(4u + c) * TN + i] = select(0u, q4_to_i8((v[c] >> 4u) & 0x0F0F0F0Fu), r < p.rows);
      }
    }
    for (var i = lid; i < TM; i += NT) { xdt[i] = xd[min(t0 + i, nt - 1u) * nb + b]; }
    for (var i = lid; i < TN; i += NT) { wdt[i] = wd[min(n0 + i, p.rows - 1u) * nb + b]; }
    workgroupBarrier();
    // This block's exact integer sums [token i][row j]. Zeroed explicitly: under Dawn + lavapipe a
    // loop-body `var` without initializer kept the previous iteration's value.
    var isum = array<vec4<i32>, 4>(vec4<i32>(0), vec4<i32>(0), vec4<i32>(0), vec4<i32>(0));
    for (var j = 0u; j < 8u; j++) {
      let wo = j * TN + tn;
      let wv = vec4<u32>(wt[wo], wt[wo + TN / 4u], wt[wo + TN / 2u], wt[wo + 3u * (TN / 4u)]);
      for (var i = 0u; i < 4u; i++) {
        let xv = xt[j * TM + tm + i * (TM / 4u)];
        isum[i] += vec4<i32>(dot4i8(xv, wv.x), dot4i8(xv, wv.y), dot4i8(xv, wv.z), dot4i8(xv, wv.w));
      }
    }
    let dw = vec4<f32>(wdt[tn], wdt[tn + TN / 4u], wdt[tn + TN / 2u], wdt[tn + 3u * (TN / 4u)]);
    for (var i = 0u; i < 4u; i++) { acc[i] += vec4<f32>(isum[i]) * (dw * xdt[tm + i * (TM / 4u)]); }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let t = t0 + tm + i * (TM / 4u);
    for (var j = 0u; j < 4u; j++) {
      let r = n0 + tn + j * (TN / 4u);
      if (t < nt && r < p.rows) { finish(t, r, acc[i][j]); }
    }
  }
}
