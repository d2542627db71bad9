// f16 weights (f32 x rounded to f16, as llama.cpp: each product of two f16 values is exact in f32):
// two halves per u32, element 2i in the low half, widened exactly with unpack2x16float. Rows are
// zero-padded to whole blocks at upload.
const BLOCK: u32 = 32u;
alias Block = u32; // the block's first vec2 (loaded a piece at a time)

@group(0) @binding(4) var<storage, read> w: array<vec2<u32>>; // (rows, 8 * blocks): 4 halves each, this chunk

alias Group = u32; // no scales

fn load_group(r: u32, g: u32) -> Group {
  return 0u;
}

fn load_block(r: u32, b: u32, grp: Group) -> Block {
  return (r * blocks_per_row() + b) * 8u;
}

fn block_piece(i: Block, v: u32) -> XV {
  let h = w[i + v];
  return vec4<f32>(unpack2x16float(h.x), unpack2x16float(h.y));
}

fn block_combine(i: Block, part: ACC, xs: ACC, xsc: f32) -> f32 {
  return part;
}
