// f32 weights (f32 x): the values themselves, a vec4 a piece (shaders/weights/float_pieces.wgsl in front).
const BLOCK: u32 = 16u;

@group(0) @binding(4) var<storage, read> w: array<vec4<f32>>; // (rows, ceil(K/4)): this chunk (tiled_index by vec4)

fn block_piece(i: Block, v: u32) -> XV {
  return w[i.x + min(i.y + v, i.z) * ROW_TILE];
}
