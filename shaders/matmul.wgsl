// The matmul skeletons: y[t, n] (+)= sum_k W[n, k] * x[t, k] (+ bias[n]) for every weight format, each
// access pattern written once. A weight format is a decoder (shaders/weights/<format>.wgsl) that cuts
// a row into blocks of BLOCK weights and defines
//   load_group(r, g) -> Group            the scales of scale group g of chunk row r (`group` weights:
//                                        a block, a 256-weight super-block, a whole row ...)
//   load_block(r, b, grp) -> Block       block b of chunk row r, grp its group's scales: what the
//                                        format keeps of it in registers (codes or their index, scales)
//   block_piece(blk, v) -> XV            piece v of the block's codes, in the x mode's piece type
//   block_combine(blk, part, xs, xsc)    the block's contribution from part = sum(code * x) over the
//                                        block, xs = sum(x) over it (for offsets and mins) and xsc,
//                                        x's own block scale (Q8_0 x; 1 for f32 x)
//   X_SUMS                               whether block_combine uses xs (the flat kernels skip it otherwise)
// and x comes in one of two modes (shaders/matmul_x_f32.wgsl, shaders/matmul_x_q8.wgsl), which define
// XV / ACC / ELEM, X_PER_WORD (weights per word of x), x_piece(_shared), piece_dot, piece_sum,
// elem_dot and x_scale: f32 x (f32 products, the exact function of the dequantized weights), or x in
// Q8_0 (int8 products summed exactly, llama.cpp's CPU numerics for Q8_0 / Q4_0 weights).
// A piece is 4 words of x: 4 weights in f32 mode, 16 in Q8_0 mode; a block is PIECES pieces.
// The words come from the input (shaders/matmul_in_*.wgsl): x_word(t, k), x_quad(t, k) (words k..k+3,
// one vec4 load where its view allows), x_scale for Q8_0, and
// x_prepare(t, lid), the GEMVs' prologue, which all of a workgroup's invocations run first: nothing
// for x in buffers; for decode, RMSNorm's scale of x (matmul_in_f32_norm) or x's Q8_0 blocks in
// workgroup memory (matmul_in_q8_local), so no separate norm or quantize dispatch runs before.
// The GEMVs' epilogue (emit) writes y, or with p.glu, h = act(gate) * up of gate/up row pairs. rows and rows_flat
// end in gemv_tail (shaders/matmul_tail.wgsl: the RMSNorm or Q8_0 after a GEMV, by its last subgroup; or nothing).
//
// Entry points (all share the bindings):
//   rows        R rows x TT tokens per invocation, each invocation alone to the end of K: no
//               cross-lane reduction, no workgroup memory. For CPU SIMD (lavapipe, SwiftShader), where
//               every lane's load (buffer or workgroup memory) is issued on its own: decode (TT = 1) and
//               prefill (TT = 4: each weight loaded and decoded once for 4 tokens) both.
//   rows_flat   rows with R = 4, TT = 1 (decode) or 4 (gemm_flat), no arrays indexed by loop counters
//   gemm_flat   (SwiftShader, whose JIT unrolls no loop): shaders/matmul_flat.wgsl, joined after this file.
//   gemv_split  decode on GPUs: each group of LANES lanes shares out the blocks of R rows, then reduces
//               (neighbouring lanes read neighbouring blocks), ROW_ITERS times; a workgroup is WG / LANES such
//               groups, so the prologue (x_prepare) serves WG / LANES * R * ROW_ITERS rows.
//   gemm        prefill on GPUs: TM x TN tiles (tokens x rows), 4 x 4 outputs per invocation, one block
//               of x and W codes (and the blocks' scales) per stage in workgroup memory.
// The variant header (prepended by the TS side) defines dot4i8 (dot4I8Packed or bit operations),
// subgroup_lane and share4 (rows' x loads, shared through subgroups or not) and lanes_partial /
// lanes_stride (subgroupAdd or not). glu_act: shaders/glu.wgsl. WG, R, TT, TM, TN, MatmulParams, p, step and clamp_rows:
// shaders/matmul_common.wgsl. Bindings 2-3: x (the x mode); 4-5: codes and scales (the decoder).

@group(0) @binding(6) var<storage, read> bias: array<f32>; // (rows of the matrix); a dummy unless has_bias, unbound with a tail
// (bias_at, from matmulSkeleton: bias[n], or 0 where a GEMV's tail takes the binding's place: Chromium gives 10 storage
// buffers a stage)
@group(0) @binding(7) var<storage, read_write> y: array<f32>; // (T, N); with p.glu: h, (T, N/2)

const XW: u32 = BLOCK / X_PER_WORD; // words of x per block
const PIECES: u32 = XW / 4u; // pieces per block: 2 (Q8_0 x), 4 or 8 (f32 x)

// Writes one output: chunk row r of token t.
fn finish(t: u32, r: u32, v: f32) {
  let n = p.row_start + r;
  var o = v;
  if (p.has_bias != 0u) { o += bias_at(n); }
  o *= p.out_scale; // 1 (exact) but for Granite's residual multiplier
  let i = t * p.N + p.y_offset + n;
  if (p.accumulate != 0u) { o = y[i] + o; }
  y[i] = o;
}

// Writes the R outputs of rows r0 .. r0+R-1 of token t (the GEMVs): y as finish does, or with p.glu
// (R even, chunks starting on even rows) h[t, (row_start + r) / 2] = act(gate) * up of each pair of
// rows r, r + 1 (gate j and up j, pairRows' order): SwiGLU / GeGLU without the gate|up round trip.
fn emit(t: u32, r0: u32, v: vec4<f32>) {
  if (p.glu == 0u) {
    for (var r = 0u; r < R; r++) {
      if (r0 + r < p.rows) { finish(t, r0 + r, v[r]); }
    }
    return;
  }
  for (var r = 0u; r < R; r += 2u) {
    if (r0 + r < p.rows) { y[t * (p.N / 2u) + (p.row_start + r0 + r) / 2u] = glu_act(v[r], p.glu - 1u) * v[r + 1u]; }
  }
}

// Whether piece v starts the pieces that x words held by the lanes serve: 4 (X_VEC 4) or 2 (X_VEC 8).
fn x_fetch_at(v: u32) -> bool {
  return (X_VEC == 4u && (v & 3u) == 0u) || (X_VEC == 8u && (v & 1u) == 0u);
}

// Block b's scale group g, and the blocks left in it (from blocks_per_group() down to 1), stepped once per block: a
// count, not a division per block (which costs CPU SIMD dearly). A value, not a pointer: the flat kernels keep
// their state out of memory under Subzero.
struct GroupCursor {
  g: u32,
  left: u32,
}

fn next_block(c: GroupCursor, bpg: u32) -> GroupCursor {
  if (c.left == 1u) { return GroupCursor(c.g + 1u, bpg); }
  return GroupCursor(c.g, c.left - 1u);
}

@compute @workgroup_size(WG)
fn rows(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_index) lid: u32,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let nt = y_rows();
  // This invocation's tokens: t0 .. t0+TT-1 (from workgroup_id: uniform, as subgroup operations need).
  let t0 = wid.y * TT;
  if (t0 >= nt) { return; }
  // The expert matmuls' first row of t0's expert (one expert for the TT tokens), 0 for a plain matrix; the rows of x the
  // TT tokens read (the tokens themselves for a plain matrix; past the pass's end, its last).
  let w0 = expert_start(t0, lid);
  if (w0 == NOT_HERE) { return; }
  let xr = x_rows4(t0, nt);
  x_prepare(xr.x, lid); // the decode inputs take TT = 1
  let lane = subgroup_lane();
  let nb = blocks_per_row();
  let bpg = blocks_per_group();
  let r0 = gid.x * R;
  let rows4 = clamp_rows(r0) + vec4<u32>(w0);
  var acc: array<vec4<f32>, 4>; // [token][row]
  var gc = GroupCursor(0u, bpg); // block b's scale group, counted (a division per block costs CPU SIMD dearly)
  var grp: array<Group, 4>; // R rows' scales of group g, loaded as it starts
  for (var b = 0u; b < nb; b++) {
    if (gc.left == bpg) {
      for (var r = 0u; r < R; r++) { grp[r] = load_group(rows4[r], gc.g); }
    }
    var blk: array<Block, 4>; // R rows' block b, loaded once for TT tokens
    for (var r = 0u; r < R; r++) { blk[r] = load_block(rows4[r], b, grp[r]); }
    // The block's sums [token][row] and x sums [token]. Zeroed explicitly: under Dawn + lavapipe a
    // loop-body `var` without initializer kept the previous iteration's value.
    var part = array<vec4<ACC>, 4>(vec4<ACC>(), vec4<ACC>(), vec4<ACC>(), vec4<ACC>());
    var xs = vec4<ACC>();
    var xq: array<vec4<u32>, 4>; // X_VEC 4 and 8: [token] the x words this lane holds (x_fetch) for x_shared
    if (FLOAT_DOT) {
      // f32 products of the codes (exact: see piece_wide), each code widened once for R rows or TT tokens
      var pf = array<vec4<f32>, 4>(vec4<f32>(), vec4<f32>(), vec4<f32>(), vec4<f32>());
      var xf = vec4<f32>();
      for (var v = 0u; v < PIECES; v++) {
        var wv: array<XWIDE, 4>;
        for (var r = 0u; r < R; r++) { wv[r] = piece_wide(block_piece(blk[r], v)); }
        if (x_fetch_at(v)) {
          for (var i = 0u; i < TT; i++) { xq[i] = x_held(x_fetch(xr[i], b * XW + 4u * v, lane, min(4u, PIECES - v))); }
        }
        for (var i = 0u; i < TT; i++) {
          let xv = piece_wide(x_piece_shared(xq[i], xr[i], b * XW + 4u * v, lane));
          xf[i] += wide_sum(xv);
          for (var r = 0u; r < R; r++) { pf[i][r] += wide_dot(wv[r], xv); }
        }
      }
      for (var i = 0u; i < TT; i++) {
        xs[i] = ACC(xf[i]);
        part[i] = vec4<ACC>(pf[i]);
      }
    } else {
      // Unsigned codes (CODES_UNSIGNED: offset Q8_0, Q4_0) take piece_dot_unsigned; with X_VEC 8 x's block sum comes
      // from the words the 8 lanes hold, one each, and 8 broadcasts (a fifth row's dot products when summed a piece).
      let lane_sums = CODES_UNSIGNED && X_VEC == 8u;
      for (var v = 0u; v < PIECES; v++) {
        var wv: array<XV, 4>; // R rows' piece v, decoded once for TT tokens
        for (var r = 0u; r < R; r++) {
          if (CODES_UNSIGNED) { wv[r] = block_piece_unsigned(blk[r], v); } else { wv[r] = block_piece(blk[r], v); }
        }
        if (x_fetch_at(v)) {
          for (var i = 0u; i < TT; i++) {
            xq[i] = x_held(x_fetch(xr[i], b * XW + 4u * v, lane, min(4u, PIECES - v)));
            if (lane_sums) { xs[i] += x_block_sum(xq[i]); }
          }
        }
        for (var i = 0u; i < TT; i++) {
          // tokens past the end repeat the last one (not stored): every lane runs the same code
          let xv = x_piece_shared(xq[i], xr[i], b * XW + 4u * v, lane);
          if (!lane_sums) { xs[i] += piece_sum(xv); }
          for (var r = 0u; r < R; r++) {
            if (CODES_UNSIGNED) { part[i][r] += piece_dot_unsigned(wv[r], xv); } else { part[i][r] += piece_dot(wv[r], xv); }
          }
        }
      }
      if (CODES_UNSIGNED && UNSIGNED_BIAS != 0) { // offset codes: the integer sums of the signed ones
        for (var i = 0u; i < TT; i++) { part[i] -= vec4<ACC>(ACC(UNSIGNED_BIAS) * xs[i]); }
      }
    }
    for (var i = 0u; i < TT; i++) {
      let xsc = x_scale(xr[i], b);
      for (var r = 0u; r < R; r++) { acc[i][r] += block_combine(blk[r], part[i][r], xs[i], xsc); }
    }
    gc = next_block(gc, bpg);
  }
  for (var i = 0u; i < TT; i++) {
    if (t0 + i < nt) { emit(y_row(t0 + i), r0, acc[i]); }
  }
  gemv_tail(nwg.x * nwg.y);
}

// rows8: rows' GEMM for 8 tokens (t0 .. t0+7), products in f32 (FLOAT_DOT's route; f32 x's pieces are f32 already),
// x shared by the subgroup (8 lanes or more): lane l loads token t0 + l's piece and block scale, and wide_lanes /
// x_lane_scale hand token i lane i's. The tokens' loops run as two of 4 (a loop of 8 is past NIR's unroll limit).
@compute @workgroup_size(WG)
fn rows8(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let nt = y_rows();
  let t0 = wid.y * 8u;
  if (t0 >= nt) { return; }
  let w0 = expert_start(t0, lid); // as in rows
  if (w0 == NOT_HERE) { return; }
  let lane = subgroup_lane();
  let t_own = x_row(min(t0 + (lane & 7u), nt - 1u));
  let nb = blocks_per_row();
  let bpg = blocks_per_group();
  let r0 = gid.x * R;
  let rows4 = clamp_rows(r0) + vec4<u32>(w0);
  var acc_a: array<vec4<f32>, 4>; // [token 0-3][row]
  var acc_b: array<vec4<f32>, 4>; // [token 4-7][row]
  var gc = GroupCursor(0u, bpg);
  var grp: array<Group, 4>;
  for (var b = 0u; b < nb; b++) {
    if (gc.left == bpg) {
      for (var r = 0u; r < R; r++) { grp[r] = load_group(rows4[r], gc.g); }
    }
    var blk: array<Block, 4>;
    for (var r = 0u; r < R; r++) { blk[r] = load_block(rows4[r], b, grp[r]); }
    let xsh = x_scale(t_own, b);
    var pa = array<vec4<f32>, 4>(vec4<f32>(), vec4<f32>(), vec4<f32>(), vec4<f32>());
    var pb = array<vec4<f32>, 4>(vec4<f32>(), vec4<f32>(), vec4<f32>(), vec4<f32>());
    var xa = vec4<f32>();
    var xb = vec4<f32>();
    for (var v = 0u; v < PIECES; v++) {
      var wv: array<XWIDE, 4>;
      for (var r = 0u; r < R; r++) { wv[r] = piece_wide(block_piece(blk[r], v)); }
      let xl = wide_lanes(piece_wide(x_piece(t_own, b * XW + 4u * v))); // token t_own's piece, widened by its lane
      rows8_piece(wv, xl, 0u, &pa, &xa);
      rows8_piece(wv, xl, 4u, &pb, &xb);
    }
    for (var i = 0u; i < 4u; i++) {
      let sa = x_lane_scale(xsh, i);
      let sb = x_lane_scale(xsh, 4u + i);
      for (var r = 0u; r < R; r++) {
        acc_a[i][r] += block_combine(blk[r], ACC(pa[i][r]), ACC(xa[i]), sa);
        acc_b[i][r] += block_combine(blk[r], ACC(pb[i][r]), ACC(xb[i]), sb);
      }
    }
    gc = next_block(gc, bpg);
  }
  for (var i = 0u; i < 4u; i++) {
    if (t0 + i < nt) { emit(y_row(t0 + i), r0, acc_a[i]); }
    if (t0 + 4u + i < nt) { emit(y_row(t0 + 4u + i), r0, acc_b[i]); }
  }
}

// rows8's tokens first .. first+3 of a piece (xl: every token's, widened once by its own lane and broadcast, where every
// lane widened each token's broadcast words alike) against the R rows' widened pieces wv: the products' sums into part
// [token][row], x's sums into xsum [token].
fn rows8_piece(wv: array<XWIDE, 4>, xl: array<XWIDE, 8>, first: u32, part: ptr<function, array<vec4<f32>, 4>>, xsum: ptr<function, vec4<f32>>) {
  for (var i = 0u; i < 4u; i++) {
    let xv = xl[first + i];
    (*xsum)[i] += wide_sum(xv);
    for (var r = 0u; r < R; r++) { (*part)[i][r] += wide_dot(wv[r], xv); }
  }
}

var<workgroup> red: array<f32, 4u * WG>; // gemv_split: partial sums [row][lane]

// A lane group's partials are summed in workgroup memory; with subgroups, each lane already holds its subgroup's sum,
// so the group adds one lane per subgroup: LANES must then be a multiple of the subgroup size (src/kernels/matmul.ts
// takes LANES >= the adapter's largest subgroup, both powers of two). Many groups a workgroup matter on a GPU where
// x_prepare (RMSNorm and Q8_0 of x) costs as much as a group's rows: an H200 ran the 128,256-row head of Llama-3.2-1B in
// 2,490 us with one group of 4 rows a workgroup.
@compute @workgroup_size(WG)
fn gemv_split(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = wid.y;
  if (t >= y_rows()) { return; }
  let w0 = expert_start(t, lid); // as in rows
  if (w0 == NOT_HERE) { return; }
  // The first turn's first step of blocks is loaded before the prologue: its loads wait for memory while the prologue's
  // barriers and sums run (they do not depend on x), where after it they waited in turn. The same blocks, the same sums.
  let first_rows = split_first_row(wid.x, 0u, lid);
  let first = split_load(clamp_rows(first_rows) + vec4<u32>(w0), 0u, lid % LANES, blocks_per_row(), blocks_per_group());
  x_prepare(x_row(t), lid);
  for (var it = 0u; it < ROW_ITERS; it++) {
    split_rows(t, w0, split_first_row(wid.x, it, lid), lid, first, it == 0u);
    if (ROW_ITERS > 1u && !WARP) { workgroupBarrier(); } // the next rows' partials overwrite red
  }
}

// The first row of lane group lid / LANES in turn `it` of workgroup `wg`.
fn split_first_row(wg: u32, it: u32, lid: u32) -> u32 {
  return ((wg * ROW_ITERS + it) * (WG / LANES) + lid / LANES) * R;
}

// A lane's blocks of one step, [u * 4 + r]: blocks base + u * LANES + lane (clamped to the row) of rows rows4[r].
fn split_load(rows4: vec4<u32>, base: u32, lane: u32, nb: u32, bpg: u32) -> array<Block, 8> {
  var blk: array<Block, 8>;
  for (var u = 0u; u < 2u; u++) {
    let bc = min(base + u * LANES + lane, nb - 1u);
    for (var r = 0u; r < R; r++) { blk[u * 4u + r] = load_block(rows4[r], bc, load_group(rows4[r], bc / bpg)); }
  }
  return blk;
}

// Rows r0 .. r0+R-1 of token t by lane group lid / LANES (every invocation calls it, in uniform control flow); the
// first step's blocks are `first` where `loaded`.
fn split_rows(t: u32, w0: u32, r0: u32, lid: u32, first: array<Block, 8>, loaded: bool) {
  let nb = blocks_per_row();
  let bpg = blocks_per_group();
  let lane = lid % LANES;
  let first_lane = lid - lane; // the group's first lane
  let rows4 = clamp_rows(r0) + vec4<u32>(w0);
  let tx = x_row(t);
  var acc = vec4<f32>();
  // Two blocks a lane per step, b and b + LANES, with no branch (a block past the row is clamped and its sum not
  // added): one basic block, so a GPU's compiler issues all 2R blocks' loads before it waits for the first. The sums
  // run in the order of a lane's blocks, as one block a step did.
  for (var base = 0u; base < nb; base += 2u * LANES) {
    var blk = first;
    if (base > 0u || !loaded) { blk = split_load(rows4, base, lane, nb, bpg); }
    for (var u = 0u; u < 2u; u++) {
      let b = base + u * LANES + lane;
      let bc = min(b, nb - 1u);
      var part = vec4<ACC>();
      var xs = ACC(0);
      for (var v = 0u; v < PIECES; v++) {
        let xv = x_piece(tx, bc * XW + 4u * v);
        xs += piece_sum(xv);
        for (var r = 0u; r < R; r++) { part[r] += piece_dot(block_piece(blk[u * 4u + r], v), xv); }
      }
      let xsc = x_scale(tx, bc);
      for (var r = 0u; r < R; r++) { acc[r] += select(0.0, block_combine(blk[u * 4u + r], part[r], xs, xsc), b < nb); }
    }
  }
  if (WARP) { // the group is one subgroup: its sum is every lane's, no workgroup memory or barrier
    var s = vec4<f32>();
    for (var r = 0u; r < R; r++) { s[r] = lanes_partial(acc[r]); }
    if (lane == 0u) { emit(t, r0, s); }
    return;
  }
  for (var r = 0u; r < R; r++) { red[r * WG + lid] = lanes_partial(acc[r]); }
  let stride = lanes_stride();
  workgroupBarrier();
  if (lane == 0u) {
    var s = vec4<f32>();
    for (var r = 0u; r < R; r++) {
      for (var i = 0u; i < LANES; i += stride) { s[r] += red[r * WG + first_lane + i]; }
    }
    emit(t, r0, s);
  }
}

// gemm tiles of one block: 4 consecutive tokens (rows) per vec4, word-major, so the inner loop reads
// one vec4 of x and one of W per word for 16 products (every workgroup-memory access is a gather on
// CPU SIMD). Codes stay codes here; each block's scales are applied once per output by block_combine.
var<workgroup> xt: array<vec4<ELEM>, XW * (TM / 4u)>; // [word][token / 4]
var<workgroup> wt: array<vec4<ELEM>, XW * (TN / 4u)>; // [word][row / 4]
var<workgroup> xst: array<ACC, TM>; // [token]: x summed over the block
var<workgroup> xct: array<f32, TM>; // [token]: x's block scale
var<workgroup> wb: array<Block, TN>; // [row]: the block as load_block leaves it (for its scales)

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
  let nb = blocks_per_row();
  let bpg = blocks_per_group();
  var acc: array<vec4<f32>, 4>; // [token i][row j]
  for (var b = 0u; b < nb; b++) {
    // Tokens past the end and rows past the chunk are clamped to the last one: computed, not stored.
    for (var i = lid; i < XW * (TM / 4u); i += NT) {
      let m = i % (TM / 4u);
      let k = b * XW + i / (TM / 4u);
      let tc = min(vec4<u32>(t0 + 4u * m) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(nt - 1u));
      xt[i] = x_elems(vec4<u32>(x_word(tc.x, k), x_word(tc.y, k), x_word(tc.z, k), x_word(tc.w, k)));
    }
    for (var m = lid; m < TM; m += NT) {
      let t = min(t0 + m, nt - 1u);
      var s = ACC(0);
      for (var v = 0u; v < PIECES; v++) { s += piece_sum(x_piece(t, b * XW + 4u * v)); }
      xst[m] = s;
      xct[m] = x_scale(t, b);
    }
    // W: one piece of 4 rows per step, transposed into 4 vec4 of rows; the blocks kept for block_combine
    for (var i = lid; i < PIECES * (TN / 4u); i += NT) {
      let n = i % (TN / 4u);
      let v = i / (TN / 4u);
      var q: array<XV, 4>;
      for (var c = 0u; c < 4u; c++) {
        let row = min(n0 + 4u * n + c, p.rows - 1u);
        let blk = load_block(row, b, load_group(row, b / bpg));
        if (v == 0u) { wb[4u * n + c] = blk; }
        q[c] = block_piece(blk, v);
      }
      for (var c = 0u; c < 4u; c++) {
        wt[(4u * v + c) * (TN / 4u) + n] = vec4<ELEM>(q[0][c], q[1][c], q[2][c], q[3][c]);
      }
    }
    workgroupBarrier();
    // This block's sums [token i][row j]. Zeroed explicitly (see rows).
    var part = array<vec4<ACC>, 4>(vec4<ACC>(), vec4<ACC>(), vec4<ACC>(), vec4<ACC>());
    for (var j = 0u; j < XW; j++) {
      let xv = xt[j * (TM / 4u) + tm];
      let wv = wt[j * (TN / 4u) + tn];
      for (var i = 0u; i < 4u; i++) {
        part[i] += vec4<ACC>(elem_dot(xv[i], wv.x), elem_dot(xv[i], wv.y), elem_dot(xv[i], wv.z), elem_dot(xv[i], wv.w));
      }
    }
    for (var i = 0u; i < 4u; i++) {
      let m = 4u * tm + i;
      for (var j = 0u; j < 4u; j++) { acc[i][j] += block_combine(wb[4u * tn + j], part[i][j], xst[m], xct[m]); }
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
