// Q6_K: super-blocks of 256 = 16 sub-blocks of 16; w = (d * sc_j) * (q - 32), q 6 bits, sc_j int8, d f16.
// Row: a 4-bit plane of the low bits (K/32 vec4s) and a 2-bit plane of the high bits (K/64 vec4s),
// interleaved (planes.wgsl).
// Scales: per super-block 5 words: d (low half), 16 scale bytes (0.625 bits a weight: 6.625 in all).
// A block here is two sub-blocks (32 codes: one vec4 of the low plane, half of one of the high plane),
// and its pieces are the dequantized weights themselves: d * sc_j is exact in f32 (an 11-bit by 8-bit
// product), so (d * sc_j) * (q - 32) rounds once, as ggml's dequantization does. Blocks of 16 loaded
// each low-plane vec4 twice and paid the skeleton's per-block work (x sums, combine) twice as often.
const BLOCK: u32 = 32u;
// Block: shaders/weights/planes.wgsl; here .s = (d * sc of the first sub-block, d * sc of the second).

alias Group = SuperScales;

// Sub-scale j of a super-block: a signed byte.
fn q6_scale(grp: Group, j: u32) -> f32 {
  let sc = super_byte(grp, j);
  return select(sc, sc - 256.0, sc >= 128.0);
}

fn load_group(r: u32, g: u32) -> Group {
  return load_super(r, g, 5u);
}

fn load_block(r: u32, b: u32, grp: Group) -> Block {
  let j = 2u * (b & 7u);
  return load_codes(r, b, grp.d.x * vec2<f32>(q6_scale(grp, j), q6_scale(grp, j + 1u)));
}

// Pieces 0-3 are the first sub-block, 4-7 the second.
fn block_piece(blk: Block, v: u32) -> XV {
  return (piece_f32(blk, v) - 32.0) * select(blk.s.x, blk.s.y, v >= 4u);
}

const X_SUMS: bool = false; // block_combine ignores xs (shaders/matmul.wgsl)

fn block_combine(blk: Block, part: ACC, xs: ACC, xsc: f32) -> f32 {
  return part;
}
