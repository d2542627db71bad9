// The scales of q8 and q4 (shaders/weights/q8.wgsl, q4.wgsl) as f16 pairs: where every scale is one per 32-block and
// an f16 value (GGUF's Q8_0 and Q4_0: src/kernels/matmul_weights.ts pairedScales), a word holds two blocks' scales
// (block 2j low, 2j + 1 high) and `group` is 64, so the skeleton loads a word once per two blocks and each block takes
// its half. The decoder after it defines block_at(r, b, d), its block b of chunk row r with scale d.

@group(0) @binding(5) var<storage, read> wd: array<u32>; // (rows, groups): f16 scale pairs, this chunk (tiled_index by group)

alias Group = vec2<f32>; // the scales of the group's two blocks

fn load_group(r: u32, g: u32) -> Group {
  return unpack2x16float(wd[tiled_index(r, g, p.groups)]);
}

fn load_block(r: u32, b: u32, d: Group) -> Block {
  return block_at(r, b, select(d.x, d.y, (b & 1u) == 1u));
}
