// A library function, no bindings: shared by the f16 matmul (x rounded as llama.cpp does) and the
// Q8_0 block quantizer (its scale is stored as an f16 value).

// x rounded to the nearest f16 (ties to even, overflow to infinity), as f32. By bit operations:
// compilers may fold an f32 -> f16 -> f32 round trip away (Mesa's lavapipe drops f32(f16(v)) and
// half of unpack2x16float(pack2x16float(v))), and llama.cpp's numerics need the rounding.
fn round_f16(v: vec4<f32>) -> vec4<f32> {
  let b = bitcast<vec4<u32>>(v);
  let mag = b & vec4<u32>(0x7FFFFFFFu);
  // f16 normals keep 10 of f32's 23 mantissa bits; a carry into the exponent is the right result.
  var r = (b + vec4<u32>(0xFFFu) + ((b >> vec4<u32>(13u)) & vec4<u32>(1u))) & vec4<u32>(0xFFFFE000u);
  r = select(r, (b & vec4<u32>(0x80000000u)) | vec4<u32>(0x7F800000u), (r & vec4<u32>(0x7FFFFFFFu)) >= vec4<u32>(0x47800000u));
  // Below 2^-14 f16 is subnormal: a multiple of 2^-24 (scaling by powers of two is exact, round() is ties-to-even).
  r = select(r, bitcast<vec4<u32>>(round(v * 16777216.0) * (1.0 / 16777216.0)), mag < vec4<u32>(0x38800000u));
  return bitcast<vec4<f32>>(select(r, b, mag >= vec4<u32>(0x7F800000u))); // inf and NaN stay
}
