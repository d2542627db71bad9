// q8 weights (Q8_0 x): int8 codes with one scale d_w per group of `group` weights along a row: 32
// (GGUF's Q8_0, the int8-g32 scheme) or the whole row (int8); a group is whole 32-blocks. With
// HALF_SCALES (scales per 32-block that are all f16 values, as GGUF's Q8_0 are: src/kernels/matmul_weights.ts
// pairedScales) a scale word holds two blocks' scales as an f16 pair, and `group` is 64: the skeleton loads
// the word once per two blocks, and each block takes its half.
override HALF_SCALES: bool = false;
const BLOCK: u32 = 32u;
struct Block {
  i: u32, // the block's first vec4: loaded half a block at a time (fewer registers for R rows)
  d: f32,
}

@group(0) @binding(4) var<storage, read> w: array<vec4<u32>>; // (rows, K/16): int8 codes, 4 per u32, this chunk (tiled_index by block)
@group(0) @binding(5) var<storage, read> wd: array<u32>; // (rows, groups): weight scales as f32 bits, or f16 pairs; this chunk (tiled_index by group)

alias Group = vec2<f32>; // the group's scale, or with HALF_SCALES its two blocks' scales

fn load_group(r: u32, g: u32) -> Group {
  let word = wd[tiled_index(r, g, p.groups)];
  if (HALF_SCALES) { return unpack2x16float(word); }
  return vec2<f32>(bitcast<f32>(word));
}

fn load_block(r: u32, b: u32, d: Group) -> Block {
  return Block(tiled_index(r, b, p.K / 32u) * 2u, select(d.x, d.y, HALF_SCALES && (b & 1u) == 1u));
}

fn block_piece(blk: Block, v: u32) -> XV {
  return w[blk.i + v];
}

fn block_combine(blk: Block, part: ACC, xs: ACC, xsc: f32) -> f32 {
  return f32(part) * (blk.d * xsc);
}
