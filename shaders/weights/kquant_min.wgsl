// Decoder functions of Q4_K and Q5_K (their files set BLOCK): super-blocks of 256
// = 8 blocks of 32, w = (d * sc_j) * q - (dmin * m_j); the scale record: d | dmin << 16, 8 scale bytes,
// 8 min bytes. Block: shaders/weights/planes.wgsl, its .s = (d * sc, dmin * m).

alias Group = SuperScales;

fn load_group(r: u32, g: u32) -> Group {
  return load_super(r, g, 5u);
}

fn load_block(r: u32, b: u32, grp: Group) -> Block {
  return load_codes(r, b, grp.d * vec2<f32>(super_byte(grp, b & 7u), super_byte(grp, 8u + (b & 7u))));
}

fn block_piece(blk: Block, v: u32) -> XV {
  return piece_f32(blk, v);
}

const X_SUMS: bool = true; // block_combine uses xs (shaders/matmul.wgsl)

fn block_combine(blk: Block, part: ACC, xs: ACC, xsc: f32) -> f32 {
  return blk.s.x * part - blk.s.y * xs;
}
