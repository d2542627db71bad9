// FP8 weights (f32 x): OCP E4M3, or E5M2 when the override E5M2 is set, with one f32 scale s per
// group of `group` weights along a row (a multiple of 16 or the whole row, so a block never straddles
// two scales). Codes 4 per u32, element 4i in the low byte; rows zero-padded to whole blocks of 16.
override E5M2: bool = false; // the code format: false E4M3, true E5M2
const BLOCK: u32 = 16u;
struct Block {
  q: vec4<u32>, // the block's 16 codes
  s: f32,
}

@group(0) @binding(4) var<storage, read> w: array<vec4<u32>>; // (rows, ceil(K/16)): FP8 codes, this chunk
@group(0) @binding(5) var<storage, read> wd: array<f32>; // (rows, groups): weight scales, this chunk

// The four FP8 codes of a word as f32, exactly (src/quant/fp8.ts):
//   E4M3: S.EEEE.MMM, bias 7, no infinities, NaN = S.1111.111.
//   E5M2: S.EEEEE.MM, bias 15, S.11111.00 = +-inf, S.11111.xx (xx != 0) = NaN.
// Normals: the exponent and mantissa bits moved into f32's fields, plus the bias difference.
// Subnormals (exponent field 0): mantissa * 2^(1 - bias - mbits), an exact f32 product of normals
// (an f32 subnormal could be flushed to zero). Every step is an integer operation or a select, so the
// compiler has no float round trip to fold away.
fn fp8x4(word: u32) -> vec4<f32> {
  let c = (vec4<u32>(word) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xFFu);
  let mag = c & vec4<u32>(0x7Fu);
  var bits: vec4<u32>;
  if (E5M2) {
    let normal = (mag << vec4<u32>(21u)) + vec4<u32>(112u << 23u); // bias 15 -> 127
    let sub = bitcast<vec4<u32>>(vec4<f32>(mag) * (1.0 / 65536.0)); // m * 2^-16
    bits = select(normal, sub, mag < vec4<u32>(4u));
    let special = select(vec4<u32>(0x7FC00000u), vec4<u32>(0x7F800000u), mag == vec4<u32>(0x7Cu));
    bits = select(bits, special, mag >= vec4<u32>(0x7Cu));
  } else {
    let normal = (mag << vec4<u32>(20u)) + vec4<u32>(120u << 23u); // bias 7 -> 127
    let sub = bitcast<vec4<u32>>(vec4<f32>(mag) * (1.0 / 512.0)); // m * 2^-9
    bits = select(normal, sub, mag < vec4<u32>(8u));
    bits = select(bits, vec4<u32>(0x7FC00000u), mag == vec4<u32>(0x7Fu));
  }
  return bitcast<vec4<f32>>(bits | ((c & vec4<u32>(0x80u)) << vec4<u32>(24u)));
}

alias Group = f32; // the scale

fn load_group(r: u32, g: u32) -> Group {
  return wd[r * p.groups + g];
}

fn load_block(r: u32, b: u32, d: Group) -> Block {
  return Block(w[r * blocks_per_row() + b], d);
}

fn block_piece(blk: Block, v: u32) -> XV {
  return fp8x4(blk.q[v]);
}

fn block_combine(blk: Block, part: ACC, xs: ACC, xsc: f32) -> f32 {
  return part * blk.s;
}
