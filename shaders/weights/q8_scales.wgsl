// q8's scales (shaders/weights/q8.wgsl): one f32 per group of `group` weights of a row.

@group(0) @binding(5) var<storage, read> wd: array<f32>; // (rows, groups): weight scales, this chunk (tiled_index by group)

alias Group = f32; // the scale

fn load_group(r: u32, g: u32) -> Group {
  return wd[tiled_index(r, g, p.groups)];
}

fn load_block(r: u32, b: u32, d: Group) -> Block {
  return Block(tiled_index(r, b, p.K / 32u) * 2u, d);
}
