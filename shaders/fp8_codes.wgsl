// FP8 codes <-> f32, as src/quant/fp8.ts: library functions, no bindings. Put in front of the FP8
// weight decoder (shaders/weights/fp8.wgsl, which declares the override E5M2) and the fp8-e4m3 K/V
// cache (shaders/kv/fp8_e4m3.wgsl, which declares E5M2 = false).

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

// f32 -> E4M3 code, as src/quant/fp8.ts encodes: round to nearest, ties to even, saturating at +-448
// (also +-inf), NaN to 0x7F. Integer operations on the f32 bits, so no float rounding can differ.
fn fp8e4m3_code(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  let sign = (b >> 24u) & 0x80u;
  let a = b & 0x7FFFFFFFu;
  if (a > 0x7F800000u) { return 0x7Fu; }
  if (a > 0x43E00000u) { return sign | 0x7Eu; } // beyond 448
  let exp = a >> 23u;
  let full = (a & 0x7FFFFFu) | select(0u, 0x800000u, exp != 0u); // a = full * 2^(exp - 150)
  var code: u32;
  var rem: u32;
  var half: u32;
  if (exp >= 121u) { // normal in E4M3 (2^-6 and up): keep 3 of the 23 fraction bits
    code = ((exp - 120u) << 3u) | ((full & 0x7FFFFFu) >> 20u);
    rem = full & 0xFFFFFu;
    half = 0x80000u;
  } else { // subnormal: units of 2^-9, full >> shift
    let shift = 141u - exp;
    if (shift > 24u) { return sign; }
    code = full >> shift;
    rem = full & ((1u << shift) - 1u);
    half = 1u << (shift - 1u);
  }
  if (rem > half || (rem == half && (code & 1u) == 1u)) { code += 1u; } // a carry into the exponent is right
  return sign | min(code, 0x7Eu);
}

fn fp8e4m3x4_pack(v: vec4<f32>) -> u32 {
  return fp8e4m3_code(v.x) | (fp8e4m3_code(v.y) << 8u) | (fp8e4m3_code(v.z) << 16u) | (fp8e4m3_code(v.w) << 24u);
}
