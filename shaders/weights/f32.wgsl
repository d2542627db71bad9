// f32 weights (f32 x): the values themselves, no scales. Rows are zero-padded to whole blocks at
// upload (x is masked past K, so the padding adds zeros).
const BLOCK: u32 = 16u;
alias Block = u32; // the block's first vec4 (loaded a piece at a time)

@group(0) @binding(4) var<storage, read> w: array<vec4<f32>>; // (rows, 4 * blocks): this chunk

alias Group = u32; // no scales

fn load_group(r: u32, g: u32) -> Group {
  return 0u;
}

fn load_block(r: u32, b: u32, grp: Group) -> Block {
  return (r * blocks_per_row() + b) * 4u;
}

fn block_piece(i: Block, v: u32) -> XV {
  return w[i + v];
}

fn block_combine(i: Block, part: ACC, xs: ACC, xsc: f32) -> f32 {
  return part;
}
