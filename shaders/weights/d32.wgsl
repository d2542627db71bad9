// Scale loading of the formats with one f16 d per 32-block, two blocks a scale word (Q5_0, IQ4_NL).
// Block: shaders/weights/planes.wgsl, its .s = (d, unused).

alias Group = f32;

fn load_group(r: u32, g: u32) -> Group {
  return block_d(r, g);
}

fn load_block(r: u32, b: u32, grp: Group) -> Block {
  return load_codes(r, b, vec2<f32>(grp, 0.0));
}
