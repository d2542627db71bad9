// Q6_K: super-blocks of 256 = 16 blocks of 16; w = (d * sc_j) * (q - 32), q 6 bits, sc_j int8, d f16.
// Row: a 4-bit plane of the low bits (K/32 vec4s), then a 2-bit plane of the high bits (K/64 vec4s).
// Scales: per super-block 5 words: d (low half), 16 scale bytes (0.625 bits a weight: 6.625 in all).
const BLOCK: u32 = 16u;
const LO_BITS: u32 = 4u;
const HI_BITS: u32 = 2u;
// Block: shaders/weights/planes.wgsl; here .s = (d * sc, unused).

alias Group = SuperScales;

fn load_group(r: u32, g: u32) -> Group {
  return load_super(r, g, 5u);
}

fn load_block(r: u32, b: u32, grp: Group) -> Block {
  let sc = super_byte(grp, b % 16u);
  return load_codes(r, b, vec2<f32>(grp.d.x * select(sc, sc - 256.0, sc >= 128.0), 0.0)); // sc: int8
}

fn block_piece(blk: Block, v: u32) -> XV {
  return piece_f32(blk, v);
}

fn block_combine(blk: Block, part: ACC, xs: ACC, xsc: f32) -> f32 {
  return blk.s.x * (part - 32.0 * xs);
}
