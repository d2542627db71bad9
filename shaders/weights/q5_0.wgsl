// Q5_0: w = d * (q - 16) per 32-block, q 5 bits. Row: a 4-bit plane (K/32 vec4s) and, interleaved
// (planes.wgsl), the fifth bits (ceil(K/128) vec4s). Scales: d (f16) per block, two blocks per word
// (ceil(K/64) words a row).
const BLOCK: u32 = 32u;
// Group, load_group, load_block: shaders/weights/d32.wgsl.

fn block_piece(blk: Block, v: u32) -> XV {
  return piece_f32(blk, v);
}

const X_SUMS: bool = true; // block_combine uses xs (shaders/matmul.wgsl)

fn block_combine(blk: Block, part: ACC, xs: ACC, xsc: f32) -> f32 {
  return blk.s.x * (part - 16.0 * xs);
}
