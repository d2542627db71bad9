// K/V cache format f32 (src/kernels/kv_layout.ts): a word of the cache is 4 elements; no scales.
// Every format file defines KvWord, KV_QMAX (0: unscaled), kv_encode, kv_decode, kv_decode_flat (kv_decode's values as
// SwiftShader's flat attention reads them: int8's without shifts, which its JIT runs lane by lane), kv_scale,
// kv_set_scale.
alias KvWord = vec4<u32>;
const KV_QMAX: f32 = 0.0;

fn kv_encode(x: vec4<f32>, scale: f32) -> KvWord {
  return bitcast<vec4<u32>>(x);
}

fn kv_decode(w: KvWord) -> vec4<f32> {
  return bitcast<vec4<f32>>(w);
}

fn kv_decode_flat(w: KvWord) -> vec4<f32> {
  return kv_decode(w);
}

fn kv_scale(i: u32) -> f32 {
  return 1.0;
}

fn kv_set_scale(i: u32, s: f32) {}
