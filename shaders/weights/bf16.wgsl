// bf16 weights (f32 x): two per u32, element 2i in the low half, a vec2 of words a piece (shaders/weights/
// float_pieces.wgsl in front), widened exactly (a bf16 is the top half of an f32): the products and sums of the f32
// weights they equal, in the same blocks and pieces as shaders/weights/f32.wgsl, from half the bytes.
const BLOCK: u32 = 16u;

@group(0) @binding(4) var<storage, read> w: array<vec2<u32>>; // (rows, ceil(K/4) * 2 words): this chunk (tiled_index by vec2)

// The low half moved up by a multiply, not a shift (SwiftShader's JIT shifts lane by lane), the high one masked.
fn block_piece(i: Block, v: u32) -> XV {
  let h = w[i.x + min(i.y + v, i.z) * ROW_TILE];
  let lo = bitcast<vec2<f32>>(h * 65536u);
  let hi = bitcast<vec2<f32>>(h & vec2<u32>(0xFFFF0000u));
  return vec4<f32>(lo.x, hi.x, lo.y, hi.y);
}
