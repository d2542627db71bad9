// A library function, no bindings: the load-time converters' f16 sources (quantize_weights, quantize_ggml) decoded
// exactly, where unpack2x16float may flush subnormals (SwiftShader does).

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
