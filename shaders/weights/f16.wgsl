// f16 weights (f32 x rounded to f16, as llama.cpp: each product of two f16 values is exact in f32):
// two halves per u32, element 2i in the low half, widened exactly with unpack2x16float. Rows are
// zero-padded to whole vec4<u32> (8 halves) at upload.
const BLOCK: u32 = 32u;
// Rows are padded only to whole vec4<u32> (8 halves); a block's pieces past the row's end read its last
// vec2 again, and x is zero there.
alias Block = vec2<u32>; // (the block's first vec2, the row's last vec2): loaded a piece at a time

@group(0) @binding(4) var<storage, read> w: array<vec2<u32>>; // (rows, 2 * ceil(K/8)): 4 halves each, this chunk

alias Group = u32; // no scales

fn load_group(r: u32, g: u32) -> Group {
  return 0u;
}

fn load_block(r: u32, b: u32, grp: Group) -> Block {
  let nv = (p.K + 7u) / 8u * 2u;
  return vec2<u32>(r * nv + 8u * b, r * nv + nv - 1u);
}

fn block_piece(i: Block, v: u32) -> XV {
  let h = w[min(i.x + v, i.y)];
  return vec4<f32>(unpack2x16float(h.x), unpack2x16float(h.y));
}

fn block_combine(i: Block, part: ACC, xs: ACC, xsc: f32) -> f32 {
  return part;
}
