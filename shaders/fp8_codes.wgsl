// FP8 codes <-> f32, as src/quant/fp8.ts: library functions, no bindings. Put in front of the FP8
// weight decoder (shaders/weights/fp8.wgsl, which declares the override E5M2) and the fp8-e4m3 K/V
// cache (shaders/kv/fp8_e4m3.wgsl, which declares E5M2 = false).

// The four FP8 codes of a word as f32, exactly (src/quant/fp8.ts):
//   E4M3: S.EEEE.MMM, bias 7, no infinities, NaN = S.1111.111.
//   E5M2: S.EEEEE.MM, bias 15, S.11111.00 = +-inf, S.11111.xx (xx != 0) = NaN.
// Both are moved into f16 fields by a few integer operations on the whole word, two codes per u32
// (codes 0 and 2, then 1 and 3), and widened by unpack2x16float, exact for every f16 (an f16 subnormal
// is a normal f32):
//   E5M2 is the top byte of an f16: the value itself, subnormals, infinities and NaN included.
//   E4M3's magnitude moved down into f16's 0.EEEE.MMM0000000 is the value times 2^-8 (bias 15 against 7;
//   E4M3 subnormals land on f16 subnormals with the same factor). With nan_codes, magnitude 0x7F (NaN)
//   also sets the exponent's top bit (mag + 1 carries into bit 7 only there): S.11111.1110000000, a NaN;
//   without, it would decode as 480 (a matrix with no NaN code skips the check: shaders/weights/fp8.wgsl).
// fp8x4_units gives the codes in units of fp8_unit() (2^8 for E4M3, 1 for E5M2): a matmul folds the
// unit into its scale once per group (an exact power-of-two product), fp8x4 multiplies it back.
fn fp8_unit() -> f32 {
  return select(256.0, 1.0, E5M2);
}

fn fp8x4_units(word: u32, nan_codes: bool) -> vec4<f32> {
  var lo: u32; // codes 0 and 2 as f16 (low and high half)
  var hi: u32; // codes 1 and 3
  if (E5M2) {
    lo = (word << 8u) & 0xFF00FF00u;
    hi = word & 0xFF00FF00u;
  } else {
    var m0 = word & 0x007F007Fu;
    var m1 = (word >> 8u) & 0x007F007Fu;
    if (nan_codes) {
      m0 |= (m0 + 0x00010001u) & 0x00800080u; // bit 7 of a half set only for magnitude 0x7F
      m1 |= (m1 + 0x00010001u) & 0x00800080u;
    }
    lo = (m0 << 7u) | ((word & 0x00800080u) << 8u);
    hi = (m1 << 7u) | (word & 0x80008000u);
  }
  let a = unpack2x16float(lo);
  let b = unpack2x16float(hi);
  return vec4<f32>(a.x, b.x, a.y, b.y);
}

// E4M3 codes as f32 bits, for CPU adapters (FP8_BITS in shaders/weights/fp8.wgsl): each code is moved to the top
// byte (its sign in bit 31), and an arithmetic shift by 4 puts its E.MMM at f32's exponent (E in its low 4 bits) and
// fraction (M in its top 3), the sign copied into the bits between, which the mask clears with everything below. That
// f32 is the code's value times 2^-120, exactly: E = 0 lands on f32 subnormals (2^-126 * M/8), so this is for devices
// that keep f32 subnormals (lavapipe does; a GPU may flush them). No NaN check: magnitude 0x7F decodes as 480 * 2^-120.
// Three operations a code where fp8x4_units takes about five (the f16 fields, then unpack2x16float's conversions).
fn fp8x4_bits(word: u32) -> vec4<f32> {
  let top = bitcast<vec4<i32>>(vec4<u32>(word) << vec4<u32>(24u, 16u, 8u, 0u));
  return bitcast<vec4<f32>>((top >> vec4<u32>(4u)) & vec4<i32>(bitcast<i32>(0x87F00000u)));
}

fn fp8x4(word: u32) -> vec4<f32> {
  return fp8x4_units(word, true) * fp8_unit();
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
