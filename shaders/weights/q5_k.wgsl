// Q5_K: as Q4_K with 5-bit q. Row: a 4-bit plane (K/32 vec4s), then the fifth bits (ceil(K/128) vec4s).
// Scales: per super-block 5 words: d | dmin << 16, 8 scale bytes, 8 min bytes.
const BLOCK: u32 = 32u;
const LO_BITS: u32 = 4u;
const HI_BITS: u32 = 1u;
// Block: shaders/weights/planes.wgsl; here .s = (d * sc, dmin * m).

alias Group = SuperScales;

fn load_group(r: u32, g: u32) -> Group {
  return load_super(r, g, 5u);
}

fn load_block(r: u32, b: u32, grp: Group) -> Block {
  return load_codes(r, b, grp.d * vec2<f32>(super_byte(grp, b % 8u), super_byte(grp, 8u + b % 8u)));
}

fn block_piece(blk: Block, v: u32) -> XV {
  return piece_f32(blk, v);
}

fn block_combine(blk: Block, part: ACC, xs: ACC, xsc: f32) -> f32 {
  return blk.s.x * part - blk.s.y * xs;
}
