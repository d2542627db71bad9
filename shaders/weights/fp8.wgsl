// FP8 weights (f32 x): OCP E4M3, or E5M2 when the override E5M2 is set, with one f32 scale s per
// group of `group` weights along a row (a multiple of 16 or the whole row, so a block never straddles
// two scales). Codes 4 per u32, element 4i in the low byte; rows zero-padded to whole blocks of 16.
override E5M2: bool = false; // the code format: false E4M3, true E5M2
override FP8_NAN: bool = true; // E4M3: false where the matrix has no NaN code (uploadWeights looks), a cheaper decode
// E4M3 by fp8x4_bits (CPU adapters that keep f32 subnormals; a matrix with no NaN code and every scale below 2^60:
// GpuWeights.fp8Bits). Its codes come in units of 2^-120: x takes 2^60 of that as the matmul reads it (x_round, in
// src/kernels/matmul_shader.ts), the scale the other 2^60, so no product overflows (f32 reaches 2^128) and code * x falls
// below f32's normal range only where it is under 2^-66. The embedding gather keeps fp8x4_units (FP8_BITS unset).
override FP8_BITS: bool = false;
const BITS_UNIT: f32 = 0x1p60f;
const BLOCK: u32 = 16u;
struct Block {
  q: vec4<u32>, // the block's 16 codes
  s: f32,
}

@group(0) @binding(4) var<storage, read> w: array<vec4<u32>>; // (rows, ceil(K/16)): FP8 codes, this chunk
@group(0) @binding(5) var<storage, read> wd: array<f32>; // (rows, groups): weight scales, this chunk

// fp8x4_units, fp8_unit (a word of codes as f32): shaders/fp8_codes.wgsl, put in front at load.

alias Group = f32; // the scale

// The scale times fp8_unit(): block_piece's codes come in that unit (an exact power-of-two product); with FP8_BITS,
// times 2^60 (x brings the other 2^60 of fp8x4_bits's 2^120).
fn load_group(r: u32, g: u32) -> Group {
  return wd[tiled_index(r, g, p.groups)] * select(fp8_unit(), BITS_UNIT, FP8_BITS);
}

fn load_block(r: u32, b: u32, d: Group) -> Block {
  return Block(w[tiled_index(r, b, blocks_per_row())], d);
}

fn block_piece(blk: Block, v: u32) -> XV {
  if (FP8_BITS) { return fp8x4_bits(blk.q[v]); }
  return fp8x4_units(blk.q[v], FP8_NAN);
}

const X_SUMS: bool = false; // block_combine ignores xs (shaders/matmul.wgsl)

fn block_combine(blk: Block, part: ACC, xs: ACC, xsc: f32) -> f32 {
  return part * blk.s;
}
