// K/V cache format int8: 4 codes per word (element 4i in the low byte), and one f32 scale per head and
// position stored in words after the codes. src/quant/int8.ts's rule: d = amax / 127,
// q = roundf(x * (1 / d)), with div_exact and round_away (shaders/q8_block.wgsl) so the codes are the CPU's.
alias KvWord = u32;
const KV_QMAX: f32 = 127.0;

fn kv_encode(x: vec4<f32>, scale: f32) -> KvWord {
  let inv = select(0.0, div_exact(1.0, scale), scale != 0.0);
  return pack_i8(round_away(x * inv));
}

fn kv_decode(w: KvWord) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(w) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u));
}

fn kv_scale(i: u32) -> f32 {
  return bitcast<f32>(kv[i]);
}

fn kv_set_scale(i: u32, s: f32) {
  kv[i] = bitcast<u32>(s);
}
