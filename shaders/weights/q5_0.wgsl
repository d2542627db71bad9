// Q5_0: w = d * (q - 16) per 32-block, q 5 bits. Row: a 4-bit plane (K/32 vec4s), then the fifth bits
// (ceil(K/128) vec4s). Scales: d (f16) per block, two blocks per word (ceil(K/64) words a row).
const BLOCK: u32 = 32u;
const LO_BITS: u32 = 4u;
const HI_BITS: u32 = 1u;
// Block: shaders/weights/planes.wgsl; here .s = (d, unused).

alias Group = f32;

fn load_group(r: u32, g: u32) -> Group {
  return block_d(r, g);
}

fn load_block(r: u32, b: u32, grp: Group) -> Block {
  return load_codes(r, b, vec2<f32>(grp, 0.0));
}

fn block_piece(blk: Block, v: u32) -> XV {
  return piece_f32(blk, v);
}

fn block_combine(blk: Block, part: ACC, xs: ACC, xsc: f32) -> f32 {
  return blk.s.x * (part - 16.0 * xs);
}
