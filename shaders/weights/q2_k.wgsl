// Q2_K: super-blocks of 256 = 16 blocks of 16; w = (d * sc_j) * q - (dmin * m_j), q 2 bits, sc_j and
// m_j 4 bits (a byte each block, sc in the low nibble, as in the file), d and dmin f16.
// Row: a 2-bit plane (K/64 vec4s). Scales: per super-block 5 words: d | dmin << 16, 16 bytes.
const BLOCK: u32 = 16u;
// Block: shaders/weights/planes.wgsl; here .s = (d * sc, dmin * m).

alias Group = SuperScales;

fn load_group(r: u32, g: u32) -> Group {
  return load_super(r, g, 5u);
}

fn load_block(r: u32, b: u32, grp: Group) -> Block {
  let sm = super_byte(grp, b & 15u); // sc | m << 4
  return load_codes(r, b, grp.d * vec2<f32>(sm % 16.0, floor(sm / 16.0)));
}

fn block_piece(blk: Block, v: u32) -> XV {
  return piece_f32(blk, v);
}

const X_SUMS: bool = true; // block_combine uses xs (shaders/matmul.wgsl)

fn block_combine(blk: Block, part: ACC, xs: ACC, xsc: f32) -> f32 {
  return blk.s.x * part - blk.s.y * xs;
}
