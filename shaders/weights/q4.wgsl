// q4 weights (Q8_0 x): GGUF Q4_0, w = d * (q - 8), 4-bit q, one scale d per 32. A block is 4 u32,
// GGUF's 16 bytes: byte j holds element j in its low nibble and element j + 16 in its high nibble, so
// the low nibbles line up with x words 0..3 (piece 0) and the high ones with x words 4..7 (piece 1).
// The codes are used as they are (0..15) and the -8 comes with the sum of x. The scales: shaders/weights/block_scales.wgsl
// (f32) or block_half_scales.wgsl (f16 pairs), put in front at load.
const BLOCK: u32 = 32u;
struct Block {
  q: vec4<u32>, // the block's 32 codes
  d: f32,
}

@group(0) @binding(4) var<storage, read> w: array<vec4<u32>>; // (rows, K/32): one block per vec4, this chunk

// Block b of chunk row r, with scale d (the scale files' load_block).
fn block_at(r: u32, b: u32, d: f32) -> Block {
  return Block(w[tiled_index(r, b, k_blocks32())], d);
}

fn block_piece(blk: Block, v: u32) -> XV {
  return (blk.q >> vec4<u32>(4u * v)) & vec4<u32>(0x0F0F0F0Fu);
}

// The codes are unsigned (0..15) as they are: rows may take piece_dot_unsigned, and the -8 stays in block_combine.
const CODES_UNSIGNED: bool = true;
const UNSIGNED_BIAS: i32 = 0;

fn block_piece_unsigned(blk: Block, v: u32) -> XV {
  return block_piece(blk, v);
}

const X_SUMS: bool = true; // block_combine uses xs (shaders/matmul.wgsl)

fn block_combine(blk: Block, part: ACC, xs: ACC, xsc: f32) -> f32 {
  return f32(part - 8 * xs) * (blk.d * xsc);
}
