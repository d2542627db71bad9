// The scales of q8 and q4 (shaders/weights/q8.wgsl, q4.wgsl): one f32 per group of `group` weights of a row. The
// decoder after it defines block_at(r, b, d), its block b of chunk row r with scale d.

@group(0) @binding(5) var<storage, read> wd: array<f32>; // (rows, groups): weight scales, this chunk (tiled_index by group)

alias Group = f32; // the scale

fn load_group(r: u32, g: u32) -> Group {
  return wd[tiled_index(r, g, p.groups)];
}

fn load_block(r: u32, b: u32, d: Group) -> Block {
  return block_at(r, b, d);
}
