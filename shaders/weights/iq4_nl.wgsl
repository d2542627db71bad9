// IQ4_NL: w = d * IQ4_VALUES[q] per 32-block, q 4 bits. Row: a 4-bit plane (K/32 vec4s). Scales: d
// (f16) per block, two blocks per word (ceil(K/64) words a row).
const BLOCK: u32 = 32u;
// Group, load_group, load_block: shaders/weights/d32.wgsl.

fn block_piece(blk: Block, v: u32) -> XV {
  return iq4_values4(piece_codes(blk, v));
}

const X_SUMS: bool = false; // block_combine ignores xs (shaders/matmul.wgsl)

fn block_combine(blk: Block, part: ACC, xs: ACC, xsc: f32) -> f32 {
  return blk.s.x * part;
}
