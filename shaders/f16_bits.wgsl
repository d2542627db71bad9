// Library functions, no bindings: f16 bits to f32 and back by bit operations, exactly, for the load-time converters
// (quantize_weights, quantize_ggml): pack2x16float and unpack2x16float may flush subnormals (SwiftShader does).

// Four f16 values (the low 16 bits of each lane) as f32 bits, exactly: normals rebias their exponent (+112),
// subnormals are their integer times 2^-24 (an f32 normal), inf and NaN stay so.
fn f16_bits_to_f32(h: vec4<u32>) -> vec4<u32> {
  let mag = h & vec4<u32>(0x7FFFu);
  let normal = (mag << vec4<u32>(13u)) + vec4<u32>(0x38000000u);
  let special = (mag << vec4<u32>(13u)) | vec4<u32>(0x7F800000u);
  let sub = bitcast<vec4<u32>>(vec4<f32>(mag) * 5.9604644775390625e-8);
  let bits = select(select(normal, sub, mag < vec4<u32>(0x400u)), special, mag >= vec4<u32>(0x7C00u));
  return bits | ((h & vec4<u32>(0x8000u)) << vec4<u32>(16u));
}

// f32 bits rounded to the nearest f16 (ties to even), as f32ToF16Bits: overflow to inf, NaN kept a quiet NaN.
fn to_f16(b: u32) -> u32 {
  let sign = (b >> 16u) & 0x8000u;
  let exp = (b >> 23u) & 0xFFu;
  let mant = b & 0x7FFFFFu;
  if (exp == 0xFFu) { return sign | 0x7C00u | select(0u, 0x200u | (mant >> 13u), mant != 0u); }
  if (exp >= 143u) { return sign | 0x7C00u; } // f16 exponent 31 and up
  var r: u32;
  var rem: u32;
  var half: u32;
  if (exp <= 112u) { // an f16 subnormal or zero: (1.mant) * 2^(exp - 127) in units of 2^-24 is m >> (126 - exp)
    if (exp < 102u) { return sign; } // below 2^-25, which itself rounds (to even) to 0
    let m = mant | 0x800000u;
    let shift = 126u - exp; // 14..24
    r = m >> shift;
    rem = m & ((1u << shift) - 1u);
    half = 1u << (shift - 1u);
  } else {
    r = ((exp - 112u) << 10u) | (mant >> 13u);
    rem = mant & 0x1FFFu;
    half = 0x1000u;
  }
  if (rem > half || (rem == half && (r & 1u) == 1u)) { r++; } // a carry into the exponent is right, up to inf
  return sign | r;
}
