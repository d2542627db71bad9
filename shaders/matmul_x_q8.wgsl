// The matmul's Q8_0 x mode, llama.cpp's CPU numerics for Q8_0 and Q4_0 weights: x is quantized to
// Q8_0 first, then per 32-block
//   y += f32(sumi) * (d_w * d_x),   sumi = sum of int8 code * int8 x, exact,
// summed over blocks in f32 (block_combine does the product in that order). A block is never split
// across lanes, so sumi stays one exact integer. A word of x is 4 int8 values, a piece 16.
// Decoders in this mode have BLOCK = 32 (one x scale per block). See shaders/matmul.wgsl. The codes
// and scales come from the matmul's input (x_word, x_scale): quantized by a separate dispatch or by
// x's producer (shaders/matmul_in_q8.wgsl), or in the GEMV's own prologue (matmul_in_q8_local.wgsl).

const X_PER_WORD: u32 = 4u;
alias XV = vec4<u32>; // a piece: 16 int8 codes of x or W, 4 per u32, element 4i in the low byte
alias ACC = i32; // exact integer sums
alias ELEM = u32; // one word (4 codes) of a gemm tile

fn x_elems(w: vec4<u32>) -> vec4<ELEM> {
  return w;
}

fn x_piece(t: u32, k: u32) -> XV {
  return x_quad(t, k);
}

fn x_piece_shared(held: vec4<u32>, t: u32, k: u32, lane: u32) -> XV {
  return x_shared(held, t, k, lane);
}

// rows' fetched words of x, as they are (see shaders/matmul_x_f32.wgsl).
fn x_held(q: vec4<u32>) -> vec4<u32> {
  return q;
}

fn piece_dot(a: XV, b: XV) -> ACC {
  return dot4i8(a.x, b.x) + dot4i8(a.y, b.y) + dot4i8(a.z, b.z) + dot4i8(a.w, b.w);
}

// The same sum with a's bytes unsigned (0..255) and x's signed: each byte's product an unsigned byte's times a signed
// one, as LLVM (lavapipe) compiles to a 16-bit multiply-add (vpmaddwd, vpdpwssd) where dot4I8Packed's sign-extended
// bytes take a 32-bit multiply each (vpmulld): the decoders' CODES_UNSIGNED codes (offset Q8_0, Q4_0).
fn word_dot_unsigned(a: u32, b: u32) -> i32 {
  let ib = bitcast<i32>(b);
  return (i32(a & 255u) * extractBits(ib, 0u, 8u) + i32((a >> 8u) & 255u) * extractBits(ib, 8u, 8u))
       + (i32((a >> 16u) & 255u) * extractBits(ib, 16u, 8u) + i32(a >> 24u) * extractBits(ib, 24u, 8u));
}

fn piece_dot_unsigned(a: XV, b: XV) -> ACC {
  return (word_dot_unsigned(a.x, b.x) + word_dot_unsigned(a.y, b.y)) + (word_dot_unsigned(a.z, b.z) + word_dot_unsigned(a.w, b.w));
}

// X_VEC 8: the sum of a block's 32 codes, its 8 words held one a lane by 8 neighbouring lanes (x_fetch).
fn x_block_sum(held: vec4<u32>) -> ACC {
  return lanes8_sum(dot4i8(held.x, 0x01010101u));
}

fn piece_sum(xv: XV) -> ACC {
  return piece_dot(xv, vec4<u32>(0x01010101u));
}

fn elem_dot(a: ELEM, b: ELEM) -> ACC {
  return dot4i8(a, b);
}

// A piece's 16 codes as f32, each exactly (int8). Products of two are at most 2^14 and a block's 32 of
// them sum below 2^24, so f32 sums over a block equal the integer sumi exactly, in any order: the
// f32 route ('rows' with FLOAT_DOT) gives bit-identical results with one FMA per product where
// dot4i8 costs a CPU SIMD lane many (no packed-byte multiply there).
// Four vec4s, not an array: SwiftShader's JIT unrolls no loop, and an array indexed by a loop counter
// stays in memory there (see rows_flat).
struct XWIDE {
  a: vec4<f32>,
  b: vec4<f32>,
  c: vec4<f32>,
  d: vec4<f32>,
}

fn word_wide(w: u32) -> vec4<f32> {
  return vec4<f32>((vec4<i32>(bitcast<i32>(w)) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u));
}

fn piece_wide(v: XV) -> XWIDE {
  return XWIDE(word_wide(v.x), word_wide(v.y), word_wide(v.z), word_wide(v.w));
}

// rows8: lane l's widened piece (token l's) at l, in every lane.
fn wide_lanes(w: XWIDE) -> array<XWIDE, 8> {
  let a = lanes8_vec4f(w.a);
  let b = lanes8_vec4f(w.b);
  let c = lanes8_vec4f(w.c);
  let d = lanes8_vec4f(w.d);
  var out: array<XWIDE, 8>;
  for (var l = 0u; l < 8u; l++) { out[l] = XWIDE(a[l], b[l], c[l], d[l]); }
  return out;
}

fn wide_dot(p: XWIDE, q: XWIDE) -> f32 {
  return (dot(p.a, q.a) + dot(p.b, q.b)) + (dot(p.c, q.c) + dot(p.d, q.d));
}

fn wide_sum(p: XWIDE) -> f32 {
  let one = vec4<f32>(1.0);
  return (dot(p.a, one) + dot(p.b, one)) + (dot(p.c, one) + dot(p.d, one));
}

// The flat kernels' route to the same exact f32 products (SwiftShader): its JIT shifts lane by lane, even by
// a constant (word_wide's shifts: 2.4x the time of these multiplies, bench/gemv_shapes). piece_top
// widens a code without shifts: byte i is moved to the top byte by a multiply by 2^(24 - 8i) (a vector
// multiply there), masked and taken as i32: code * 2^24, exact in f32. Its partner is scaled by 1 / TOP^2
// (code * 2^-24, exact), so each product is exactly code * code (bench/gemv_shapes: 0.70x dot4I8Packed's time).
const TOP: f32 = 16777216.0;

fn word_top(w: u32) -> vec4<f32> {
  const HI = 0xFF000000u;
  let v = vec4<u32>(w * 16777216u, (w * 65536u) & HI, (w * 256u) & HI, w & HI);
  return vec4<f32>(bitcast<vec4<i32>>(v));
}

fn piece_top(v: XV) -> XWIDE {
  return XWIDE(word_top(v.x), word_top(v.y), word_top(v.z), word_top(v.w));
}

fn wide_scaled(p: XWIDE, s: f32) -> XWIDE {
  return XWIDE(p.a * s, p.b * s, p.c * s, p.d * s);
}
