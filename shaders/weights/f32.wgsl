// f32 weights (f32 x): the values themselves, no scales. Rows are zero-padded to whole vec4s at
// upload (x is masked past K, so the padding adds zeros).
const BLOCK: u32 = 16u;
// Rows are padded only to whole vec4s (ceil(K/4)); a block's pieces past the row's end read its last
// vec4 again, and x is zero there.
alias Block = vec3<u32>; // (the row's base, the block's first vec4, the row's last vec4): loaded a piece at a time

@group(0) @binding(4) var<storage, read> w: array<vec4<f32>>; // (rows, ceil(K/4)): this chunk (tiled_index by vec4)

alias Group = u32; // no scales

fn load_group(r: u32, g: u32) -> Group {
  return 0u;
}

// Vec4 j of chunk row r is at base + j * ROW_TILE (tiled_index).
fn load_block(r: u32, b: u32, grp: Group) -> Block {
  let nv = (p.K + 3u) / 4u;
  return vec3<u32>(tiled_index(r, 0u, nv), 4u * b, nv - 1u);
}

fn block_piece(i: Block, v: u32) -> XV {
  return w[i.x + min(i.y + v, i.z) * ROW_TILE];
}

const X_SUMS: bool = false; // block_combine ignores xs (shaders/matmul.wgsl)

fn block_combine(i: Block, part: ACC, xs: ACC, xsc: f32) -> f32 {
  return part;
}
