// The matmul's f32 x mode: x stays f32 (rounded to f16 first for f16 weights, as llama.cpp does:
// x_round, chosen at load), products and sums in f32: the exact function of the dequantized weights,
// up to the order of f32 sums. Every format but q8 / q4 takes x this way. A word of x is one value,
// a piece four. See shaders/matmul.wgsl for what each function is for. The words come from the
// matmul's input (x_word: shaders/matmul_in_f32.wgsl, or matmul_in_f32_norm.wgsl in decode).

const X_PER_WORD: u32 = 1u;
alias XV = vec4<f32>; // a piece: 4 values of x, or 4 decoded weight codes
alias ACC = f32; // sums of products
alias ELEM = f32; // one word of a gemm tile

fn x_elems(w: vec4<u32>) -> vec4<ELEM> {
  return x_round(bitcast<vec4<f32>>(w));
}

fn x_piece(t: u32, k: u32) -> XV {
  return x_elems(x_quad(t, k));
}

fn x_piece_shared(held: vec4<u32>, t: u32, k: u32, lane: u32) -> XV {
  if (X_VEC == 4u && X_HELD) { return bitcast<vec4<f32>>(x_shared(held, t, k, lane)); } // rounded by x_held
  return x_elems(x_shared(held, t, k, lane));
}

// rows' words of x as x_fetch hands them out (X_VEC 4 with subgroups: a piece's quad a lane, which x_shared shuffles to
// every lane), rounded as they are fetched: once for the subgroup's 4 pieces, where each piece was rounded after the
// shuffle, in every lane alike (f16 weights' round_f16, FP8's unit).
fn x_held(q: vec4<u32>) -> vec4<u32> {
  return bitcast<vec4<u32>>(x_round(bitcast<vec4<f32>>(q)));
}

fn x_scale(t: u32, b: u32) -> f32 {
  return 1.0;
}

fn piece_dot(w: XV, xv: XV) -> ACC {
  return dot(w, xv);
}

// Q8_0 x's unsigned-code route (shaders/matmul_x_q8.wgsl), never taken with f32 x.
const CODES_UNSIGNED: bool = false;
const UNSIGNED_BIAS: i32 = 0;

fn block_piece_unsigned(blk: Block, v: u32) -> XV {
  return block_piece(blk, v);
}

fn piece_dot_unsigned(a: XV, b: XV) -> ACC {
  return piece_dot(a, b);
}

fn x_block_sum(held: vec4<u32>) -> ACC {
  return 0.0;
}

fn piece_sum(xv: XV) -> ACC {
  return (xv.x + xv.y) + (xv.z + xv.w);
}

fn elem_dot(a: ELEM, b: ELEM) -> ACC {
  return a * b;
}

// The f32 route of 'rows' (FLOAT_DOT, see shaders/matmul_x_q8.wgsl): pieces are f32 already.
alias XWIDE = vec4<f32>;

fn piece_wide(v: XV) -> XWIDE {
  return v;
}

// rows8: lane l's widened piece (token l's) at l, in every lane.
fn wide_lanes(w: XWIDE) -> array<XWIDE, 8> {
  return lanes8_vec4f(w);
}

fn wide_dot(a: XWIDE, b: XWIDE) -> f32 {
  return dot(a, b);
}

fn wide_sum(a: XWIDE) -> f32 {
  return piece_sum(a);
}

// The flat kernels' route (see shaders/matmul_x_q8.wgsl): f32 pieces are their own values.
const TOP: f32 = 1.0;

fn piece_top(v: XV) -> XWIDE {
  return v;
}

fn wide_scaled(p: XWIDE, s: f32) -> XWIDE {
  return p * s;
}
