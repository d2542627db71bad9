// bf16 weights (f32 x): two per u32, element 2i in the low half, widened exactly (a bf16 is the top half of an
// f32), so the products and sums are those of the f32 weights they equal, in the same order (BLOCK and pieces as
// shaders/weights/f32.wgsl): half the bytes of f32, the same numerics. Rows are zero-padded to whole vec2<u32>
// (4 values) at upload.
const BLOCK: u32 = 16u;
// A block's pieces past the row's end read its last vec2 again, and x is zero there.
alias Block = vec3<u32>; // (the row's base, the block's first vec2, the row's last vec2): loaded a piece at a time

@group(0) @binding(4) var<storage, read> w: array<vec2<u32>>; // (rows, ceil(K/4) * 2 words): this chunk (tiled_index by vec2)

alias Group = u32; // no scales

fn load_group(r: u32, g: u32) -> Group {
  return 0u;
}

// Vec2 j of chunk row r is at base + j * ROW_TILE (tiled_index).
fn load_block(r: u32, b: u32, grp: Group) -> Block {
  let nv = (p.K + 3u) / 4u;
  return vec3<u32>(tiled_index(r, 0u, nv), 4u * b, nv - 1u);
}

// The low half moved up by a multiply, not a shift (SwiftShader's JIT shifts lane by lane), the high one masked.
fn block_piece(i: Block, v: u32) -> XV {
  let h = w[i.x + min(i.y + v, i.z) * ROW_TILE];
  let lo = bitcast<vec2<f32>>(h * 65536u);
  let hi = bitcast<vec2<f32>>(h & vec2<u32>(0xFFFF0000u));
  return vec4<f32>(lo.x, hi.x, lo.y, hi.y);
}

const X_SUMS: bool = false; // block_combine ignores xs (shaders/matmul.wgsl)

fn block_combine(i: Block, part: ACC, xs: ACC, xsc: f32) -> f32 {
  return part;
}
