// The 16 values of IQ4_NL / IQ4_XS codes (ggml's kvalues_iq4nl).
const IQ4_VALUES = array<f32, 16>(-127.0, -104.0, -83.0, -65.0, -49.0, -35.0, -22.0, -10.0, 1.0, 13.0, 25.0, 38.0, 53.0, 69.0, 89.0, 113.0);

fn iq4_values4(c: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(IQ4_VALUES[c.x], IQ4_VALUES[c.y], IQ4_VALUES[c.z], IQ4_VALUES[c.w]);
}
