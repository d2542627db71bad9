// The GPU layout of the GGUF block formats (q4_1 ... iq4_xs; src/kernels/weight_layouts.ts converts
// ggml's blocks into it at load): each row's codes in bit planes of 4, 2 or 1 bits per weight, one
// plane after another in the row (a 5-bit code: a 4-bit plane, then a 1-bit plane of the fifth bits),
// and each row's scales in u32 records of f16 pairs and bytes. Every decoder of these formats takes x
// in f32 (shaders/matmul_x_f32.wgsl): the exact function of the dequantized weights.
// LO_BITS and HI_BITS, the planes' bits, come from the layout (src/kernels/weight_formats.ts puts them in
// front). On CPU adapters the codes of 5, 6 and 3 bits are widened at load to one 8-bit plane (LO_BITS 8,
// HI_BITS 0: a byte a code, a block of 32 two vec4s): the same codes, decoded by a shift and a mask a piece.

@group(0) @binding(4) var<storage, read> w: array<vec4<u32>>; // (rows, row vec4s): code planes, this chunk (code_vec)
@group(0) @binding(5) var<storage, read> ws: array<u32>; // (rows, scale words): scale records, this chunk (scale_word)

// vec4s of a plane of `bits`-bit codes in a row: ceil(K * bits / 128) (padded to a whole vec4).
fn plane_vecs(bits: u32) -> u32 {
  return (p.K * bits + 127u) >> 7u;
}

// Vec4 j of chunk row r's codes, and word j of its scale record (`per` words a row): row-major or in row
// tiles (tiled_index, shaders/tiled_index.wgsl; tiled by vec4 and by word).
fn code_vec(r: u32, j: u32) -> vec4<u32> {
  return w[tiled_index(r, j, plane_vecs(LO_BITS) + plane_vecs(HI_BITS))];
}

fn scale_word(r: u32, j: u32, per: u32) -> u32 {
  return ws[tiled_index(r, j, per)];
}

// A block of these formats as the skeletons keep it: the vec4s of its low-bit plane (LO_BITS bits a
// code) and high-bit plane (HI_BITS, 0 for none), which hold its codes from slot lo_slot / hi_slot on,
// and its two scales (what they mean is the format's). In a plane of `bits`-bit codes a vec4 holds
// 128 / bits codes, code e of it in word e % 4 at slot e / 4: the 4 codes of a piece are the 4 words
// shifted by one amount, and one load of each plane serves a whole block.
// With a high plane, a row is chunks of HI_PER codes (one high vec4's worth): the chunk's low vec4s,
// then its high vec4 (the last chunk may be short: only the low vec4s it needs). So a block's loads are
// neighbours and a row is read as one stream, not two (on CPU SIMD every lane reads its own rows).
struct Block {
  lo: vec4<u32>,
  hi: vec4<u32>,
  lo_slot: u32,
  hi_slot: u32,
  s: vec2<f32>,
}

const LO_PER: u32 = 128u / LO_BITS; // codes per low vec4
const HI_PER: u32 = 128u / max(HI_BITS, 1u); // codes per high vec4 (a chunk)
const CHUNK_LO: u32 = HI_PER / LO_PER; // low vec4s of a whole chunk
// Divisions by these powers of two are written as shifts and masks: SwiftShader's JIT divides lane by lane, even
// by a constant (see k_blocks32 in matmul_common.wgsl; there Q4_K and Q5_0 GEMVs took 0.84-0.87x the time).
const LO_SHIFT: u32 = countTrailingZeros(LO_PER);
const HI_SHIFT: u32 = countTrailingZeros(HI_PER);
const_assert (LO_PER & (LO_PER - 1u)) == 0u && (HI_PER & (HI_PER - 1u)) == 0u;

fn load_codes(r: u32, b: u32, s: vec2<f32>) -> Block {
  let k = BLOCK * b; // the block's first code
  // 8 bits: a block of 32 is two vec4s (the second in .hi), a block of 16 one.
  let lo_slot = select((k & (LO_PER - 1u)) >> 2u, 0u, BLOCK % LO_PER == 0u); // (k % LO_PER) / 4
  if (LO_BITS == 8u && BLOCK > 16u) { return Block(code_vec(r, k >> 4u), code_vec(r, (k >> 4u) + 1u), 0u, 0u, s); }
  if (HI_BITS == 0u) { return Block(code_vec(r, k >> LO_SHIFT), vec4<u32>(0u), lo_slot, 0u, s); }
  let c = k >> HI_SHIFT; // the chunk
  let at = c * (CHUNK_LO + 1u);
  let lo_in_chunk = min(CHUNK_LO, (p.K - c * HI_PER + LO_PER - 1u) >> LO_SHIFT);
  let in_chunk = k & (HI_PER - 1u);
  return Block(code_vec(r, at + (in_chunk >> LO_SHIFT)), code_vec(r, at + lo_in_chunk), lo_slot, in_chunk >> 2u, s);
}

// Codes 4v .. 4v+3 of the block (unsigned, LO_BITS + HI_BITS bits).
fn piece_codes(blk: Block, v: u32) -> vec4<u32> {
  if (LO_BITS == 8u) { return (select(blk.lo, blk.hi, v >= 4u) >> vec4<u32>(8u * (v & 3u))) & vec4<u32>(0xFFu); }
  let lo = (blk.lo >> vec4<u32>(LO_BITS * (blk.lo_slot + v))) & vec4<u32>((1u << LO_BITS) - 1u);
  if (HI_BITS == 0u) { return lo; }
  let hi = (blk.hi >> vec4<u32>(HI_BITS * (blk.hi_slot + v))) & vec4<u32>((1u << HI_BITS) - 1u);
  return lo | (hi << vec4<u32>(LO_BITS));
}

// A piece's codes as f32, converted through i32 (they are small): one instruction on x86 SIMD,
// where an unsigned conversion takes several.
fn piece_f32(blk: Block, v: u32) -> vec4<f32> {
  if (MUL_WIDEN && HI_BITS == 0u) { return piece_f32_mul(blk, v); }
  return vec4<f32>(bitcast<vec4<i32>>(piece_codes(blk, v)));
}

// piece_f32 without a shift per code (MUL_WIDEN: SwiftShader, whose JIT shifts a vector lane by lane, even by a
// constant; bench/gemv_shapes: codes widened by shifts took 2.4x the time of these multiplies). A code is moved
// to the word's top bits by a multiply by 2^(LO_TOP - LO_BITS * slot) and masked: code * 2^LO_TOP as an i32,
// exact in f32. Codes of 4, 2 or 1 bits have their top bit flipped first, so that the i32 is
// (code - LO_HALF) * 2^LO_TOP, never past the sign; the 8-bit plane holds widened codes of at most 6 bits.
const LO_TOP: u32 = 32u - LO_BITS;
const LO_HALF: u32 = select(1u << (LO_BITS - 1u), 0u, LO_BITS == 8u);
const LO_FLIP: u32 = (0xFFFFFFFFu / ((1u << LO_BITS) - 1u)) * LO_HALF; // LO_HALF in every code
const LO_TOP_MASK: u32 = ((1u << LO_BITS) - 1u) << LO_TOP;

fn piece_f32_mul(blk: Block, v: u32) -> vec4<f32> {
  let words = select(blk.lo, blk.hi, LO_BITS == 8u && v >= 4u);
  let slot = select(blk.lo_slot + v, v & 3u, LO_BITS == 8u);
  let top = ((words ^ vec4<u32>(LO_FLIP)) * (1u << (LO_TOP - LO_BITS * slot))) & vec4<u32>(LO_TOP_MASK);
  let codes = vec4<f32>(bitcast<vec4<i32>>(top)) * (1.0 / f32(1u << LO_TOP));
  if (LO_HALF == 0u) { return codes; } // a compiler keeps a + 0.0 (-0 + 0 is +0)
  return codes + f32(LO_HALF);
}

// The two IEEE binary16 halves of h as f32 (low half, high half), exactly. unpack2x16float is exact
// for normals, infinities and NaN but may flush subnormals to zero, and most Q6_K super-block scales
// are f16 subnormals: those are redone as m * 2^-24 (exact in f32).
fn f16_pair(h: u32) -> vec2<f32> {
  let bits = vec2<u32>(h & 0xFFFFu, h >> 16u);
  let m = vec2<f32>(bitcast<vec2<i32>>(bits & vec2<u32>(0x83FFu))); // sign | mantissa
  let sub = select(m, 32768.0 - m, m >= vec2<f32>(32768.0)) * (1.0 / 16777216.0); // +-m * 2^-24
  return select(unpack2x16float(h), sub, (bits & vec2<u32>(0x7C00u)) == vec2<u32>(0u));
}

fn f16_value(h: u32) -> f32 {
  return f16_pair(h & 0xFFFFu).x;
}

// The scales of a 256-weight super-block (Q2_K ... Q6_K, IQ4_XS): a record of `words` u32, the
// first holding f16 d (and dmin), then sub-scale bytes, loaded once for the super-block's blocks.
struct SuperScales {
  d: vec2<f32>, // (d, dmin)
  bytes: vec4<u32>, // sub-scale bytes 0..15
}

fn load_super(r: u32, g: u32, words: u32) -> SuperScales {
  let per = (p.K >> 8u) * words;
  let s = g * words;
  let bytes = vec4<u32>(scale_word(r, s + 1u, per), scale_word(r, s + 2u, per),
    select(0u, scale_word(r, s + 3u, per), words > 3u), select(0u, scale_word(r, s + 4u, per), words > 4u));
  return SuperScales(f16_pair(scale_word(r, s, per)), bytes);
}

// Sub-scale byte j of a super-block, as f32.
fn super_byte(sc: SuperScales, j: u32) -> f32 {
  return f32(bitcast<i32>((sc.bytes[j >> 2u] >> (8u * (j & 3u))) & 0xFFu));
}

// (d, m), f16, one word per 32-block (Q4_1, Q5_1).
fn block_d_m(r: u32, b: u32) -> vec2<f32> {
  return f16_pair(scale_word(r, b, k_blocks32()));
}

// d, f16, per 32-block, two blocks a word (Q5_0, IQ4_NL).
fn block_d(r: u32, b: u32) -> f32 {
  return f16_value(scale_word(r, b >> 1u, (p.K + 63u) >> 6u) >> (16u * (b & 1u)));
}
