// Q3_K: super-blocks of 256 = 16 blocks of 16; w = (d * (sc_j - 32)) * (q - 4), q 3 bits (ggml's low 2 bits
// and its "high bit set: no -4" bit), sc_j 6 bits (unpacked at upload into bytes), d f16. Row: a 2-bit
// plane (K/64 vec4s) and the third bits (ceil(K/128) vec4s), interleaved (planes.wgsl). Scales: per super-
// block 5 words: d (low half), 16 scale bytes.
const BLOCK: u32 = 16u;
// Block: shaders/weights/planes.wgsl; here .s = (d * (sc - 32), unused).

alias Group = SuperScales;

fn load_group(r: u32, g: u32) -> Group {
  return load_super(r, g, 5u);
}

fn load_block(r: u32, b: u32, grp: Group) -> Block {
  return load_codes(r, b, vec2<f32>(grp.d.x * (super_byte(grp, b & 15u) - 32.0), 0.0));
}

fn block_piece(blk: Block, v: u32) -> XV {
  return piece_f32(blk, v);
}

const X_SUMS: bool = true; // block_combine uses xs (shaders/matmul.wgsl)

fn block_combine(blk: Block, part: ACC, xs: ACC, xsc: f32) -> f32 {
  return blk.s.x * (part - 4.0 * xs);
}
