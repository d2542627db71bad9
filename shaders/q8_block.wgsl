// Q8_0 quantization of one block of 32 activations, with ggml's quantize_row_q8_0 numerics:
//   amax = max |x|, d = amax / 127, id = d != 0 ? 1 / d : 0, q = roundf(x * id) (halves away from 0),
// and the stored scale is d rounded to f16 (the codes used the unrounded d, as in ggml).
// A library of functions, no bindings: put in front of the kernels that quantize activations
// (matmul_quantize_x, and RMSNorm / SwiGLU when their output feeds a q8 or q4 matmul). Needs
// shaders/round_f16.wgsl in front of it (src/kernels/wgsl_lib.ts puts both).

// roundf: WGSL's round() sends halves to even; ggml's reference rounds them away from zero.
fn round_away(v: vec4<f32>) -> vec4<i32> {
  let a = abs(v);
  let f = floor(a);
  let r = select(round(a), f + 1.0, a - f == vec4<f32>(0.5));
  return vec4<i32>(sign(v) * r);
}

// a / b correctly rounded (ties to even) for positive normal a, b with a normal quotient. WGSL lets
// f32 division be off by 2.5 ULP, and a one-ULP change in d or id moves x*id across a rounding tie
// often enough to change llama.cpp's integer codes; so divide the 24-bit significands exactly.
fn div_exact(a: f32, b: f32) -> f32 {
  let ba = bitcast<u32>(a);
  let bb = bitcast<u32>(b);
  let ea = i32((ba >> 23u) & 0xFFu);
  let eb = i32((bb >> 23u) & 0xFFu);
  if (ea == 0 || eb == 0 || ea == 255 || eb == 255) { return a / b; } // zero, subnormal, inf, NaN
  var ma = (ba & 0x7FFFFFu) | 0x800000u;
  let mb = (bb & 0x7FFFFFu) | 0x800000u;
  var e = ea - eb + 127;
  if (ma < mb) { ma = ma << 1u; e = e - 1; } // now 1 <= ma/mb < 2
  // The significand Q = floor(ma * 2^23 / mb) and remainder R = ma * 2^23 - Q * mb: the hardware quotient (within
  // a few ULP) corrected exactly. Any such candidate leaves |R| < 2^31, so the low 32 bits of both products, wrapping
  // u32 arithmetic, give R: a few integer operations where bit-by-bit long division took 25 steps (this runs twice
  // per Q8_0 block, and in every workgroup of a GEMV that quantizes x in its prologue).
  var q = u32(f32(ma) / f32(mb) * 8388608.0);
  var r = bitcast<i32>((ma << 23u) - q * mb);
  for (var i = 0u; i < 4u; i++) {
    if (r < 0) {
      q = q - 1u;
      r = r + i32(mb);
    } else if (r >= i32(mb)) {
      q = q + 1u;
      r = r - i32(mb);
    }
  }
  // Round to nearest, ties to even: 2R against mb.
  let twice = 2u * u32(r);
  if (twice > mb || (twice == mb && (q & 1u) == 1u)) { q = q + 1u; }
  if (q == 0x1000000u) { q = q >> 1u; e = e + 1; }
  if (e <= 0 || e >= 255) { return a / b; }
  return bitcast<f32>((u32(e) << 23u) | (q & 0x7FFFFFu));
}

fn pack_i8(q: vec4<i32>) -> u32 {
  let b = vec4<u32>(q) & vec4<u32>(0xFFu);
  return b.x | (b.y << 8u) | (b.z << 16u) | (b.w << 24u);
}

struct Q8Block {
  q0: vec4<u32>, // codes of elements 0..15, 4 per u32, element 4i in the low byte
  q1: vec4<u32>, // codes of elements 16..31
  d: f32, // the scale, rounded to f16
}

// The block's steps, for kernels that spread a block over lanes (a word each; amax gathered by them): its scale d =
// amax / 127 and the inverse id the codes use (0 for a block of zeros), a word of 4 codes, and the scale as stored.
fn q8_scale(amax: f32) -> vec2<f32> {
  let d = div_exact(amax, 127.0);
  return vec2<f32>(d, select(0.0, div_exact(1.0, d), d != 0.0));
}

fn q8_word(v: vec4<f32>, id: f32) -> u32 {
  return pack_i8(round_away(v * id));
}

fn q8_stored_scale(d: f32) -> f32 {
  return round_f16(vec4<f32>(d)).x;
}

fn quantize_q8_block(v: array<vec4<f32>, 8>) -> Q8Block {
  var amax = vec4<f32>(0.0);
  for (var j = 0u; j < 8u; j++) { amax = max(amax, abs(v[j])); }
  let s = q8_scale(max(max(amax.x, amax.y), max(amax.z, amax.w)));
  var out: Q8Block;
  out.q0 = vec4<u32>(q8_word(v[0], s.y), q8_word(v[1], s.y), q8_word(v[2], s.y), q8_word(v[3], s.y));
  out.q1 = vec4<u32>(q8_word(v[4], s.y), q8_word(v[5], s.y), q8_word(v[6], s.y), q8_word(v[7], s.y));
  out.d = q8_stored_scale(s.x);
  return out;
}
