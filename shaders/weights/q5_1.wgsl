// Q5_1: w = d * q + m per 32-block, q 5 bits. Row: a 4-bit plane (K/32 vec4s), then the fifth bits
// (ceil(K/128) vec4s). Scales: per block one word, d | m << 16 (f16).
const BLOCK: u32 = 32u;
const LO_BITS: u32 = 4u;
const HI_BITS: u32 = 1u;
// Block: shaders/weights/planes.wgsl; here .s = (d, m).

alias Group = vec2<f32>;

fn load_group(r: u32, g: u32) -> Group {
  return block_d_m(r, g);
}

fn load_block(r: u32, b: u32, grp: Group) -> Block {
  return load_codes(r, b, grp);
}

fn block_piece(blk: Block, v: u32) -> XV {
  return piece_f32(blk, v);
}

fn block_combine(blk: Block, part: ACC, xs: ACC, xsc: f32) -> f32 {
  return blk.s.x * part + blk.s.y * xs;
}
