// What the f32 and bf16 decoders (shaders/weights/f32.wgsl, bf16.wgsl) share: no scales, blocks of BLOCK values read a
// piece (4 values) at a time, rows zero-padded to whole pieces at upload (ceil(K/4) of them). The decoder after it
// declares BLOCK, the binding w and block_piece. A block's pieces past the row's end read its last piece again, and x
// is zero there.
alias Block = vec3<u32>; // (the row's base, the block's first piece, the row's last piece): loaded a piece at a time

alias Group = u32; // no scales

fn load_group(r: u32, g: u32) -> Group {
  return 0u;
}

// Piece j of chunk row r is at base + j * ROW_TILE (tiled_index).
fn load_block(r: u32, b: u32, grp: Group) -> Block {
  let nv = (p.K + 3u) / 4u;
  return vec3<u32>(tiled_index(r, 0u, nv), 4u * b, nv - 1u);
}

const X_SUMS: bool = false; // block_combine ignores xs (shaders/matmul.wgsl)

fn block_combine(i: Block, part: ACC, xs: ACC, xsc: f32) -> f32 {
  return part;
}
