// The matmul's entry points for SwiftShader, joined after shaders/matmul.wgsl (whose helpers they use: emit,
// GroupCursor, next_block, x_piece, x_piece_shared, subgroup_lane, x_scale; the decoder's and x mode's functions likewise).

// rows_flat and gemm_flat: rows with 4 rows (x 1 or 4 tokens) per invocation, written without arrays:
// for SwiftShader, whose JIT (Subzero) unrolls no loop, so an array indexed by a loop counter stays in
// memory and each access is a gather lane by lane (rows's arrays cost it 2-3x the time). The 4 rows are
// the components of vec4s; x comes a piece at a time, in rows_flat shared through the subgroup (flat_x), in gemm_flat
// each lane its own loads.

// Rows rr's scale group g (loaded as the group starts) and their blocks b.
struct Groups4 {
  g0: Group,
  g1: Group,
  g2: Group,
  g3: Group,
}

struct Blocks4 {
  k0: Block,
  k1: Block,
  k2: Block,
  k3: Block,
}

fn load_groups4(rr: vec4<u32>, g: u32) -> Groups4 {
  return Groups4(load_group(rr.x, g), load_group(rr.y, g), load_group(rr.z, g), load_group(rr.w, g));
}

fn load_blocks4(rr: vec4<u32>, b: u32, gs: Groups4) -> Blocks4 {
  return Blocks4(load_block(rr.x, b, gs.g0), load_block(rr.y, b, gs.g1), load_block(rr.z, b, gs.g2), load_block(rr.w, b, gs.g3));
}

// The 4 rows' piece v, decoded.
struct Pieces4 {
  w0: XV,
  w1: XV,
  w2: XV,
  w3: XV,
}

fn pieces4(k: Blocks4, v: u32) -> Pieces4 {
  return Pieces4(block_piece(k.k0, v), block_piece(k.k1, v), block_piece(k.k2, v), block_piece(k.k3, v));
}

// The 4 rows' products with a piece of x (xv).
fn dot4(w: Pieces4, xv: XV) -> vec4<ACC> {
  return vec4<ACC>(piece_dot(w.w0, xv), piece_dot(w.w1, xv), piece_dot(w.w2, xv), piece_dot(w.w3, xv));
}

// The 4 rows' piece v widened by piece_top (the f32 route), and x's side of those products: code * TOP_UNIT.
struct Tops4 {
  w0: XWIDE,
  w1: XWIDE,
  w2: XWIDE,
  w3: XWIDE,
}

fn tops4(k: Blocks4, v: u32) -> Tops4 {
  return Tops4(piece_top(block_piece(k.k0, v)), piece_top(block_piece(k.k1, v)), piece_top(block_piece(k.k2, v)), piece_top(block_piece(k.k3, v)));
}

fn wide_dot4(w: Tops4, xw: XWIDE) -> vec4<f32> {
  return vec4<f32>(wide_dot(w.w0, xw), wide_dot(w.w1, xw), wide_dot(w.w2, xw), wide_dot(w.w3, xw));
}

const TOP_UNIT: f32 = 1.0 / (TOP * TOP);

fn combine4(k: Blocks4, part: vec4<ACC>, xs: ACC, xsc: f32) -> vec4<f32> {
  return vec4<f32>(block_combine(k.k0, part.x, xs, xsc), block_combine(k.k1, part.y, xs, xsc), block_combine(k.k2, part.z, xs, xsc), block_combine(k.k3, part.w, xs, xsc));
}

// A block's sums so far for rows_flat: the products with x[t] (dots, [row]) and x's sum (xsum, only for decoders
// with X_SUMS).
struct FlatSums {
  dots: vec4<ACC>,
  xsum: ACC,
}

// This invocation's lane in its subgroup (0 without subgroups), set once by rows_flat.
var<private> flat_lane: u32;

// x's piece at word k of token t: lanes 0-3 of the subgroup load its 4 words, one each, and subgroupBroadcast hands
// them to every lane (x_shared, X_VEC 1 here): one gather of 4 words where every lane loaded all 4. SwiftShader,
// bench/browser.ts matmul_page 1536x3072 alternating twice: Q5_0 0.64-0.79x the time, Q4_K 0.76-0.90x; Q8_0 (int8 x)
// 576x49152, 576x1536, 1536x576 and 576x3072 alternating, rounds 6: 0.94x each.
fn flat_x(t: u32, k: u32) -> XV {
  return x_piece_shared(vec4<u32>(), t, k, flat_lane); // no held words
}

// s plus piece v of block b.
fn flat_add(s: FlatSums, k: Blocks4, t: u32, b: u32, v: u32) -> FlatSums {
  let xv = flat_x(t, b * XW + 4u * v);
  if (FLOAT_DOT) { return flat_add_f32(s, k, v, piece_top(xv)); }
  var xsum = s.xsum;
  if (X_SUMS) { xsum += piece_sum(xv); }
  return FlatSums(s.dots + dot4(pieces4(k, v), xv), xsum);
}

// flat_add by exact f32 products (FLOAT_DOT): x's piece widened once for the 4 rows (xt: code * TOP), each row's
// codes by piece_top; a piece's 16 products sum below 2^24, so they convert back to the integer sums exactly.
fn flat_add_f32(s: FlatSums, k: Blocks4, v: u32, xt: XWIDE) -> FlatSums {
  var xsum = s.xsum;
  if (X_SUMS) { xsum += ACC(wide_sum(xt) / TOP); }
  return FlatSums(s.dots + vec4<ACC>(wide_dot4(tops4(k, v), wide_scaled(xt, TOP_UNIT))), xsum);
}

// Pieces first .. first+3, written out (v constant once inlined).
fn flat_add4(s: FlatSums, k: Blocks4, t: u32, b: u32, first: u32) -> FlatSums {
  return flat_add(flat_add(flat_add(flat_add(s, k, t, b, first), k, t, b, first + 1u), k, t, b, first + 2u), k, t, b, first + 3u);
}

@compute @workgroup_size(WG)
fn rows_flat(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_index) lid: u32,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let t = wid.y;
  if (t >= y_rows()) { return; }
  let w0 = expert_start(t, lid); // as in rows
  if (w0 == NOT_HERE) { return; }
  let tx = x_row(t); // x's row (t but for the expert GEMV)
  x_prepare(tx, lid);
  flat_lane = subgroup_lane();
  let nb = blocks_per_row();
  let bpg = blocks_per_group();
  let r0 = gid.x * 4u;
  let rr = clamp_rows(r0) + vec4<u32>(w0);
  var acc = vec4<f32>();
  var gc = GroupCursor(0u, bpg); // block b's scale group, counted as in rows
  var gs: Groups4;
  for (var b = 0u; b < nb; b++) {
    if (gc.left == bpg) { gs = load_groups4(rr, gc.g); }
    let k = load_blocks4(rr, b, gs);
    // The pieces written out where that measured faster (constant conditions: they fold away). Subzero keeps a loop
    // a loop: Q8_0 x's 2 pieces in one cost SwiftShader's Q8_0 GEMV 15-30% (bench/gemv_shapes, bench/matmul_page);
    // the GGUF planes' 4 or 8 (MUL_WIDEN) written out let piece_f32_mul's multipliers fold (Q5_0 1536x576:
    // 0.72-0.88x the time). f16's and FP8's keep the loop (written out, within noise or slower).
    var f = FlatSums(vec4<ACC>(), ACC(0));
    if (PIECES == 2u) {
      f = flat_add(flat_add(f, k, tx, b, 0u), k, tx, b, 1u);
    } else if (MUL_WIDEN && (PIECES == 4u || PIECES == 8u)) {
      f = flat_add4(f, k, tx, b, 0u);
      if (PIECES == 8u) { f = flat_add4(f, k, tx, b, 4u); }
    } else {
      for (var v = 0u; v < PIECES; v++) { f = flat_add(f, k, tx, b, v); }
    }
    acc += combine4(k, f.dots, f.xsum, x_scale(tx, b));
    gc = next_block(gc, bpg);
  }
  emit(t, r0, acc);
  gemv_tail(nwg.x * nwg.y);
}

// gemm_flat's f32 products (FLOAT_DOT) of a block so far: tokens tt's 4 rows each (t0 .. t3) and their x sums.
struct GemmFlatSums {
  t0: vec4<f32>,
  t1: vec4<f32>,
  t2: vec4<f32>,
  t3: vec4<f32>,
  xsum: vec4<f32>, // [token], for decoders with X_SUMS
}

// f plus piece v of block b: each code widened once for 4 rows or 4 tokens, without shifts (exact products code *
// code: see piece_top).
fn gemm_flat_add(f: GemmFlatSums, k: Blocks4, tt: vec4<u32>, b: u32, v: u32) -> GemmFlatSums {
  let kx = b * XW + 4u * v;
  let w = tops4(k, v);
  let x0 = wide_scaled(piece_top(x_piece(tt.x, kx)), TOP_UNIT);
  let x1 = wide_scaled(piece_top(x_piece(tt.y, kx)), TOP_UNIT);
  let x2 = wide_scaled(piece_top(x_piece(tt.z, kx)), TOP_UNIT);
  let x3 = wide_scaled(piece_top(x_piece(tt.w, kx)), TOP_UNIT);
  var xsum = f.xsum;
  if (X_SUMS) { xsum += vec4<f32>(wide_sum(x0), wide_sum(x1), wide_sum(x2), wide_sum(x3)) * TOP; }
  return GemmFlatSums(f.t0 + wide_dot4(w, x0), f.t1 + wide_dot4(w, x1), f.t2 + wide_dot4(w, x2), f.t3 + wide_dot4(w, x3), xsum);
}

// Prefill: 4 rows x 4 tokens (t0 .. t0+3; tokens past the end repeat the last one, not stored).
@compute @workgroup_size(WG)
fn gemm_flat(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let nt = step.n_tokens;
  let t0 = wid.y * 4u;
  if (t0 >= nt) { return; }
  let tt = min(vec4<u32>(t0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(nt - 1u));
  let nb = blocks_per_row();
  let bpg = blocks_per_group();
  let r0 = gid.x * 4u;
  let rr = clamp_rows(r0);
  var a0 = vec4<f32>(); // token t0's 4 rows
  var a1 = vec4<f32>();
  var a2 = vec4<f32>();
  var a3 = vec4<f32>();
  var gc = GroupCursor(0u, bpg);
  var gs: Groups4;
  for (var b = 0u; b < nb; b++) {
    if (gc.left == bpg) { gs = load_groups4(rr, gc.g); }
    let k = load_blocks4(rr, b, gs);
    var p0 = vec4<ACC>();
    var p1 = vec4<ACC>();
    var p2 = vec4<ACC>();
    var p3 = vec4<ACC>();
    var xs = vec4<ACC>(); // [token]
    if (FLOAT_DOT) {
      // f32 products (exact, see piece_top), each code widened once for 4 rows or 4 tokens
      var f = GemmFlatSums(vec4<f32>(), vec4<f32>(), vec4<f32>(), vec4<f32>(), vec4<f32>());
      if (PIECES == 2u) { // written out, as in rows_flat (a constant condition: folds away)
        f = gemm_flat_add(gemm_flat_add(f, k, tt, b, 0u), k, tt, b, 1u);
      } else {
        for (var v = 0u; v < PIECES; v++) { f = gemm_flat_add(f, k, tt, b, v); }
      }
      xs = vec4<ACC>(f.xsum);
      p0 = vec4<ACC>(f.t0);
      p1 = vec4<ACC>(f.t1);
      p2 = vec4<ACC>(f.t2);
      p3 = vec4<ACC>(f.t3);
    } else {
      for (var v = 0u; v < PIECES; v++) {
        let kx = b * XW + 4u * v;
        let x0 = x_piece(tt.x, kx);
        let x1 = x_piece(tt.y, kx);
        let x2 = x_piece(tt.z, kx);
        let x3 = x_piece(tt.w, kx);
        xs += vec4<ACC>(piece_sum(x0), piece_sum(x1), piece_sum(x2), piece_sum(x3));
        let w = pieces4(k, v); // decoded once for the 4 tokens
        p0 += dot4(w, x0);
        p1 += dot4(w, x1);
        p2 += dot4(w, x2);
        p3 += dot4(w, x3);
      }
    }
    a0 += combine4(k, p0, xs.x, x_scale(tt.x, b));
    a1 += combine4(k, p1, xs.y, x_scale(tt.y, b));
    a2 += combine4(k, p2, xs.z, x_scale(tt.z, b));
    a3 += combine4(k, p3, xs.w, x_scale(tt.w, b));
    gc = next_block(gc, bpg);
  }
  emit(t0, r0, a0);
  if (t0 + 1u < nt) { emit(t0 + 1u, r0, a1); }
  if (t0 + 2u < nt) { emit(t0 + 2u, r0, a2); }
  if (t0 + 3u < nt) { emit(t0 + 3u, r0, a3); }
}
