// IQ4_XS: super-blocks of 256 = 8 blocks of 32; w = (d * (ls_j - 32)) * IQ4_VALUES[q], q 4 bits, ls_j
// 6 bits (unpacked at upload into bytes), d f16. Row: a 4-bit plane (K/32 vec4s). Scales: per
// super-block 3 words: d (low half), 8 scale bytes.
const BLOCK: u32 = 32u;
// Block: shaders/weights/planes.wgsl; here .s = (d * (ls - 32), unused).

alias Group = SuperScales;

fn load_group(r: u32, g: u32) -> Group {
  return load_super(r, g, 3u);
}

fn load_block(r: u32, b: u32, grp: Group) -> Block {
  return load_codes(r, b, vec2<f32>(grp.d.x * (super_byte(grp, b & 7u) - 32.0), 0.0));
}

fn block_piece(blk: Block, v: u32) -> XV {
  return iq4_values4(piece_codes(blk, v));
}

const X_SUMS: bool = false; // block_combine ignores xs (shaders/matmul.wgsl)

fn block_combine(blk: Block, part: ACC, xs: ACC, xsc: f32) -> f32 {
  return blk.s.x * part;
}
