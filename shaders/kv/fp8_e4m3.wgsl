// K/V cache format fp8-e4m3: 4 OCP E4M3 codes per word (shaders/fp8_codes.wgsl), one f32 scale per
// head and position after the codes. src/quant/fp8.ts's rule: scale = amax / 448, code = encode(x / scale),
// the division exact (div_exact, shaders/q8_block.wgsl) so the codes are the CPU's.
alias KvWord = u32;
const KV_QMAX: f32 = 448.0;
const E5M2: bool = false;

fn kv_div(x: f32, scale: f32) -> f32 { // x / scale, correctly rounded, keeping the sign (also of -0)
  if (scale == 0.0) { return 0.0; } // an all-zero head: codes 0, as the CPU's
  let q = div_exact(abs(x), scale);
  return bitcast<f32>(bitcast<u32>(q) | (bitcast<u32>(x) & 0x80000000u));
}

fn kv_encode(x: vec4<f32>, scale: f32) -> KvWord {
  return fp8e4m3x4_pack(vec4<f32>(kv_div(x.x, scale), kv_div(x.y, scale), kv_div(x.z, scale), kv_div(x.w, scale)));
}

fn kv_decode(w: KvWord) -> vec4<f32> {
  return fp8x4(w);
}

fn kv_decode_flat(w: KvWord) -> vec4<f32> {
  return kv_decode(w);
}

fn kv_scale(i: u32) -> f32 {
  return bitcast<f32>(kv[i]);
}

fn kv_set_scale(i: u32, s: f32) {
  kv[i] = bitcast<u32>(s);
}
