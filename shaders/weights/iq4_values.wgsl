// The 16 values of IQ4_NL / IQ4_XS codes (ggml's kvalues_iq4nl).
const IQ4_VALUES = array<f32, 16>(-127.0, -104.0, -83.0, -65.0, -49.0, -35.0, -22.0, -10.0, 1.0, 13.0, 25.0, 38.0, 53.0, 69.0, 89.0, 113.0);
// The same values as signed bytes, value i in byte i % 4 of word i / 4, for IQ4_SELECTS (MatmulTuning.iq4Selects): a code's
// value picked by selects and a shift, not read from an array. An array indexed by a lane's code is a gather, which
// lavapipe issues lane by lane (its IQ4_NL GEMV took 2.4x Q4_1's time); SwiftShader runs the shift by a lane's amount
// lane by lane instead, and took 1.0-1.4x the time of the array with it.
override IQ4_SELECTS: bool = false;
const IQ4_WORDS = array<u32, 4>(0xBFAD9881u, 0xF6EADDCFu, 0x26190D01u, 0x71594535u);

fn iq4_values4(c: vec4<u32>) -> vec4<f32> {
  if (!IQ4_SELECTS) { return vec4<f32>(IQ4_VALUES[c.x], IQ4_VALUES[c.y], IQ4_VALUES[c.z], IQ4_VALUES[c.w]); }
  let hi4 = (c & vec4<u32>(4u)) != vec4<u32>(0u);
  let low = select(vec4<u32>(IQ4_WORDS[0]), vec4<u32>(IQ4_WORDS[1]), hi4);
  let high = select(vec4<u32>(IQ4_WORDS[2]), vec4<u32>(IQ4_WORDS[3]), hi4);
  let w = select(low, high, (c & vec4<u32>(8u)) != vec4<u32>(0u));
  // Byte c % 4 to the top, then down with its sign.
  return vec4<f32>(bitcast<vec4<i32>>(w << ((vec4<u32>(3u) - (c & vec4<u32>(3u))) * 8u)) >> vec4<u32>(24u));
}
