// f16 weights (f32 x rounded to f16, as llama.cpp: each product of two f16 values is exact in f32):
// two halves per u32, element 2i in the low half, widened exactly with unpack2x16float. Rows are
// zero-padded to whole vec4<u32> (8 halves) at upload.
const BLOCK: u32 = 32u;
// Rows are padded only to whole vec4<u32> (8 halves); a block's pieces past the row's end read its last
// vec2 again, and x is zero there.
alias Block = vec3<u32>; // (the row's base, the block's first vec2, the row's last vec2): loaded a piece at a time

@group(0) @binding(4) var<storage, read> w: array<vec2<u32>>; // (rows, 2 * ceil(K/8)): 4 halves each, this chunk (tiled_index by vec2)

alias Group = u32; // no scales

fn load_group(r: u32, g: u32) -> Group {
  return 0u;
}

// Vec2 j of chunk row r is at base + j * ROW_TILE (tiled_index).
fn load_block(r: u32, b: u32, grp: Group) -> Block {
  let nv = (p.K + 7u) / 8u * 2u;
  return vec3<u32>(tiled_index(r, 0u, nv), 8u * b, nv - 1u);
}

fn block_piece(i: Block, v: u32) -> XV {
  let h = w[i.x + min(i.y + v, i.z) * ROW_TILE];
  return vec4<f32>(unpack2x16float(h.x), unpack2x16float(h.y));
}

const X_SUMS: bool = false; // block_combine ignores xs (shaders/matmul.wgsl)

fn block_combine(i: Block, part: ACC, xs: ACC, xsc: f32) -> f32 {
  return part;
}
