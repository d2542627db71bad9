// A library function, no bindings: where the weights' items sit in their buffers, for the matmul and gather
// (matmul_common.wgsl's includers) and the weight quantizer (quantize_weights.wgsl). The includer declares
// `override ROW_TILE: u32` (rows per tile; 1 = row-major).

// Where item j of chunk row r sits, for items (blocks, scale groups, vec4s, words) of `per` a row: row-major (ROW_TILE 1),
// or in tiles of ROW_TILE rows, item j of a tile's rows together ((tiles, per, ROW_TILE)). Tiles are a power of two
// rows (ROW_TILES in src/kernels/matmul_weights.ts), so r's place in its tile is a mask, not a division and a
// remainder: SwiftShader divides lane by lane, and a block's 4 rows took 8 of them.
fn tiled_index(r: u32, j: u32, per: u32) -> u32 {
  if (ROW_TILE == 1u) { return r * per + j; } // row-major: nothing more (see k_blocks32)
  let within = r & (ROW_TILE - 1u);
  return (r - within) * per + j * ROW_TILE + within;
}
