// What every matmul family (matmul_f32, _f16, _q8, _q4, _fp8) shares, put in front of each at load:
// launch-shape overrides, the Params uniform, and the epilogue that writes one output (bias, residual
// accumulate) and gemv_split's cross-lane reduction. The bindings it names (p, bias, y) are declared by
// each family, whose layouts differ before them.

override WG: u32 = 64; // rows, gemv_split: invocations per workgroup
override R: u32 = 2; // rows: rows per invocation; gemv_split: rows per workgroup; 1..4
override TT: u32 = 1; // rows: tokens per invocation, 1..4 (1 for decode)
override TM: u32 = 32; // gemm: tokens per tile (multiple of 4)
override TN: u32 = 32; // gemm: rows per tile (multiple of 4)

struct MatmulParams {
  N: u32, // rows of the whole matrix = row length of y
  K: u32, // row length of x and W (f16: even; q8/q4: a multiple of 32; fp8: a multiple of 4)
  row_start: u32, // first row of this chunk of W
  rows: u32, // rows in this chunk
  has_bias: u32, // 1: add bias[n]
  accumulate: u32, // 1: y += result (y is read first): the residual add, fused
  group: u32, // quantized formats: weights per scale along a row (32, or K for one scale per row); else unused
  groups: u32, // scales per row, ceil(K / group); else unused
}

// Rows r0 .. r0+3 of the chunk, clamped into it so that every lane runs the same loop.
fn clamp_rows(r0: u32) -> vec4<u32> {
  return min(vec4<u32>(r0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.rows - 1u));
}

// Writes one output: chunk row r of token t.
fn finish(t: u32, r: u32, v: f32) {
  let n = p.row_start + r;
  var o = v;
  if (p.has_bias != 0u) { o += bias[n]; }
  let i = t * p.N + n;
  if (p.accumulate != 0u) { o = y[i] + o; }
  y[i] = o;
}


// gemv_split's end: sums each row's partials over the workgroup and writes it.
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
