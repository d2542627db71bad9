// Decoder functions of the formats w = d * q + m per 32-block, d and m f16 in one scale word per
// block (Q4_1, Q5_1: their files set BLOCK). Block: shaders/weights/planes.wgsl,
// its .s = (d, m).

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

const X_SUMS: bool = true; // block_combine uses xs (shaders/matmul.wgsl)

fn block_combine(blk: Block, part: ACC, xs: ACC, xsc: f32) -> f32 {
  return blk.s.x * part + blk.s.y * xs;
}
