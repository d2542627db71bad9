// q8 weights (Q8_0 x): int8 codes with one scale d_w per group of `group` weights along a row: 32
// (GGUF's Q8_0, the int8-g32 scheme) or the whole row (int8); a group is whole 32-blocks. This file is
// the codes; the scales come from one of two files put in front at load (src/kernels/weight_formats.ts):
// shaders/weights/block_scales.wgsl (f32 per group) or shaders/weights/block_half_scales.wgsl (f16 pairs).
// CODE_FLIP, put in front too (decoderOf): 0, or 0x80808080 where the codes are stored offset by 128 (each byte
// flipped: GpuWeights.offsetCodes), which block_piece flips back and rows' integer GEMV reads as they are.
const BLOCK: u32 = 32u;
struct Block {
  i: u32, // the block's first vec4: loaded half a block at a time (fewer registers for R rows)
  d: f32,
}

@group(0) @binding(4) var<storage, read> w: array<vec4<u32>>; // (rows, K/16): int8 codes, 4 per u32, this chunk (tiled_index by block)

// Block b of chunk row r, with scale d (the scale files' load_block).
fn block_at(r: u32, b: u32, d: f32) -> Block {
  return Block(tiled_index(r, b, k_blocks32()) * 2u, d);
}

fn block_piece(blk: Block, v: u32) -> XV {
  return w[blk.i + v] ^ vec4<u32>(CODE_FLIP);
}

// Offset codes (code + 128, 0..255) as stored, for piece_dot_unsigned; rows subtracts UNSIGNED_BIAS * the x sum.
const CODES_UNSIGNED: bool = CODE_FLIP != 0u;
const UNSIGNED_BIAS: i32 = 128;

fn block_piece_unsigned(blk: Block, v: u32) -> XV {
  return w[blk.i + v];
}

const X_SUMS: bool = false; // block_combine ignores xs (shaders/matmul.wgsl)

fn block_combine(blk: Block, part: ACC, xs: ACC, xsc: f32) -> f32 {
  return f32(part) * (blk.d * xsc);
}
