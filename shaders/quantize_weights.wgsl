// quantize_weights: f32, f16 or bf16 weights to Q8_0 on the GPU, with ggml's quantize_row_q8_0 numerics
// (quantize_q8_block, shaders/q8_block.wgsl: the codes and scales src/gguf/convert.ts's quantizeQ8G32 makes), written
// in the q8 decoder's layout (shaders/weights/q8.wgsl, block_scales.wgsl or block_half_scales.wgsl): a chunk's blocks
// of 2 vec4 of codes and its scales, row-major or in tiles of ROW_TILE rows (tiled_index, shaders/tiled_index.wgsl, put
// in front), the scales f32 or f16 pairs (PAIRED). One invocation per row and pair of blocks (a pair's scales share a
// word). A load's int8-g32 of a BF16 checkpoint this way uploads 2 bytes a weight and quantizes nothing on the CPU.

override SRC: u32 = 2u; // the source's words: 0 one f32, 1 two f16, 2 two bf16 (element 2i in the low half)
override PAIRED: bool = false; // scales as f16 pairs (group 2j low, 2j + 1 high), else one f32 per block
override ROW_TILE: u32 = 1u; // rows per tile of the destination (1: row-major)
override WG: u32 = 64u;

struct QuantizeWeightsParams {
  rows: u32, // rows of the source, from the destination chunk's row `row0`
  K: u32, // row length (a multiple of 32)
  row0: u32,
  pairs_x: u32, // invocations along x of the dispatch (its grid is 2D past 65,535 workgroups)
}

@group(0) @binding(0) var<uniform> p: QuantizeWeightsParams;
@group(0) @binding(1) var<storage, read> src: array<vec4<u32>>; // (rows, K words of f32 or K/2 of bf16 pairs)
@group(0) @binding(2) var<storage, read_write> codes: array<vec4<u32>>; // the chunk's q8 codes, 2 vec4 a block
@group(0) @binding(3) var<storage, read_write> scales: array<u32>; // f32 bits, or f16 pairs

// Four f16 values (the low 16 bits of each lane) as f32, exactly, by bit operations: unpack2x16float may flush f16
// subnormals. Normals rebias their exponent (+112), subnormals are their integer times 2^-24, inf and NaN stay so.
fn f16_values(h: vec4<u32>) -> vec4<f32> {
  let mag = h & vec4<u32>(0x7FFFu);
  let normal = (mag << vec4<u32>(13u)) + vec4<u32>(0x38000000u);
  let special = (mag << vec4<u32>(13u)) | vec4<u32>(0x7F800000u);
  let sub = bitcast<vec4<u32>>(vec4<f32>(mag) * 5.9604644775390625e-8);
  let bits = select(select(normal, sub, mag < vec4<u32>(0x400u)), special, mag >= vec4<u32>(0x7C00u));
  return bitcast<vec4<f32>>(bits | ((h & vec4<u32>(0x8000u)) << vec4<u32>(16u)));
}

// Block b of source row r as 8 vec4 of f32, widened exactly: bf16's low half moved up and high half masked, f16's by
// f16_values.
fn source_block(r: u32, b: u32) -> array<vec4<f32>, 8> {
  var v: array<vec4<f32>, 8>;
  if (SRC != 0u) {
    let base = (r * p.K + 32u * b) / 8u; // 8 values a vec4 of words
    for (var i = 0u; i < 4u; i++) {
      let w = src[base + i];
      var lo = bitcast<vec4<f32>>(w * 65536u);
      var hi = bitcast<vec4<f32>>(w & vec4<u32>(0xFFFF0000u));
      if (SRC == 1u) {
        lo = f16_values(w);
        hi = f16_values(w >> vec4<u32>(16u));
      }
      v[2u * i] = vec4<f32>(lo.x, hi.x, lo.y, hi.y);
      v[2u * i + 1u] = vec4<f32>(lo.z, hi.z, lo.w, hi.w);
    }
  } else {
    let base = (r * p.K + 32u * b) / 4u;
    for (var i = 0u; i < 8u; i++) { v[i] = bitcast<vec4<f32>>(src[base + i]); }
  }
  return v;
}

// The f16 bits of d, an f32 that holds an f16 value (round_f16's result), by bit operations: pack2x16float may flush
// f16 subnormals. Normals move their exponent; subnormals are d * 2^24, an integer below 1024.
fn f16_bits(d: f32) -> u32 {
  let b = bitcast<u32>(d);
  let sign = (b >> 16u) & 0x8000u;
  let mag = b & 0x7FFFFFFFu;
  if (mag >= 0x7F800000u) { return sign | 0x7C00u; } // inf (a block past f16's range)
  if (mag < 0x38800000u) { return sign | u32(abs(d) * 16777216.0); }
  return sign | (((mag >> 23u) - 112u) << 10u) | ((mag >> 13u) & 0x3FFu);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let nb = p.K / 32u;
  let np = (nb + 1u) / 2u;
  let i = g.x + g.y * p.pairs_x;
  if (i >= p.rows * np) { return; }
  let r = i / np; // source row; the chunk's row r + row0
  let pair = i % np;
  let cr = r + p.row0;
  var half = vec2<u32>(0u);
  for (var h = 0u; h < 2u; h++) {
    let b = 2u * pair + h;
    if (b < nb) {
      let q = quantize_q8_block(source_block(r, b));
      let at = tiled_index(cr, b, nb);
      codes[2u * at] = q.q0;
      codes[2u * at + 1u] = q.q1;
      if (PAIRED) { half[h] = f16_bits(q.d); } else { scales[at] = bitcast<u32>(q.d); }
    }
  }
  if (PAIRED) { scales[tiled_index(cr, pair, np)] = half.x | (half.y << 16u); }
}
